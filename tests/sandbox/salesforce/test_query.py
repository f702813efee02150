"""SOQL through simple-salesforce over HTTP: shapes, semantics, errors and paging."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import services
from sandbox.salesforce.models import Opportunity, QueryCursor
from tests.sandbox.salesforce.conftest import (
    error_body,
    make_opportunity,
    make_org,
    make_product,
    sf_client,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data(org):
    acme = services.account_create(
        org=org, name="Acme Corporation", billing_country="United States", region="North America"
    )
    globex = services.account_create(
        org=org, name="Globex Ltd", billing_country="United Kingdom", currency_iso_code="GBP"
    )
    ann = services.contact_create(org=org, account=acme, first_name="Ann", last_name="Lee")
    widget = make_product(org, "WIDGET-S", "19.99")
    install = make_product(org, "SVC-INSTALL", "500.00")
    won = make_opportunity(
        org, acme, "Acme won", payment_method="Credit Card", close_date=dt.date(2024, 1, 15)
    )
    services.line_item_add(opportunity=won, product=widget, quantity=Decimal(3))
    services.line_item_add(
        opportunity=won, product=install, quantity=Decimal(1), discount=Decimal("12.5")
    )
    services.contact_role_add(opportunity=won, contact=ann, role="Economic Buyer", is_primary=True)
    lost = make_opportunity(org, globex, "Globex lost", stage="Closed Lost", currency="GBP")
    open_ = make_opportunity(
        org,
        acme,
        "Acme open",
        stage="Prospecting",
        amount=Decimal("1000.10"),
        close_date=dt.date(2024, 6, 1),
    )
    orphan = make_opportunity(org, None, "No account", stage="Closed Won", amount=None)
    return {"won": won, "lost": lost, "open": open_, "orphan": orphan, "acme": acme}


def _names(result) -> list[str]:
    return [r["Name"] for r in result["records"]]


def test_relationship_fields_and_child_subqueries_are_nested(sf, data):
    result = sf.query(
        "SELECT Id, Name, Amount, CurrencyIsoCode, Account.Name, Account.BillingCountry, "
        "(SELECT Quantity, UnitPrice, TotalPrice, Discount, Product2.ProductCode, "
        "PricebookEntry.Product2.Name FROM OpportunityLineItems ORDER BY SortOrder), "
        "(SELECT ContactId, Role FROM OpportunityContactRoles WHERE IsPrimary = true) "
        "FROM Opportunity WHERE Name = 'acme WON'"
    )
    assert result["totalSize"] == 1
    assert result["done"] is True
    record = result["records"][0]
    assert list(record) == [
        "attributes",
        "Id",
        "Name",
        "Amount",
        "CurrencyIsoCode",
        "Account",
        "OpportunityLineItems",
        "OpportunityContactRoles",
    ]
    assert record["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v62.0/sobjects/Opportunity/{data['won'].sf_id}",
    }
    assert record["Account"]["Name"] == "Acme Corporation"
    assert record["Account"]["BillingCountry"] == "United States"
    assert record["Account"]["attributes"]["type"] == "Account"
    items = record["OpportunityLineItems"]
    assert items["totalSize"] == 2
    assert items["done"] is True
    first, second = items["records"]
    assert first["Product2"]["ProductCode"] == "WIDGET-S"
    assert first["PricebookEntry"]["Product2"]["Name"] == "Product WIDGET-S"
    assert first["TotalPrice"] == Decimal("59.97")
    assert isinstance(first["UnitPrice"], Decimal)
    assert second["Discount"] == Decimal("12.50")
    assert second["TotalPrice"] == Decimal("437.50")
    assert record["Amount"] == Decimal("497.47")
    assert record["OpportunityContactRoles"]["records"][0]["Role"] == "Economic Buyer"


def test_null_parent_and_empty_children(sf, data):
    record = sf.query(
        "SELECT Name, Account.Name, (SELECT Id FROM OpportunityLineItems) FROM Opportunity "
        "WHERE Account.Name = null"
    )["records"][0]
    assert record["Name"] == "No account"
    assert record["Account"] is None
    assert record["OpportunityLineItems"] is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("IsWon = true", ["Acme won", "No account"]),
        ("IsClosed = false", ["Acme open"]),
        ("StageName IN ('Closed Lost', 'prospecting')", ["Acme open", "Globex lost"]),
        ("StageName NOT IN ('Closed Won')", ["Acme open", "Globex lost"]),
        ("Name LIKE 'acme%'", ["Acme open", "Acme won"]),
        ("Name LIKE '%a_count'", ["No account"]),
        ("Amount > 497.47", ["Acme open"]),
        ("Amount >= 497.47", ["Acme open", "Acme won"]),
        ("Amount = null", ["Globex lost", "No account"]),
        ("Amount != null", ["Acme open", "Acme won"]),
        ("Payment_Method__c != 'Credit Card'", ["Acme open", "Globex lost", "No account"]),
        ("CloseDate < 2024-02-01", ["Acme won"]),
        ("CloseDate >= 2024-03-01 AND CloseDate <= 2024-03-01", ["Globex lost", "No account"]),
        (
            "(IsWon = true OR StageName = 'Prospecting') AND Account.Name != null",
            ["Acme open", "Acme won"],
        ),
        ("NOT Account.BillingCountry = 'United States'", ["Globex lost", "No account"]),
        ("CurrencyIsoCode = 'GBP'", ["Globex lost"]),
        (
            "SystemModstamp > 2020-01-01T00:00:00Z",
            ["Acme open", "Acme won", "Globex lost", "No account"],
        ),
        ("SystemModstamp < 2020-01-01T00:00:00.000+0000", []),
        ("CreatedDate = TODAY", ["Acme open", "Acme won", "Globex lost", "No account"]),
        ("CreatedDate < LAST_N_DAYS:3", []),
    ],
)
def test_where_semantics(sf, data, where, expected):
    result = sf.query(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY Name")  # noqa: S608
    assert _names(result) == expected


def test_id_filters_accept_15_and_18_characters(sf, data):
    won = data["won"].sf_id
    result = sf.query(f"SELECT Id FROM Opportunity WHERE Id IN ('{won[:15]}', '{won}')")  # noqa: S608
    assert [r["Id"] for r in result["records"]] == [won]
    acme = data["acme"].sf_id
    result = sf.query(f"SELECT Name FROM Opportunity WHERE AccountId = '{acme}' ORDER BY Name")  # noqa: S608
    assert _names(result) == ["Acme open", "Acme won"]


def test_order_by_nulls_limit_offset_and_count(sf, data):
    query = "SELECT Name, Amount FROM Opportunity ORDER BY Amount DESC NULLS LAST, Name"
    assert _names(sf.query(query)) == ["Acme open", "Acme won", "Globex lost", "No account"]
    query = "SELECT Name FROM Opportunity ORDER BY Amount ASC, Name DESC"
    assert _names(sf.query(query)) == ["No account", "Globex lost", "Acme won", "Acme open"]
    query = "SELECT Name FROM Opportunity ORDER BY Account.Name NULLS LAST, Name LIMIT 2 OFFSET 1"
    assert _names(sf.query(query)) == ["Acme won", "Globex lost"]
    count = sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")
    assert count == {"totalSize": 2, "done": True, "records": []}


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY"),
        ("SELECT Id Opportunity", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Opportunity WHERE IsWon = true AND IsClosed = true OR Amount = 1",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Opportunity GROUP BY StageName", "MALFORMED_QUERY"),
        ("SELECT COUNT(Id) FROM Opportunity GROUP BY Name HAVING COUNT(Id) > 1", "MALFORMED_QUERY"),
        ("SELECT FORMAT(Amount) FROM Opportunity", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Opportunity WHERE AccountId IN (SELECT Id FROM Account)",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Opportunity WITH SECURITY_ENFORCED", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Name = :bind", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity FOR UPDATE", "MALFORMED_QUERY"),
        (
            "SELECT Id, (SELECT Id, (SELECT Id FROM X) FROM OpportunityLineItems) FROM Opportunity",
            "MALFORMED_QUERY",
        ),
        ("SELECT Nope__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Account.Nope FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Nope.Name FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE SystemModstamp > 2024-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Description = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Opportunity WHERE IsWon > true", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Opportunity OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id FROM Opportunities", "INVALID_TYPE"),
        ("SELECT Id, (SELECT Id FROM Nope) FROM Opportunity", "INVALID_TYPE"),
    ],
)
def test_refused_queries(sf, data, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    assert info.value.status == 400
    [error] = error_body(info.value)
    assert error["errorCode"] == code
    assert error["message"]


def test_currency_iso_code_does_not_exist_in_single_currency_org(sandbox_url):
    org = make_org("Single", multi_currency=False)
    sf = sf_client(sandbox_url, org)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id, CurrencyIsoCode FROM Opportunity")
    [error] = error_body(info.value)
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'CurrencyIsoCode' on entity 'Opportunity'" in error["message"]


def test_query_all_includes_deleted_rows(sf, data):
    services.opportunity_delete(opportunity=data["lost"])
    query = "SELECT Name, IsDeleted FROM Opportunity ORDER BY Name"
    assert "Globex lost" not in _names(sf.query(query))
    everything = sf.query_all(query, include_deleted=True)
    assert {r["Name"]: r["IsDeleted"] for r in everything["records"]}["Globex lost"] is True
    deleted = sf.query_all(
        "SELECT Id FROM Opportunity WHERE IsDeleted = true", include_deleted=True
    )
    assert [r["Id"] for r in deleted["records"]] == [data["lost"].sf_id]


def _bulk_opportunities(org, count: int) -> None:
    ids = services.allocate_ids(org=org, sobject="Opportunity", count=count)
    Opportunity.objects.bulk_create(
        Opportunity(
            org=org,
            sf_id=sf_id,
            name=f"Bulk {n:05d}",
            stage_name="Closed Won",
            is_won=True,
            is_closed=True,
            close_date=dt.date(2024, 1, 1),
            amount=Decimal(n) / 100,
            currency_iso_code="USD",
        )
        for n, sf_id in enumerate(ids)
    )


def test_paging_across_2000_with_root_relative_next_records_url(sandbox_url, org):
    _bulk_opportunities(org, 2345)
    sf = sf_client(sandbox_url, org)
    first = sf.query("SELECT Id, Name, Amount FROM Opportunity ORDER BY Name")
    assert first["totalSize"] == 2345
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True
    assert "nextRecordsUrl" not in second
    assert len(second["records"]) == 345
    assert second["records"][-1]["Name"] == "Bulk 02344"
    assert second["records"][-1]["Amount"] == Decimal("23.44")
    everything = sf.query_all("SELECT Id FROM Opportunity")
    assert len({r["Id"] for r in everything["records"]}) == 2345


def test_batch_size_header_and_cursor_expiry(sandbox_url, org):
    _bulk_opportunities(org, 450)
    sf = sf_client(sandbox_url, org)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = sf.query("SELECT Name FROM Opportunity ORDER BY Name", headers=headers)
    assert len(page["records"]) == 200
    assert page["nextRecordsUrl"].endswith("-200")
    names = _names(page)
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        names += _names(page)
    assert names == [f"Bulk {n:05d}" for n in range(450)]
    tiny = sf.query("SELECT Name FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(tiny["records"]) == 200  # Salesforce's minimum batch size

    QueryCursor.objects.update(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more(tiny["nextRecordsUrl"], identifier_is_url=True)
    assert error_body(info.value)[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_child_subquery_pages_on_its_own(sandbox_url):
    org = make_org("Children", child_page_size=20)
    product = make_product(org, "WIDGET-S")
    big = make_opportunity(org, None, "Big")
    small = make_opportunity(org, None, "Small")
    services.line_items_add(
        opportunity=big, items=[{"product": product, "quantity": n + 1} for n in range(45)]
    )
    services.line_item_add(opportunity=small, product=product, quantity=Decimal(1))
    sf = sf_client(sandbox_url, org)
    result = sf.query_all(
        "SELECT Name, (SELECT Quantity FROM OpportunityLineItems ORDER BY Quantity) "
        "FROM Opportunity ORDER BY Name"
    )
    big_items = result["records"][0]["OpportunityLineItems"]
    assert big_items["totalSize"] == 45
    assert big_items["done"] is False
    assert len(big_items["records"]) == 20
    assert big_items["nextRecordsUrl"].startswith("/services/data/v62.0/query/")
    quantities = [r["Quantity"] for r in big_items["records"]]
    page = big_items
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        quantities += [r["Quantity"] for r in page["records"]]
    assert quantities == [Decimal(n + 1) for n in range(45)]
    small_items = result["records"][1]["OpportunityLineItems"]
    assert small_items["done"] is True
    assert small_items["totalSize"] == 1


def test_record_by_id_and_versions(sf, data, sandbox_url):
    record = sf.Opportunity.get(data["won"].sf_id)
    assert record["Name"] == "Acme won"
    assert record["Payment_Method__c"] == "Credit Card"
    versions = sf.session.get(f"{sandbox_url}/services/data/").json()
    assert {"20.0", "62.0", "66.0"} <= {v["version"] for v in versions}
    resources = sf.session.get(f"{sandbox_url}/services/data/v62.0/", headers=sf.headers).json()
    assert resources["query"] == "/services/data/v62.0/query"
    org = data["won"].org
    # The session user's Identity URL, absolute (jsforce reads the user id from it).
    assert resources["identity"] == f"{sandbox_url}/id/{org.org_id}/{org.user_id}"
    identity = sf.session.get(resources["identity"], headers=sf.headers).json()
    assert identity["user_id"] == org.user_id
    old = sf_client(sandbox_url, data["won"].org)
    old.sf_version = "19.0"
    response = sf.session.get(f"{sandbox_url}/services/data/v19.0/limits/", headers=sf.headers)
    assert response.status_code == 404


def test_query_all_pages_keep_deleted_rows_and_writes_are_refused(sandbox_url, org):
    _bulk_opportunities(org, 250)
    Opportunity.objects.filter(name__in=["Bulk 00000", "Bulk 00249"]).update(is_deleted=True)
    sf = sf_client(sandbox_url, org)
    options = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query_all_iter(
        "SELECT Name, IsDeleted FROM Opportunity ORDER BY Name",
        include_deleted=True,
        headers=options,
    )
    rows = list(first)
    assert len(rows) == 250
    assert rows[-1]["IsDeleted"] is True
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 248
    response = sf.session.post(
        sf.base_url + "sobjects/Opportunity/", json={"Name": "x"}, headers=sf.headers
    )
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"

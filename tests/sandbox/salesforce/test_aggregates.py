"""Aggregate SOQL (COUNT(field), SUM, AVG, MIN, MAX, COUNT_DISTINCT, GROUP BY, aliases) through
simple-salesforce over HTTP: AggregateResult records named as Salesforce names them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import services
from tests.sandbox.salesforce.conftest import error_body, make_opportunity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deals(org):
    acme = services.account_create(org=org, name="Acme Corporation")
    globex = services.account_create(org=org, name="Globex Ltd")
    for name, account, stage, amount, day in [
        ("A1", acme, "Closed Won", "100.00", dt.date(2024, 1, 10)),
        ("A2", acme, "Closed Won", "250.50", dt.date(2024, 2, 10)),
        ("A3", acme, "Prospecting", "40.00", dt.date(2024, 3, 10)),
        ("G1", globex, "Closed Won", "1000.00", dt.date(2024, 4, 10)),
        ("N1", None, "Closed Lost", None, dt.date(2024, 5, 10)),
    ]:
        make_opportunity(
            org,
            account,
            name,
            stage=stage,
            amount=None if amount is None else Decimal(amount),
            close_date=day,
        )


def test_grouped_aggregates_are_aggregate_results_with_implied_and_given_aliases(sf, deals):
    result = sf.query(
        "SELECT StageName, COUNT(Id), SUM(Amount) total, MAX(CloseDate) FROM Opportunity "
        "GROUP BY StageName ORDER BY StageName"
    )
    assert result["done"] is True
    assert result["totalSize"] == 3
    assert result["records"] == [
        {
            "attributes": {"type": "AggregateResult"},
            "StageName": "Closed Lost",
            "expr0": 1,
            "total": None,
            "expr1": "2024-05-10",
        },
        {
            "attributes": {"type": "AggregateResult"},
            "StageName": "Closed Won",
            "expr0": 3,
            "total": Decimal("1350.50"),
            "expr1": "2024-04-10",
        },
        {
            "attributes": {"type": "AggregateResult"},
            "StageName": "Prospecting",
            "expr0": 1,
            "total": Decimal("40.00"),
            "expr1": "2024-03-10",
        },
    ]


def test_aggregates_without_group_by_answer_one_row_and_ignore_nulls(sf, deals):
    result = sf.query(
        "SELECT COUNT(Id), COUNT(Amount), AVG(Amount), MIN(Amount), COUNT_DISTINCT(AccountId) "
        "FROM Opportunity WHERE Name != 'A3'"
    )
    assert result["totalSize"] == 1
    (row,) = result["records"]
    assert row["expr0"] == 4
    assert row["expr1"] == 3  # the null Amount is not counted
    assert row["expr2"] == pytest.approx(Decimal("450.17"), abs=Decimal("0.01"))
    assert row["expr3"] == Decimal("100.00")
    assert row["expr4"] == 2
    none = sf.query("SELECT COUNT(Id) n, SUM(Amount) s FROM Opportunity WHERE Name = 'nobody'")
    assert [{k: v for k, v in r.items() if k != "attributes"} for r in none["records"]] == [
        {"n": 0, "s": None}
    ]


def test_group_by_a_parent_field_ordered_by_an_aggregate_with_limit(sf, deals):
    result = sf.query(
        "SELECT Account.Name acct, SUM(Amount) FROM Opportunity WHERE IsWon = true "
        "GROUP BY Account.Name ORDER BY SUM(Amount) DESC LIMIT 1"
    )
    assert [(r["acct"], r["expr0"]) for r in result["records"]] == [
        ("Globex Ltd", Decimal("1000.00"))
    ]


@pytest.mark.parametrize(
    ("soql", "code", "words"),
    [
        ("SELECT Name, COUNT(Id) FROM Opportunity", "MALFORMED_QUERY", "grouped or aggregated"),
        (
            "SELECT Name FROM Opportunity GROUP BY StageName",
            "MALFORMED_QUERY",
            "grouped or aggregated: Name",
        ),
        ("SELECT SUM(Name) FROM Opportunity", "INVALID_FIELD", "aggregate operator SUM"),
        (
            "SELECT Amount, COUNT(Id) FROM Opportunity GROUP BY Amount",
            "INVALID_FIELD",
            "can not be grouped",
        ),
        (
            "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName ORDER BY Name",
            "MALFORMED_QUERY",
            "Ordered field must be grouped",
        ),
        ("SELECT Name n FROM Opportunity", "MALFORMED_QUERY", "unexpected token: 'n'"),
        (
            "SELECT COUNT(Id) x, SUM(Amount) x FROM Opportunity",
            "MALFORMED_QUERY",
            "duplicate alias",
        ),
        (
            "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName HAVING COUNT(Id) > 1",
            "MALFORMED_QUERY",
            "not supported by the sandbox",
        ),
        (
            "SELECT COUNT(Id), (SELECT Id FROM OpportunityLineItems) FROM Opportunity",
            "MALFORMED_QUERY",
            "subqueries",
        ),
    ],
)
def test_aggregate_queries_salesforce_refuses_are_refused(sf, deals, soql, code, words):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    error = error_body(caught.value)[0]
    assert error["errorCode"] == code
    assert words in error["message"]

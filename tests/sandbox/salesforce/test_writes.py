"""Record updates over the REST API: PATCH of one record and the Collections update, with
field-level writability from describe, as Salesforce answers them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.salesforce.models import Account, Opportunity, OutboundDelivery, SalesforceOrg
from tests.sandbox.salesforce.conftest import make_opportunity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deal(org: SalesforceOrg) -> Opportunity:
    account = Account.objects.create(org=org, sf_id="001000000000001AAA", name="Acme")
    return make_opportunity(org, account, "Acme deal")


def patch(sf: Salesforce, path: str, body: Any) -> Any:
    return sf.session.patch(sf.base_url + path, json=body, headers=sf.headers)


def test_patch_of_one_record_answers_204_and_moves_the_stamp(
    sf: Salesforce, org: SalesforceOrg, deal: Opportunity
):
    org.outbound_url = "http://127.0.0.1:9/outbound"
    org.save(update_fields=["outbound_url"])
    stamp = deal.system_modstamp
    response = patch(
        sf,
        f"sobjects/Opportunity/{deal.sf_id}",
        {
            "Xero_Invoice_Number__c": "INV-0042",
            "Xero_Status__c": "PAID",
            "Xero_Amount_Paid__c": 1250.5,
            "Xero_Amount_Due__c": "0",
            "Xero_Paid_Date__c": "2026-12-03",
            "Xero_Invoice_URL__c": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=x",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    deal.refresh_from_db()
    assert deal.xero_invoice_number == "INV-0042"
    assert deal.xero_status == "PAID"
    assert deal.xero_amount_paid == Decimal("1250.50")
    assert deal.xero_amount_due == Decimal("0.00")
    assert deal.xero_paid_date == dt.date(2026, 12, 3)
    assert deal.system_modstamp > stamp
    assert deal.last_modified_date == deal.system_modstamp
    # Like any change: the org's Outbound Message goes out.
    assert OutboundDelivery.objects.filter(org=org, record_id=deal.sf_id).count() == 1
    # And the API reads back what was written.
    row: Any = sf.restful(f"sobjects/Opportunity/{deal.sf_id}")
    assert row["Xero_Status__c"] == "PAID"
    assert row["Xero_Amount_Paid__c"] == Decimal("1250.5")


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"IsWon": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsWon"]),
        ({"No_Such__c": "x"}, "INVALID_FIELD", ["No_Such__c"]),
        ({"Xero_Amount_Due__c": "lots"}, "JSON_PARSER_ERROR", ["Xero_Amount_Due__c"]),
        (
            {"Xero_Status__c": "MAYBE"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Xero_Status__c"],
        ),
        ({"Name": "x" * 121}, "STRING_TOO_LONG", ["Name"]),
    ],
)
def test_patch_refusals_are_salesforce_error_arrays(
    sf: Salesforce, deal: Opportunity, body: dict[str, Any], code: str, fields: list[str]
):
    response = patch(sf, f"sobjects/Opportunity/{deal.sf_id}", body)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert error["fields"] == fields
    assert error["message"]


def test_a_field_made_read_only_is_refused_and_describe_says_so(
    sf: Salesforce, org: SalesforceOrg, deal: Opportunity
):
    org.read_only_fields = ["Xero_Status__c"]
    org.save(update_fields=["read_only_fields"])
    described: Any = sf.restful("sobjects/Opportunity/describe")
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Xero_Status__c"]["updateable"] is False
    assert fields["Xero_Amount_Paid__c"]["updateable"] is True
    response = patch(
        sf,
        f"sobjects/Opportunity/{deal.sf_id}",
        {"Xero_Status__c": "PAID", "Xero_Amount_Paid__c": 1},
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    deal.refresh_from_db()
    assert deal.xero_amount_paid is None  # nothing half-written


def test_patch_of_a_missing_or_deleted_record_is_404(sf: Salesforce, deal: Opportunity):
    missing = patch(sf, "sobjects/Opportunity/006000000000099AAA", {"Xero_Status__c": "PAID"})
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    Opportunity.objects.filter(pk=deal.pk).update(is_deleted=True)
    deleted = patch(sf, f"sobjects/Opportunity/{deal.sf_id}", {"Xero_Status__c": "PAID"})
    assert deleted.status_code == 404
    assert deleted.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def _records(*pairs: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Opportunity"}, "id": i, **fields} for i, fields in pairs]


def test_collection_update_answers_each_record_in_order(
    sf: Salesforce, org: SalesforceOrg, deal: Opportunity
):
    other = make_opportunity(org, None, "Second deal")
    response = patch(
        sf,
        "composite/sobjects",
        {
            "allOrNone": False,
            "records": _records(
                (deal.sf_id, {"Xero_Status__c": "AUTHORISED"}),
                (other.sf_id, {"IsWon": False}),
                ("006000000000099AAA", {"Xero_Status__c": "PAID"}),
            ),
        },
    )
    assert response.status_code == 200
    first, second, third = response.json()
    assert first == {"id": deal.sf_id, "success": True, "errors": []}
    assert second["success"] is False
    assert second["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert second["errors"][0]["fields"] == ["IsWon"]
    assert third["errors"][0]["statusCode"] == "NOT_FOUND"
    deal.refresh_from_db()
    assert deal.xero_status == "AUTHORISED"


def test_collection_all_or_none_rolls_every_record_back(
    sf: Salesforce, org: SalesforceOrg, deal: Opportunity
):
    other = make_opportunity(org, None, "Second deal")
    response = patch(
        sf,
        "composite/sobjects",
        {
            "allOrNone": True,
            "records": _records(
                (deal.sf_id, {"Xero_Status__c": "PAID"}),
                (other.sf_id, {"No_Such__c": 1}),
            ),
        },
    )
    assert response.status_code == 200
    first, second = response.json()
    assert first["success"] is False
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "INVALID_FIELD"
    deal.refresh_from_db()
    assert deal.xero_status == ""


def test_collection_of_more_than_200_records_is_refused(sf: Salesforce, deal: Opportunity):
    records = _records(*[(deal.sf_id, {"Xero_Status__c": "PAID"})] * 201)
    response = patch(sf, "composite/sobjects", {"allOrNone": False, "records": records})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    get = sf.session.get(sf.base_url + "composite/sobjects", headers=sf.headers)
    assert get.status_code == 405


def test_other_writes_stay_refused(sf: Salesforce):
    response = sf.session.post(
        sf.base_url + "sobjects/Opportunity/", json={"Name": "x"}, headers=sf.headers
    )
    assert response.status_code == 405

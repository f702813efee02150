"""Describe answers validate against the published JSON Schema and list our custom fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.sandbox.salesforce.conftest import make_org, sf_client

SPEC = Path(__file__).resolve().parents[3] / "sandbox" / "salesforce" / "spec"
pytestmark = pytest.mark.django_db(transaction=True)


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SPEC / name).read_text())
    return schema


@pytest.mark.parametrize(
    "sobject",
    [
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityLineItem",
        "Product2",
        "Pricebook2",
        "PricebookEntry",
        "OpportunityContactRole",
    ],
)
def test_describe_validates_against_the_schema(sf, sobject):
    body = sf.restful(f"sobjects/{sobject}/describe/")
    jsonschema.validate(body, _schema("sobject-describe.json"))
    assert body["name"] == sobject
    assert {f["name"] for f in body["fields"]} >= {"Id", "SystemModstamp", "IsDeleted"}


def test_opportunity_describe_lists_custom_fields_and_picklists(sf):
    body = sf.Opportunity.describe()
    fields = {f["name"]: f for f in body["fields"]}
    payment = fields["Payment_Method__c"]
    assert payment["custom"] is True
    assert payment["type"] == "picklist"
    assert [v["value"] for v in payment["picklistValues"]] == [
        "Credit Card",
        "Bank Transfer",
        "Check",
        "PayPal",
    ]
    assert fields["Region__c"]["custom"] is True
    assert fields["Amount"]["type"] == "currency"
    assert (fields["Amount"]["precision"], fields["Amount"]["scale"]) == (18, 2)
    assert fields["CloseDate"]["type"] == "date"
    assert fields["SystemModstamp"]["type"] == "datetime"
    assert fields["IsWon"]["type"] == "boolean"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Name"]["custom"] is False
    stages = [v["value"] for v in fields["StageName"]["picklistValues"]]
    assert stages[0] == "Prospecting"
    assert stages[-2:] == ["Closed Won", "Closed Lost"]
    currencies = [v["value"] for v in fields["CurrencyIsoCode"]["picklistValues"]]
    assert currencies == ["USD", "GBP", "EUR"]
    children = {c["relationshipName"] for c in body["childRelationships"]}
    assert {"OpportunityLineItems", "OpportunityContactRoles"} <= children


def test_single_currency_describe_has_no_currency_field(sandbox_url):
    sf = sf_client(sandbox_url, make_org("Single", multi_currency=False))
    body: Any = sf.restful("sobjects/Opportunity/describe")
    names = {f["name"] for f in body["fields"]}
    assert "CurrencyIsoCode" not in names
    assert "Payment_Method__c" in names


def test_global_describe_and_unknown_object(sf):
    body = sf.restful("sobjects/")
    names = [s["name"] for s in body["sobjects"]]
    jsonschema.validate(names, _schema("sobject-list.json"))
    assert "Opportunity" in names
    opportunity = next(s for s in body["sobjects"] if s["name"] == "Opportunity")
    assert opportunity["keyPrefix"] == "006"
    response = sf.session.get(sf.base_url + "sobjects/Nope/describe/", headers=sf.headers)
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"

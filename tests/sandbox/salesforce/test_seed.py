"""The demo seed is deterministic, and sandbox_token hands out a working session."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from sandbox.salesforce import seed
from sandbox.salesforce.models import (
    Account,
    ConnectedApp,
    Contact,
    Opportunity,
    OpportunityContactRole,
    OpportunityLineItem,
    PricebookEntry,
    Product2,
    SalesforceOrg,
)
from tests.sandbox.salesforce.conftest import sf_client


def _snapshot() -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for model in (
        SalesforceOrg,
        Account,
        Contact,
        Product2,
        PricebookEntry,
        Opportunity,
        OpportunityLineItem,
        OpportunityContactRole,
    ):
        fields = [f.attname for f in model._meta.concrete_fields if f.name not in {"id", "org"}]
        if model is SalesforceOrg:
            fields = ["name", "org_id", "multi_currency", "currencies"]
        rows = model.objects.order_by(fields[0]).values_list(*fields)
        out[model.__name__] = [
            tuple(v for f, v in zip(fields, row, strict=True) if not f.endswith("_id"))
            for row in rows
        ]
    return out


@pytest.mark.django_db
def test_demo_seed_is_deterministic_and_has_the_agreed_data():
    seed.reset(seed="demo")
    first = _snapshot()
    seed.reset(seed="demo")
    assert _snapshot() == first
    assert not seed.is_empty()

    demo = SalesforceOrg.objects.get(name=seed.DEMO_ORG)
    assert demo.multi_currency
    assert set(demo.currency_codes) == {
        "USD",
        "GBP",
        "EUR",
        "AUD",
        "CAD",
        "NZD",
    }
    single = SalesforceOrg.objects.get(name=seed.SINGLE_CURRENCY_ORG)
    assert not single.multi_currency
    names = set(Account.objects.filter(org=demo).values_list("name", flat=True))
    assert {
        "Acme Corporation",
        "Globex Ltd",
        "Initech LLC",
        "Umbrella Pty Ltd",
        "Stark Industries",
    } <= names
    assert names == set(seed.DEMO_ACCOUNT_NAMES)
    codes = set(Product2.objects.filter(org=demo).values_list("product_code", flat=True))
    assert len(codes) == 30
    assert {"WIDGET-S", "WIDGET-M", "SVC-INSTALL"} <= codes
    opps = Opportunity.objects.filter(org=demo)
    assert opps.count() >= 200
    assert opps.filter(is_won=True).count() > 60
    assert opps.filter(stage_name="Closed Lost").exists()
    assert opps.filter(is_closed=False).exists()
    assert set(opps.values_list("currency_iso_code", flat=True)) == set(demo.currency_codes)
    assert OpportunityLineItem.objects.filter(discount__isnull=False).exists()
    bulk = opps.get(name="Globex Ltd - Bulk widget rollout")
    assert bulk.opportunitylineitem_set.count() == seed.BULK_OPPORTUNITY_ITEMS
    assert ConnectedApp.objects.get(consumer_key="carrytheone-sandbox").consumer_secret == (
        "sandbox-secret-salesforce"
    )
    seed.reset(seed=None)
    assert seed.is_empty()


@pytest.mark.django_db(transaction=True)
def test_sandbox_token_command_prints_a_working_token(sandbox_url):
    seed.reset(seed="demo")
    out = io.StringIO()
    call_command("sandbox_token", "salesforce", "--org", seed.SINGLE_CURRENCY_ORG, stdout=out)
    token = json.loads(out.getvalue())
    assert token["instance_url"] == sandbox_url
    assert token["token_type"] == "Bearer"
    org = SalesforceOrg.objects.get(name=seed.SINGLE_CURRENCY_ORG)
    sf = sf_client(sandbox_url, org, token["access_token"])
    result = sf.query("SELECT Name FROM Account ORDER BY Name")
    assert result["records"][0]["Name"] == "Acme Corporation"
    won = sf.query_all(
        "SELECT Id, Account.Name, (SELECT Product2.ProductCode FROM OpportunityLineItems) "
        "FROM Opportunity WHERE IsWon = true"
    )
    assert won["totalSize"] > 0

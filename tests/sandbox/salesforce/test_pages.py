"""The sandbox pages: a demo user creates data and closes a deal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from sandbox.salesforce.models import (
    Account,
    Opportunity,
    OutboundDelivery,
    PricebookEntry,
    Product2,
    SalesforceOrg,
)


def sf_reverse(name: str, **kwargs: object) -> str:
    return reverse(f"sandbox_salesforce:{name}", kwargs=kwargs)


pytestmark = pytest.mark.django_db


def test_create_account_product_and_opportunity_then_close_it(
    client, org: SalesforceOrg, django_capture_on_commit_callbacks
):
    org.outbound_url = "http://127.0.0.1:9/outbound"
    org.save()
    response = client.post(
        sf_reverse("account_create", org_id=org.pk),
        {"name": "Initech LLC", "billing_country": "United States", "currency_iso_code": "USD"},
    )
    assert response.status_code == 302
    account = Account.objects.get(name="Initech LLC")
    assert account.sf_id.startswith("001")

    response = client.post(
        sf_reverse("product_create", org_id=org.pk),
        {
            "name": "Widget",
            "product_code": "WIDGET-S",
            "is_active": "on",
            "price_USD": "19.99",
            "price_GBP": "15.00",
        },
    )
    assert response.status_code == 302
    product = Product2.objects.get(product_code="WIDGET-S")
    assert PricebookEntry.objects.filter(product=product).count() == 2

    response = client.post(
        sf_reverse("opportunity_create", org_id=org.pk),
        {
            "name": "Initech deal",
            "account": account.pk,
            "stage_name": "Prospecting",
            "close_date": "2024-05-01",
            "currency_iso_code": "USD",
        },
    )
    assert response.status_code == 302
    opp = Opportunity.objects.get(name="Initech deal")
    page = client.get(sf_reverse("opportunity", org_id=org.pk, pk=opp.pk))
    assert page.status_code == 200
    assert b"Move to stage" in page.content

    client.post(
        sf_reverse("opportunity_action", org_id=org.pk, pk=opp.pk, action="line-item"),
        {"product": product.pk, "quantity": "4"},
    )
    opp.refresh_from_db()
    assert opp.amount == Decimal("79.96")
    before = opp.system_modstamp

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            sf_reverse("opportunity_action", org_id=org.pk, pk=opp.pk, action="stage"),
            {"stage_name": "Closed Won"},
        )
    opp.refresh_from_db()
    assert (opp.stage_name, opp.is_won, opp.is_closed) == ("Closed Won", True, True)
    assert opp.system_modstamp > before
    assert callbacks, "an outbound message is sent after commit"
    latest = OutboundDelivery.objects.first()
    assert latest is not None
    assert latest.record_id == opp.sf_id
    assert b"Closed Won" in latest.body.encode()


def test_invalid_forms_show_errors(client, org):
    response = client.post(sf_reverse("account_create", org_id=org.pk), {"name": ""})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    response = client.post(
        sf_reverse("opportunity_create", org_id=org.pk),
        {"name": "x", "stage_name": "Nope", "close_date": "soon", "currency_iso_code": "XXX"},
    )
    assert response.status_code == 200
    assert b"errorlist" in response.content


def test_settings_page_stores_faults_and_limits(client, org):
    url = sf_reverse("org_settings", org_id=org.pk)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "api_enabled": "on",
            "daily_api_max": "50",
            "session_timeout_seconds": "900",
            "child_page_size": "10",
            "outbound_url": "",
            "latency_ms": "0",
            "error_every": "4",
            "error_status": "500",
            "force_429": "1",
            "timeout_every": "0",
            "timeout_seconds": "35",
            "expire_tokens": "",
        },
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.daily_api_max, org.child_page_size) == (50, 10)
    assert org.faults == {"error_every": 4, "error_status": 500, "force_429": 1}


def test_every_page_renders(client, org):
    from tests.sandbox.salesforce.conftest import make_opportunity, make_product

    account = Account.objects.create(org=org, sf_id="001000000000001AAA", name="A")
    product = make_product(org, "P-1")
    opp = make_opportunity(org, account, "O")
    for name, kwargs in [
        ("org", {}),
        ("account_list", {}),
        ("account_create", {}),
        ("account_edit", {"pk": account.pk}),
        ("product_list", {}),
        ("product_create", {}),
        ("product_edit", {"pk": product.pk}),
        ("opportunity_list", {}),
        ("opportunity_create", {}),
        ("opportunity", {"pk": opp.pk}),
        ("opportunity_edit", {"pk": opp.pk}),
        ("org_settings", {}),
    ]:
        response = client.get(sf_reverse(name, org_id=org.pk, **kwargs))
        assert response.status_code == 200, name
        assert b"style=" not in response.content, name
    filtered = client.get(sf_reverse("opportunity_list", org_id=org.pk), {"stage": "Closed Won"})
    assert b">O<" in filtered.content

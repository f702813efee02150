"""The Salesforce client against the simulator over HTTP: paging, session refresh, errors,
timeouts and API usage; and disconnecting, which revokes the grant."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from integrations.connections import ratelimit
from integrations.connections.models import Connection
from integrations.connections.providers import ReauthorizationRequired, get_provider
from integrations.connections.salesforce.client import (
    SalesforceApiError,
    SalesforceClient,
    http_session,
    salesforce_client,
)
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import AccessToken, SalesforceOrg
from tests.factories import AccountFactory
from tests.integrations.connections.salesforce.conftest import consent
from tests.sandbox.salesforce.conftest import make_opportunity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conn(sf_org: SalesforceOrg, sf_site: str) -> Connection:
    issued = sf_sandbox.issue_token(org_name=sf_org.name)
    return Connection.objects.create(
        account=AccountFactory.create(),
        provider="salesforce",
        external_id=sf_org.org_id,
        display_name=sf_org.name,
        credentials={
            "access_token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "instance_url": issued["instance_url"],
            "login_url": sf_site,
            "id": issued["id"],
            "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
        },
    )


def _faults(org: SalesforceOrg, **faults: object) -> None:
    SalesforceOrg.objects.filter(pk=org.pk).update(faults=faults)


def test_a_query_is_read_page_by_page(conn, sf_org):
    account = sf_sandbox.account_create(org=sf_org, name="Big Customer")
    for n in range(450):
        sf_sandbox.account_create(org=sf_org, name=f"Customer {n:03}")
    make_opportunity(sf_org, account, "Deal", amount=Decimal("1234.50"))
    with salesforce_client(conn) as client:
        pages = client.query_pages("SELECT Id, Name FROM Account", batch_size=200)
        first = next(pages)
        # Streaming: only the first page has been fetched so far.
        assert len(first["records"]) == 200
        assert first["totalSize"] == 451
        assert not first["done"]
        rest = list(pages)
        assert [len(p["records"]) for p in rest] == [200, 51]
        assert rest[-1]["done"]
        names = {r["Name"] for p in [first, *rest] for r in p["records"]}
        assert len(names) == 451

        (opportunities,) = client.query_pages("SELECT Amount FROM Opportunity")
        amount = opportunities["records"][0]["Amount"]
        assert isinstance(amount, Decimal)
        assert amount == Decimal("1234.50")
        assert client.api_usage is not None
        used, allowed = client.api_usage
        assert used == 4
        assert allowed == sf_org.daily_api_max


def test_describe(conn):
    with salesforce_client(conn) as client:
        described = client.describe("Opportunity")
        assert described["name"] == "Opportunity"
        assert any(f["name"] == "StageName" for f in described["fields"])
        with pytest.raises(ValueError, match="sObject"):
            client.describe("Opportunity/../x")
        with pytest.raises(SalesforceApiError) as caught:
            client.describe("NoSuchThing")
        assert caught.value.permanent


def test_an_expired_session_is_refreshed_once_and_the_new_token_stored(conn):
    old = conn.credentials["access_token"]
    client = salesforce_client(conn)
    AccessToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    sessions_before = AccessToken.objects.count()
    (page,) = client.query_pages("SELECT Id FROM Account")
    assert page["done"]
    conn.refresh_from_db()
    assert conn.credentials["access_token"] != old
    assert client.sf.session_id == conn.credentials["access_token"]
    assert AccessToken.objects.count() == sessions_before + 1  # exactly one refresh


def test_a_session_refused_again_after_refreshing_needs_reauth(conn, sf_org):
    client = salesforce_client(conn)
    _faults(sf_org, expire_tokens=True)
    sessions_before = AccessToken.objects.count()
    with pytest.raises(ReauthorizationRequired):
        list(client.query_pages("SELECT Id FROM Account"))
    assert AccessToken.objects.count() == sessions_before + 1  # one refresh, then stop


def test_api_disabled_is_permanent_and_says_which_editions(conn, sf_org):
    SalesforceOrg.objects.filter(pk=sf_org.pk).update(api_enabled=False)
    with pytest.raises(SalesforceApiError) as caught:
        list(salesforce_client(conn).query_pages("SELECT Id FROM Account"))
    error = caught.value
    assert error.error_code == "API_DISABLED_FOR_ORG"
    assert error.permanent
    assert "Enterprise, Unlimited, Developer" in error.message


def test_the_request_limit_is_transient(conn, sf_org):
    _faults(sf_org, force_429=1)
    client = salesforce_client(conn)
    with pytest.raises(SalesforceApiError) as caught:
        list(client.query_pages("SELECT Id FROM Account"))
    assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert not caught.value.permanent
    assert caught.value.retry_after
    assert client.api_usage is not None  # read from the error answer too


def test_a_malformed_query_is_permanent_with_salesforces_message(conn):
    with pytest.raises(SalesforceApiError) as caught:
        list(salesforce_client(conn).query_pages("SELECT NoSuchField__c FROM Account"))
    assert caught.value.permanent
    assert caught.value.error_code in {"INVALID_FIELD", "MALFORMED_QUERY"}
    assert "NoSuchField__c" in caught.value.message


def test_server_errors_and_timeouts_are_transient(conn, sf_org, settings):
    _faults(sf_org, error_every=1)
    with pytest.raises(SalesforceApiError) as caught:
        list(salesforce_client(conn).query_pages("SELECT Id FROM Account"))
    assert caught.value.status == 503
    assert not caught.value.permanent

    _faults(sf_org, latency_ms=1500)
    settings.EXTERNAL_HTTP_TIMEOUT = 0.3
    with pytest.raises(SalesforceApiError, match="in time") as caught:
        list(salesforce_client(conn).query_pages("SELECT Id FROM Account"))
    assert not caught.value.permanent


def test_every_request_has_a_timeout_and_plain_http_only_for_the_sandbox(settings, sf_site):
    settings.EXTERNAL_HTTP_TIMEOUT = 12.5
    session = http_session(sf_site)
    assert session.trust_env is False
    sandbox_https = sf_site.replace("http://", "https://") + "/services/data/"
    adapter = session.get_adapter(sandbox_https)
    assert type(adapter).__name__ == "_SandboxAdapter"
    assert getattr(adapter, "timeout", None) == 12.5
    real = session.get_adapter("https://acme.my.salesforce.com/services/data/")
    assert type(real).__name__ == "_TimeoutAdapter"
    assert getattr(real, "timeout", None) == 12.5
    # Another port on the same host is not the sandbox.
    other_port = sandbox_https.replace(sf_site.rsplit(":", 1)[1], "1")
    assert type(session.get_adapter(other_port)).__name__ == "_TimeoutAdapter"

    # A real instance is never downgraded, and the sandbox is not special when disabled.
    assert (
        type(http_session("https://acme.my.salesforce.com").get_adapter(sandbox_https)).__name__
        == "_TimeoutAdapter"
    )
    settings.SANDBOX_ENABLED = False
    assert type(http_session(sf_site).get_adapter(sandbox_https)).__name__ == "_TimeoutAdapter"


def test_disconnecting_revokes_the_grant_and_deletes_the_connection(tenant, sf_org):
    tenant.callback(consent(tenant.start()))
    conn = Connection.objects.get(provider="salesforce")
    credentials = dict(conn.credentials)
    with salesforce_client(conn) as client:
        list(client.query_pages("SELECT Id FROM Account"))

    url = reverse(
        "integrations:disconnect", args=[tenant.account.slug, tenant.integration.pk, conn.pk]
    )
    assert tenant.client.post(url).status_code == 302
    assert not Connection.objects.filter(pk=conn.pk).exists()
    with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
        get_provider("salesforce").refresh(credentials=credentials)
    # The sessions issued from the grant end with it.
    response = requests.get(
        f"{credentials['instance_url']}/services/data/v62.0/limits/",
        headers={"Authorization": f"Bearer {credentials['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 401


def test_a_client_is_built_for_one_connection(conn):
    client = SalesforceClient(conn)
    assert client.instance_url == conn.credentials["instance_url"]
    assert client.sf.session_id == conn.credentials["access_token"]
    client.close()


# --- leaving API headroom for the customer's other apps --------------------------------------


@pytest.fixture
def fresh_limiter() -> Iterator[None]:
    """The sandbox org's id repeats in every test: start its usage figure from nothing."""
    ratelimit.reset_for_tests()
    yield
    ratelimit.reset_for_tests()


def _usage(org: SalesforceOrg, *, used: int, allowed: int) -> None:
    SalesforceOrg.objects.filter(pk=org.pk).update(
        api_usage=used, daily_api_max=allowed, api_usage_day=timezone.now().date()
    )


def _served(org: SalesforceOrg) -> int:
    org.refresh_from_db()
    return org.request_count


def test_usage_within_the_headroom_pauses_the_org_for_every_client_then_resumes(
    conn, sf_org, fresh_limiter, monkeypatch
):
    monkeypatch.setattr("integrations.connections.salesforce.client.LIMIT_RETRY_AFTER", 0.4)
    _usage(sf_org, used=7, allowed=10)
    with salesforce_client(conn) as client:
        list(client.query_pages("SELECT Id FROM Account"))  # Salesforce answers 8/10
        assert client.api_usage == (8, 10)

    before = _served(sf_org)
    with salesforce_client(conn) as another, pytest.raises(SalesforceApiError) as caught:
        list(another.query_pages("SELECT Id FROM Account"))
    assert caught.value.message == (
        "Salesforce API usage for this org is at 8 of 10 requests in the last 24 hours; "
        "CarryTheOne pauses to leave 20% for your other apps and resumes automatically."
    )
    assert not caught.value.permanent
    assert caught.value.retry_after == 1
    assert _served(sf_org) == before  # nothing was sent

    # The customer's other apps quieten down; once our figure is stale we look again.
    _usage(sf_org, used=1, allowed=10)
    time.sleep(0.45)
    with salesforce_client(conn) as client:
        list(client.query_pages("SELECT Id FROM Account"))
        list(client.query_pages("SELECT Id FROM Account"))
    assert _served(sf_org) == before + 2


def test_the_pause_is_rechecked_fifteen_minutes_after_the_last_answer(conn, sf_org, fresh_limiter):
    _usage(sf_org, used=99, allowed=100)
    with salesforce_client(conn) as client:
        list(client.query_pages("SELECT Id FROM Account"))  # answered 100/100
        with pytest.raises(SalesforceApiError, match="100 of 100") as caught:
            client.describe("Opportunity")
    assert caught.value.retry_after is not None
    assert 890 <= caught.value.retry_after <= 900


def test_a_paused_org_can_still_be_connected(tenant, sf_org, fresh_limiter):
    ratelimit.salesforce_record_usage(sf_org.org_id, used=100, allowed=100, ttl=60)
    tenant.callback(consent(tenant.start()))
    conn = Connection.objects.get(provider="salesforce")
    assert conn.status == Connection.Status.ACTIVE
    with pytest.raises(SalesforceApiError, match="100 of 100"):
        salesforce_client(conn).describe("Opportunity")


def test_records_are_updated_200_a_request_with_an_answer_each(conn, sf_org):
    deals = [make_opportunity(sf_org, None, f"Deal {n:03}") for n in range(205)]
    records = [
        {
            "Id": d.sf_id,
            "Xero_Amount_Due__c": Decimal("12.30"),
            "Xero_Paid_Date__c": dt.date(2026, 12, 3),
        }
        for d in deals
    ]
    records[3] = {"Id": deals[3].sf_id, "IsWon": True}  # not writable
    with salesforce_client(conn) as client:
        before = client.calls
        results = client.update_records("Opportunity", records)
        assert client.calls - before == 2  # 200 + 5
    assert len(results) == 205
    assert [r.record_id for r in results] == [d.sf_id for d in deals]
    assert all(r.success for i, r in enumerate(results) if i != 3)
    refused = results[3]
    assert not refused.success
    assert refused.errors[0].status_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert refused.errors[0].fields == ("IsWon",)
    deals[0].refresh_from_db()
    assert deals[0].xero_amount_due == Decimal("12.30")
    assert deals[0].xero_paid_date == dt.date(2026, 12, 3)
    with pytest.raises(ValueError, match="sObject"):
        client.update_records("Opportunity/x", [])

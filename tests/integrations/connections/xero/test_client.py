"""The Accounting API client: one tenant per client, no hidden retries, errors mapped."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from django.utils import timezone
from xero_python.accounting import Contact, Contacts

from integrations.connections import ratelimit
from integrations.connections.models import Connection
from integrations.connections.providers import ReauthorizationRequired
from integrations.connections.ratelimit import Priority
from integrations.connections.xero.client import (
    XeroNotFound,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
    fetch_organisation,
    validation_messages,
    xero_client,
)
from sandbox.xero import seed
from sandbox.xero import services as xero_sandbox
from sandbox.xero.models import XeroOrganisation
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

UK = "Demo UK Ltd"


def _connection(org_name: str, *, access_token: str | None = None) -> Connection:
    issued = xero_sandbox.issue_token(org_name=org_name)
    return Connection.objects.create(
        account=AccountFactory.create(),
        provider="xero",
        external_id=issued["tenant_id"],
        display_name=org_name,
        credentials={
            "access_token": access_token or issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "expires_at": (timezone.now() + dt.timedelta(minutes=30)).isoformat(),
        },
    )


def _set_faults(name: str, **faults: Any) -> XeroOrganisation:
    org = XeroOrganisation.objects.get(name=name)
    org.faults = faults
    org.save(update_fields=["faults"])
    return org


def _requests_served(org: XeroOrganisation) -> int:
    org.refresh_from_db()
    return org.request_count


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str, str]]:
    """(url, Authorization, xero-tenant-id) of every HTTP request the SDK makes."""
    calls: list[tuple[str, str, str]] = []
    original = urllib3.PoolManager.request

    def spy(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        calls.append((url, headers.get("Authorization", ""), headers.get("xero-tenant-id", "")))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(urllib3.PoolManager, "request", spy)
    return calls


def test_two_tenants_interleaved_in_one_process_each_use_their_own_token(xero, sent):
    main = _connection(seed.MAIN_ORG)
    uk = _connection(UK)
    main_client, uk_client = xero_client(main), xero_client(uk)
    # Configuration() hands out copies of one default: each client must own its token object.
    main_cfg = main_client.api.api_client.configuration
    uk_cfg = uk_client.api.api_client.configuration
    assert main_cfg.oauth2_token is not uk_cfg.oauth2_token

    names = [
        client.call("get_organisations").data.organisations[0].name
        for client in (main_client, uk_client, main_client, uk_client)
    ]

    assert names == [seed.MAIN_ORG, UK, seed.MAIN_ORG, UK]
    expected = [
        (f"Bearer {conn.credentials['access_token']}", conn.external_id)
        for conn in (main, uk, main, uk)
    ]
    assert [(auth, tenant) for _, auth, tenant in sent] == expected


def test_a_success_reports_the_limits_left(xero):
    response = xero_client(_connection(seed.MAIN_ORG)).call("get_organisations")
    assert response.status == 200
    assert response.minute_limit_remaining is not None
    assert response.day_limit_remaining is not None


def test_fetch_organisation_reads_name_country_and_currency(xero):
    details = fetch_organisation(_connection(UK))
    assert details.name == UK
    assert details.country_code == "GB"
    assert details.base_currency == "GBP"


def test_a_429_reaches_us_after_one_request_with_retry_after(xero):
    org = _set_faults(seed.MAIN_ORG, force_429=3)
    client = xero_client(_connection(seed.MAIN_ORG))
    before = _requests_served(org)
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations")
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    assert caught.value.problem
    assert not caught.value.permanent
    org.refresh_from_db()
    assert org.faults["force_429"] == 2  # exactly one request was served: no hidden retry
    assert _requests_served(org) - before <= 1


def test_a_503_reaches_us_after_exactly_one_request(xero):
    org = _set_faults(seed.MAIN_ORG, error_every=1, error_status=503)
    client = xero_client(_connection(seed.MAIN_ORG))
    before = _requests_served(org)
    with pytest.raises(XeroUnavailable) as caught:
        client.call("get_organisations")
    assert caught.value.status == 503
    assert not caught.value.permanent
    assert _requests_served(org) - before == 1


def test_every_call_has_a_timeout(xero, settings):
    settings.EXTERNAL_HTTP_TIMEOUT = 0.5
    org = _set_faults(seed.MAIN_ORG, latency_ms=2500)
    client = xero_client(_connection(seed.MAIN_ORG))
    assert client.timeout == (0.5, 0.5)
    before = _requests_served(org)
    started = time.monotonic()
    with pytest.raises(XeroUnavailable):
        client.call("get_organisations")
    assert time.monotonic() - started < 2.0
    time.sleep(2.2)  # let the slow answer finish before counting
    assert _requests_served(org) - before == 1


def test_a_401_refreshes_once_and_retries(xero, sent):
    conn = _connection(seed.MAIN_ORG, access_token="revoked-or-unknown")
    response = xero_client(conn).call("get_organisations")
    assert response.data.organisations[0].name == seed.MAIN_ORG
    conn.refresh_from_db()
    assert conn.credentials["access_token"] != "revoked-or-unknown"
    assert [auth for _, auth, _ in sent] == [
        "Bearer revoked-or-unknown",
        f"Bearer {conn.credentials['access_token']}",
    ]


def test_a_401_after_refreshing_marks_the_connection_for_reauthorisation(xero, sent):
    _set_faults(seed.MAIN_ORG, expire_tokens=True)
    conn = _connection(seed.MAIN_ORG)
    with pytest.raises(ReauthorizationRequired):
        xero_client(conn).call("get_organisations")
    assert len(sent) == 2
    conn.refresh_from_db()
    assert conn.status == Connection.Status.NEEDS_REAUTH
    assert "Reconnect Xero" in conn.last_error


def test_a_403_for_a_tenant_the_grant_does_not_cover_needs_reauthorisation(xero):
    conn = _connection(seed.MAIN_ORG)
    other = XeroOrganisation.objects.get(name=UK)
    conn.external_id = str(other.organisation_id)
    conn.save()
    with pytest.raises(ReauthorizationRequired):
        xero_client(conn).call("get_organisations")
    conn.refresh_from_db()
    assert conn.status == Connection.Status.NEEDS_REAUTH


def test_a_400_is_permanent_with_xeros_messages(xero):
    client = xero_client(_connection(seed.MAIN_ORG))
    with pytest.raises(XeroValidationError) as caught:
        client.call("create_contacts", Contacts(contacts=[Contact(email_address="a@b.c")]))
    assert caught.value.permanent
    assert caught.value.messages
    assert caught.value.messages[0] in caught.value.message


def test_a_404_is_not_found(xero):
    client = xero_client(_connection(seed.MAIN_ORG))
    with pytest.raises(XeroNotFound):
        client.call("get_invoice", "00000000-0000-0000-0000-000000000000")


def test_validation_messages_reads_xeros_shapes():
    body = (
        '{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception",'
        '"Elements":[{"ValidationErrors":[{"Message":"Contact name is required"}]}]}'
    )
    assert validation_messages(body) == ["Contact name is required"]
    assert validation_messages('{"Message":"Bad where"}') == ["Bad where"]
    assert validation_messages("plain text") == ["plain text"]


# --- the per-organisation rate limiter around every call -------------------------------------


@pytest.fixture
def fresh_limiter() -> Iterator[None]:
    """The demo organisations' ids repeat in every test: start their limits from nothing."""
    ratelimit.reset_for_tests()
    yield
    ratelimit.reset_for_tests()


def test_the_limiter_gives_up_with_xero_rate_limited_without_sending(
    xero, sent, settings, fresh_limiter
):
    settings.XERO_LIMIT_PER_MINUTE = 2
    settings.XERO_LIMIT_MAX_WAIT = 0.2
    client = xero_client(_connection(seed.MAIN_ORG))
    client.call("get_organisations")
    client.call("get_organisations")
    started = time.monotonic()
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations")
    assert time.monotonic() - started < 0.5  # a minute's wait is not worth 0.2 s of waiting
    assert caught.value.problem == "minute"
    assert caught.value.retry_after is not None
    assert 1 <= caught.value.retry_after <= 60
    assert not caught.value.permanent
    assert "2 calls a minute" in caught.value.message
    assert len(sent) == 2


def test_a_429_makes_every_client_of_that_organisation_wait_but_not_others(
    xero, sent, settings, fresh_limiter
):
    settings.XERO_LIMIT_MAX_WAIT = 0
    _set_faults(seed.MAIN_ORG, force_429=1)
    with pytest.raises(XeroRateLimited):
        xero_client(_connection(seed.MAIN_ORG)).call("get_organisations")
    assert len(sent) == 1

    # Another worker's client for the same organisation does not even try while Xero's
    # Retry-After (1 s from the sandbox) runs.
    other_worker = xero_client(_connection(seed.MAIN_ORG))
    with pytest.raises(XeroRateLimited) as caught:
        other_worker.call("get_organisations")
    assert caught.value.problem == "minute"  # the limit Xero named
    assert len(sent) == 1
    assert xero_client(_connection(UK)).call("get_organisations").status == 200
    assert len(sent) == 2

    settings.XERO_LIMIT_MAX_WAIT = 5
    started = time.monotonic()
    assert other_worker.call("get_organisations").status == 200
    assert 0.3 < time.monotonic() - started < 3


def test_updates_stop_at_the_day_reserve_and_new_invoices_use_it(
    xero, sent, settings, fresh_limiter
):
    settings.XERO_LIMIT_PER_DAY = 4
    settings.XERO_DAY_RESERVE = 2
    settings.XERO_LIMIT_MAX_WAIT = 0
    client = xero_client(_connection(seed.MAIN_ORG))
    client.call("get_organisations", priority=Priority.UPDATE)
    client.call("get_organisations", priority=Priority.UPDATE)
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations", priority=Priority.UPDATE)
    assert caught.value.problem == "day-reserve"
    client.call("get_organisations", priority=Priority.NEW)
    client.call("get_organisations")
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations")
    assert caught.value.problem == "day"
    assert len(sent) == 4


def test_xeros_own_lower_day_figure_is_honoured(xero, sent, settings, fresh_limiter):
    """Xero counts 3 a day here, we count far more: Xero's X-DayLimit-Remaining wins."""
    XeroOrganisation.objects.filter(name=seed.MAIN_ORG).update(day_limit=3)
    settings.XERO_DAY_RESERVE = 1
    settings.XERO_LIMIT_MAX_WAIT = 0
    client = xero_client(_connection(seed.MAIN_ORG))
    assert client.call("get_organisations").day_limit_remaining == 2
    assert client.call("get_organisations", priority=Priority.UPDATE).day_limit_remaining == 1
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations", priority=Priority.UPDATE)
    assert caught.value.problem == "day-reserve"
    assert client.call("get_organisations").day_limit_remaining == 0
    with pytest.raises(XeroRateLimited) as caught:
        client.call("get_organisations")
    assert caught.value.problem == "day"
    assert len(sent) == 3  # the last refusal is ours: Xero would only have answered 429


def test_every_attempt_gives_its_lease_back(xero, sent, settings, fresh_limiter):
    """One call at a time: a lease kept by any of these would refuse the next call."""
    settings.XERO_LIMIT_CONCURRENT = 1
    settings.XERO_LIMIT_MAX_WAIT = 0
    conn = _connection(seed.MAIN_ORG)
    with pytest.raises(XeroNotFound):
        xero_client(conn).call("get_invoice", "00000000-0000-0000-0000-000000000000")
    # A 401, then the retry with a refreshed token: two attempts, one lease each.
    revoked = _connection(seed.MAIN_ORG, access_token="revoked-or-unknown")
    assert xero_client(revoked).call("get_organisations").status == 200
    _set_faults(seed.MAIN_ORG, error_every=1, error_status=503)
    with pytest.raises(XeroUnavailable):
        xero_client(conn).call("get_organisations")
    _set_faults(seed.MAIN_ORG)
    assert xero_client(conn).call("get_organisations").status == 200
    assert len(sent) == 5


def test_an_unavailable_limiter_sends_nothing_and_is_transient(xero, sent, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with pytest.raises(XeroUnavailable) as caught:
        xero_client(_connection(seed.MAIN_ORG)).call("get_organisations")
    assert "rate limiter" in caught.value.message
    assert not caught.value.permanent
    assert sent == []

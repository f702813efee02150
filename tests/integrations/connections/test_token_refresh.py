"""Token refresh against the sandbox over HTTP: once, under a lock, and never in a loop."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import requests
from django.core import mail
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Role
from integrations.connections.models import Connection
from integrations.connections.providers import ReauthorizationRequired, get_provider
from integrations.connections.services import connection_credentials
from integrations.core.models import Integration
from sandbox.salesforce import services as sf_sandbox
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_sandbox
from tests.alerts.told import evaluate_and_send
from tests.factories import AccountFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(sandbox_url, settings) -> str:
    settings.XERO_TOKEN_URL = f"{sandbox_url}/sandbox/xero/identity/connect/token"
    settings.XERO_API_URL = f"{sandbox_url}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = sandbox_url
    xero_seed.reset(seed="demo")
    return str(sandbox_url)


@pytest.fixture
def refresh_calls(monkeypatch) -> list[str]:
    """Counts calls that reach a token endpoint, without replacing them."""
    calls: list[str] = []
    for key in ("xero", "salesforce"):
        provider = get_provider(key)
        original = type(provider).refresh

        def counting(self: Any, *, credentials: dict[str, Any], _orig: Any = original) -> Any:
            calls.append(credentials["refresh_token"])
            return _orig(self, credentials=credentials)

        monkeypatch.setattr(type(provider), "refresh", counting)
    return calls


def _xero_connection(*, expired: bool = True, refresh_token: str | None = None) -> Connection:
    issued = xero_sandbox.issue_token(org_name=None)
    account = AccountFactory.create()
    MembershipFactory.create(account=account, role=Role.OWNER)
    MembershipFactory.create(account=account, role=Role.SUPPORT)
    expires_at = timezone.now() + (dt.timedelta(seconds=-5) if expired else dt.timedelta(hours=1))
    return Connection.objects.create(
        account=account,
        provider="xero",
        external_id=issued["tenant_id"],
        display_name="Demo Widgets Ltd",
        credentials={
            "access_token": issued["access_token"],
            "refresh_token": refresh_token or issued["refresh_token"],
            "expires_at": expires_at.isoformat(),
        },
    )


def _organisation(sandbox_url: str, conn: Connection, credentials: dict[str, Any]) -> int:
    response = requests.get(
        f"{sandbox_url}/sandbox/xero/api.xro/2.0/Organisation",
        headers={
            "Authorization": f"Bearer {credentials['access_token']}",
            "xero-tenant-id": conn.external_id,
            "Accept": "application/json",
        },
        timeout=10,
    )
    return response.status_code


def test_an_expired_xero_token_is_refreshed_and_the_rotated_token_stored(sandbox, refresh_calls):
    conn = _xero_connection()
    old = dict(conn.credentials)
    credentials = connection_credentials(connection_id=conn.pk)
    assert len(refresh_calls) == 1
    assert credentials["access_token"] != old["access_token"]
    assert credentials["refresh_token"] != old["refresh_token"]  # Xero rotates
    conn.refresh_from_db()
    assert conn.credentials["refresh_token"] == credentials["refresh_token"]
    assert _organisation(sandbox, conn, credentials) == 200


def test_a_valid_token_makes_no_call(sandbox, refresh_calls):
    conn = _xero_connection(expired=False)
    assert conn.last_used_at is None
    assert connection_credentials(connection_id=conn.pk) == conn.credentials
    assert refresh_calls == []
    conn.refresh_from_db()
    assert conn.last_used_at is not None


def test_a_rejected_access_token_forces_one_refresh(sandbox, refresh_calls):
    conn = _xero_connection(expired=False)
    rejected = conn.credentials["access_token"]
    fresh = connection_credentials(connection_id=conn.pk, rejected_access_token=rejected)
    assert fresh["access_token"] != rejected
    # A second caller holding the same rejected token finds it already replaced.
    again = connection_credentials(connection_id=conn.pk, rejected_access_token=rejected)
    assert again["access_token"] == fresh["access_token"]
    assert len(refresh_calls) == 1


def test_invalid_grant_pauses_integrations_and_tells_owners_and_admins_once(sandbox, refresh_calls):
    conn = _xero_connection(refresh_token="not-a-refresh-token")
    integration = Integration.objects.create(
        account=conn.account, name="Main", xero_connection=conn, is_enabled=True
    )
    with pytest.raises(ReauthorizationRequired, match="Reconnect Xero"):
        connection_credentials(connection_id=conn.pk)
    conn.refresh_from_db()
    integration.refresh_from_db()
    assert conn.status == Connection.Status.NEEDS_REAUTH
    assert "invalid_grant" in conn.last_error
    # It stops syncing because of the connection's status; nothing else was paused.
    assert not integration.is_running
    assert not integration.pauses.exists()
    # The alerts read the status and tell owners and admins, once.
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 1
    owner_email = conn.account.memberships.get(role=Role.OWNER).user.email
    assert mail.outbox[0].to == [owner_email]  # owners and admins; not support
    assert "Reconnect Xero for Main" in mail.outbox[0].subject

    # Never a loop of failing calls: later attempts stop before the token endpoint.
    with pytest.raises(ReauthorizationRequired):
        connection_credentials(connection_id=conn.pk)
    evaluate_and_send(integration_id=integration.pk)
    assert len(refresh_calls) == 1
    assert len(mail.outbox) == 1


def test_salesforce_refresh_keeps_the_refresh_token_and_login_url(sandbox, settings, refresh_calls):
    from tests.sandbox.salesforce.conftest import make_org

    make_org(name="Refresh Org")
    settings.SANDBOX_BASE_URL = sandbox
    issued = sf_sandbox.issue_token(org_name="Refresh Org")
    conn = Connection.objects.create(
        account=AccountFactory.create(),
        provider="salesforce",
        external_id="00D",
        display_name="Refresh Org",
        credentials={
            "access_token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "instance_url": issued["instance_url"],
            "login_url": sandbox,
            "expires_at": (timezone.now() - dt.timedelta(seconds=1)).isoformat(),
        },
    )
    credentials = connection_credentials(connection_id=conn.pk)
    assert credentials["access_token"] != issued["access_token"]
    assert credentials["refresh_token"] == issued["refresh_token"]
    assert credentials["login_url"] == sandbox
    response = requests.get(
        f"{sandbox}/services/data/v62.0/limits/",
        headers={"Authorization": f"Bearer {credentials['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 200


@pytest.mark.postgres
def test_ten_workers_refreshing_at_once_make_one_call_and_all_succeed(sandbox, refresh_calls):
    """Without the row lock, rotation would hand nine of them a dead refresh token."""
    conn = _xero_connection()
    barrier = threading.Barrier(10)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(connection_credentials(connection_id=conn.pk)["access_token"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(refresh_calls) == 1
    assert len(results) == 10
    assert len(set(results)) == 1
    conn.refresh_from_db()
    assert conn.status == Connection.Status.ACTIVE
    assert _organisation(sandbox, conn, conn.credentials) == 200


@pytest.mark.parametrize("token_path", ["unreachable", "html-404"])
def test_an_unavailable_token_endpoint_is_transient_and_changes_nothing(
    sandbox, settings, token_path
):
    from integrations.connections.providers import ProviderError

    settings.XERO_TOKEN_URL = (
        "http://127.0.0.1:1/connect/token"
        if token_path == "unreachable"
        else f"{sandbox}/no-such-token-endpoint/"
    )
    conn = _xero_connection()
    before = dict(conn.credentials)
    with pytest.raises(ProviderError) as caught:
        connection_credentials(connection_id=conn.pk)
    assert not caught.value.permanent
    conn.refresh_from_db()
    assert conn.status == Connection.Status.ACTIVE
    assert conn.credentials == before
    # The connection shows the truth: failing since now, and why.
    assert conn.failing_since is not None
    assert "token endpoint unavailable" in conn.last_error
    assert (conn.refresh_claimed_by, conn.refresh_claimed_until) == ("", None)


def test_a_refresh_that_works_again_clears_the_failing_state(sandbox, settings):
    conn = _xero_connection()
    Connection.objects.filter(pk=conn.pk).update(
        failing_since=timezone.now(), last_error="Xero token endpoint unavailable; will retry."
    )
    connection_credentials(connection_id=conn.pk)
    conn.refresh_from_db()
    assert (conn.failing_since, conn.last_error) == (None, "")


def test_the_token_call_runs_outside_any_transaction(sandbox, monkeypatch):
    """The token endpoint may need a lock the product would hold (the simulator's did)."""
    provider = get_provider("xero")
    original = type(provider).refresh
    seen: list[bool] = []

    def watching(self: Any, *, credentials: dict[str, Any]) -> Any:
        seen.append(db_connection.in_atomic_block)
        return original(self, credentials=credentials)

    monkeypatch.setattr(type(provider), "refresh", watching)
    conn = _xero_connection()
    connection_credentials(connection_id=conn.pk)
    assert seen == [False]


@pytest.mark.postgres
def test_the_connection_row_is_not_locked_while_the_token_endpoint_answers(sandbox, monkeypatch):
    """Another writer of the connection's row (the panel, a heartbeat) is never made to wait."""
    provider = get_provider("xero")
    original = type(provider).refresh
    waited: list[float] = []
    conn = _xero_connection()

    def writer() -> None:
        import time

        try:
            with db_connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            started = time.monotonic()
            Connection.objects.filter(pk=conn.pk).update(display_name="Renamed meanwhile")
            waited.append(time.monotonic() - started)
        finally:
            db_connection.close()

    def slow(self: Any, *, credentials: dict[str, Any]) -> Any:
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=10)
        return original(self, credentials=credentials)

    monkeypatch.setattr(type(provider), "refresh", slow)
    connection_credentials(connection_id=conn.pk)
    assert len(waited) == 1
    assert waited[0] < 1.0
    conn.refresh_from_db()
    assert conn.display_name == "Renamed meanwhile"  # not overwritten by the token save


def test_a_refresh_claim_left_by_a_dead_worker_is_taken_over(sandbox, refresh_calls):
    conn = _xero_connection()
    Connection.objects.filter(pk=conn.pk).update(
        refresh_claimed_by="dead-worker", refresh_claimed_until=timezone.now()
    )
    fresh = connection_credentials(connection_id=conn.pk)
    assert len(refresh_calls) == 1
    conn.refresh_from_db()
    assert conn.credentials["access_token"] == fresh["access_token"]
    assert (conn.refresh_claimed_by, conn.refresh_claimed_until) == ("", None)


def test_a_waiter_takes_the_tokens_another_worker_refreshed(sandbox, refresh_calls):
    """While another worker holds the claim, a caller waits and then uses its tokens."""
    conn = _xero_connection()
    Connection.objects.filter(pk=conn.pk).update(
        refresh_claimed_by="other-worker",
        refresh_claimed_until=timezone.now() + dt.timedelta(minutes=1),
    )
    fresh = {
        **conn.credentials,
        "access_token": "refreshed-elsewhere",
        "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
    }

    def other_worker_finishes() -> None:
        import time

        try:
            time.sleep(0.3)
            row = Connection.objects.get(pk=conn.pk)
            row.credentials = fresh
            row.refresh_claimed_by = ""
            row.refresh_claimed_until = None
            row.save(update_fields=["credentials", "refresh_claimed_by", "refresh_claimed_until"])
        finally:
            db_connection.close()

    thread = threading.Thread(target=other_worker_finishes)
    thread.start()
    credentials = connection_credentials(connection_id=conn.pk)
    thread.join(timeout=10)
    assert credentials["access_token"] == "refreshed-elsewhere"
    assert refresh_calls == []

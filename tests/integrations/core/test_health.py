"""Health that tells the truth: failing runs show everywhere a person looks, owners get one
email per incident and one on recovery (through the alerts, which read what is recorded),
``/healthz`` counts what fails, and the review says "everything checks out" only when both
connections work right now."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError
from integrations.core.health import integration_health
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_pause
from integrations.setup import steps
from integrations.sync.models import SyncRun
from integrations.sync.run import sync_integration
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from tests.alerts.told import evaluate_and_send
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration

DEAD = "http://127.0.0.1:9"


def _client(integration: Integration, role: Role, *, staff: bool = False) -> Client:
    user = UserFactory.create(is_staff=staff)
    MembershipFactory.create(account=integration.account, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _pages(client: Client, integration: Integration) -> dict[str, str]:
    kwargs = {"account_slug": integration.account.slug}
    with_id = {**kwargs, "integration_id": integration.pk}
    return {
        "dashboard": client.get(reverse("accounts:dashboard", kwargs=kwargs)).content.decode(),
        "list": client.get(reverse("integrations:list", kwargs=kwargs)).content.decode(),
        "detail": client.get(reverse("integrations:detail", kwargs=with_id)).content.decode(),
        "log": client.get(reverse("integrations:log", kwargs=with_id)).content.decode(),
    }


def _expire_xero_token(integration: Integration) -> None:
    connection = integration.xero_connection
    assert connection is not None
    connection.credentials = {
        **connection.credentials,
        "expires_at": (timezone.now() - dt.timedelta(minutes=1)).isoformat(),
    }
    connection.save(update_fields=["credentials"])


def _change_a_won_deal() -> None:
    """Gives the next run something to write to Xero (a run with nothing to do needs no token)."""
    opportunity = SandboxOpportunity.objects.filter(is_won=True).order_by("sf_id").first()
    assert opportunity is not None
    sf_sandbox.opportunity_save(
        org=opportunity.org, opportunity=opportunity, name=f"{opportunity.name[:100]} *"
    )


def _sync_failing(integration: Integration) -> SyncRun:
    _change_a_won_deal()
    with pytest.raises(ProviderError):
        sync_integration(integration_id=integration.pk)
    run = SyncRun.objects.filter(integration=integration).first()
    assert run is not None
    return run


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_token_endpoint_shows_as_failing_then_recovers(
    sandbox_url: str, settings: Any
):
    point_at_sandbox(settings, sandbox_url)
    settings.SITE_URL = "https://app.example"
    integration = sandbox_integration(sandbox_url, is_enabled=True)
    MembershipFactory.create(account=integration.account, role=Role.OWNER)
    MembershipFactory.create(account=integration.account, role=Role.SUPPORT)
    assert sync_integration(integration_id=integration.pk) is not None
    integration.refresh_from_db()
    assert integration.last_success_at is not None
    good_until = integration.last_success_at

    # The token endpoint stops answering (as when it could not get its database lock).
    settings.XERO_TOKEN_URL = f"{DEAD}/connect/token"
    _expire_xero_token(integration)
    run = _sync_failing(integration)
    assert run.status == SyncRun.Status.FAILED
    integration.refresh_from_db()
    assert integration.failing_since == run.started_at
    assert "token endpoint unavailable" in integration.last_failure
    assert integration.last_success_at == good_until
    assert mail.outbox == []  # one failure is not yet an incident worth an email

    support = _client(integration, Role.SUPPORT)
    for name, html in _pages(support, integration).items():
        assert "Syncing is failing since" in html, name
        assert "token endpoint unavailable" in html, name
        assert "Last successful sync" in html, name
    detail = _pages(support, integration)["detail"]
    assert "badge-connection-failing" in detail  # the Xero connection's real state
    assert "Nothing needs attention" not in _pages(support, integration)["log"]
    assert Client().get("/healthz").json()["integrations_failing"] == 0  # not for long enough

    # Failing for longer than the threshold: one email, however many runs fail.
    settings.SYNC_FAILURE_ALERT_AFTER = 0
    for _ in range(3):
        _sync_failing(integration)
        evaluate_and_send(integration_id=integration.pk)
    (alert,) = mail.outbox
    assert "Syncing is failing for Main" in alert.subject
    assert "token endpoint unavailable" in alert.body
    assert f"https://app.example/a/{integration.account.slug}/integrations/" in alert.body
    assert len(alert.to) == 1  # the owner; support staff are not emailed
    healthz = Client().get("/healthz")
    assert healthz.status_code == 200
    assert (healthz.json()["status"], healthz.json()["integrations_failing"]) == ("degraded", 1)

    # Reachable again: the next run works, one recovery email, the pages say so.
    settings.XERO_TOKEN_URL = f"{sandbox_url}/sandbox/xero/identity/connect/token"
    recovered = sync_integration(integration_id=integration.pk)
    assert recovered is not None
    assert recovered.status == SyncRun.Status.SUCCEEDED, recovered.error
    integration.refresh_from_db()
    assert integration.failing_since is None
    assert integration.last_failure == ""
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 2
    assert "Syncing has recovered for Main" in mail.outbox[1].subject
    xero = integration.xero_connection
    assert xero is not None
    xero.refresh_from_db()
    assert (xero.failing_since, xero.last_error) == (None, "")
    assert "Syncing is failing" not in _pages(support, integration)["dashboard"]
    assert Client().get("/healthz").json()["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_the_review_checks_out_only_while_both_connections_work(sandbox_url: str, settings: Any):
    point_at_sandbox(settings, sandbox_url)
    integration = sandbox_integration(sandbox_url)
    owner = _client(integration, Role.OWNER)
    review = reverse(
        f"integrations:{steps.step('review').url_name}",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )
    assert "Everything checks out" in owner.get(review).content.decode()
    Connection.objects.update(checked_at=None)
    settings.XERO_TOKEN_URL = f"{DEAD}/connect/token"
    _expire_xero_token(integration)
    html = owner.get(review).content.decode()
    assert "Everything checks out" not in html
    assert "Xero could not be reached just now" in html
    response = owner.post(
        reverse(
            "integrations:setup_switch",
            kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
        ),
        {"on": "1"},
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert not integration.is_enabled


# --- the states, from stored facts ---------------------------------------------------------------


@pytest.fixture
def connected(db) -> Integration:
    account = AccountFactory.create()
    xero = Connection.objects.create(
        account=account, provider="xero", external_id="t", display_name="Org", credentials={}
    )
    salesforce = Connection.objects.create(
        account=account, provider="salesforce", external_id="o", display_name="Org", credentials={}
    )
    return Integration.objects.create(
        account=account, name="Main", xero_connection=xero, salesforce_connection=salesforce
    )


def test_an_integration_never_switched_on_is_not_yet_switched_on(connected):
    health = integration_health(connected)
    assert (health.state, health.label) == ("setup", "Not switched on yet")


def test_an_integration_switched_off_after_syncing_says_switched_off(connected):
    connected.last_success_at = timezone.now()
    health = integration_health(connected)
    assert (health.state, health.label) == ("off", "Switched off")


def test_a_connection_needing_reauthorisation_names_the_fix(connected):
    connected.is_enabled = True
    xero = connected.xero_connection
    assert xero is not None
    xero.status = Connection.Status.NEEDS_REAUTH
    xero.last_error = "Xero no longer accepts this connection (invalid_grant)."
    health = integration_health(connected)
    assert health.state == "reauth"
    assert health.action_label == "Reconnect Xero"
    assert "invalid_grant" in health.message


def test_on_and_working_says_when_it_last_synced(connected, settings):
    connected.is_enabled = True
    connected.last_success_at = timezone.now() - dt.timedelta(minutes=3)
    health = integration_health(connected)
    assert (health.state, health.is_problem) == ("ok", False)
    assert "Last sync 3" in health.message


def test_on_but_nothing_completed_for_long_is_stalled(connected, settings):
    settings.SYNC_STALLED_AFTER = 600
    connected.is_enabled = True
    connected.last_success_at = timezone.now() - dt.timedelta(hours=2)
    health = integration_health(connected)
    assert (health.state, health.is_problem) == ("stalled", True)
    assert "No sync has completed for 2" in health.message


def test_a_wait_asked_by_xero_says_until_when(connected):
    connected.is_enabled = True
    connected.last_success_at = timezone.now()
    connected.save()
    integration_pause(
        integration_id=connected.pk,
        cause=PauseCause.RATE_LIMIT,
        message="429",
        until=timezone.now() + dt.timedelta(minutes=5),
    )
    assert integration_health(connected).state == "waiting"


def test_paused_shows_each_cause(connected):
    connected.is_enabled = True
    connected.save()
    integration_pause(
        integration_id=connected.pk, cause=PauseCause.BILLING, message="The trial ended."
    )
    health = integration_health(connected)
    assert (health.state, health.label, health.message) == (
        "paused",
        "Paused: billing",
        "The trial ended.",
    )
    integration_pause(
        integration_id=connected.pk, cause=PauseCause.PERSON, message="Paused for the audit."
    )
    assert integration_health(connected).message == "The trial ended. Paused for the audit."


# --- /healthz/detail ---------------------------------------------------------------------------


def test_the_detailed_health_is_for_staff_only(connected, client, settings):
    settings.SYNC_FAILURE_ALERT_AFTER = 60
    connected.is_enabled = True
    connected.failing_since = timezone.now() - dt.timedelta(minutes=5)
    connected.last_failure = "Xero token endpoint unavailable (ConnectionError); will retry."
    connected.save()
    url = reverse("healthz_detail")
    assert client.get(url).status_code == 404
    member = _client(connected, Role.OWNER)
    assert member.get(url).status_code == 404
    staff = UserFactory.create(is_staff=True)
    client.force_login(staff)
    (row,) = client.get(url).json()["integrations_failing"]
    assert (row["integration"], row["account"]) == (connected.pk, connected.account.slug)
    assert "token endpoint unavailable" in row["last_failure"]
    assert client.get("/healthz").json()["integrations_failing"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_died_is_closed_and_the_next_sync_proceeds(
    sandbox_url: str, settings: Any
):
    import time

    from integrations.sync.claim import DEAD_RUN_ERROR

    point_at_sandbox(settings, sandbox_url)
    settings.SYNC_CLAIM_TTL = 3
    integration = sandbox_integration(sandbox_url, is_enabled=True)
    # A worker claimed the integration, started a run and was killed: its heartbeat stopped.
    Integration.objects.filter(pk=integration.pk).update(
        sync_claimed_by="killed-worker",
        sync_claimed_until=timezone.now() + dt.timedelta(seconds=1.5),
    )
    dead = SyncRun.objects.create(integration=integration, worker="killed-worker")
    assert sync_integration(integration_id=integration.pk) is None  # still claimed
    time.sleep(1.7)
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (SyncRun.Status.FAILED, DEAD_RUN_ERROR)
    integration.refresh_from_db()
    assert (integration.sync_claimed_by, integration.sync_claimed_until) == ("", None)

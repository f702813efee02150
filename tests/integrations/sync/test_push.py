"""Push runs against the simulators over real HTTP: Outbound Messages posted to the endpoint,
the opportunities re-read from the sandbox Salesforce and invoiced in the sandbox Xero by the
same steps and ledger as the poll."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from carrytheone.celery import app as celery_app
from integrations.connections.crypto import decrypt_str
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import (
    LedgerEntry,
    PushEndpoint,
    PushNotification,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)
from integrations.sync.push import push_endpoint_for
from integrations.sync.steps import chunk as chunk_step
from integrations.sync.steps import read
from integrations.tasks import poll_integrations, sync_integration_task, sync_push
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import SalesforceOrg
from tests.integrations.sync import helpers as h
from tests.push_messages import outbound_message

pytestmark = pytest.mark.django_db

PUSH = "integrations.tasks.sync_push"


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[tuple[str, Any, Any]]:
    """Tasks published to the broker (name, args, countdown); the test runs them itself.

    Xero's real limits from here on (after the first poll): the sandbox reports its remaining
    calls on that scale, and the batch window is computed from them.
    """
    settings.XERO_LIMIT_PER_MINUTE = 60
    settings.XERO_LIMIT_PER_DAY = 5000
    sent: list[tuple[str, Any, Any]] = []

    def send_task(name: str, args: Any = None, countdown: Any = None, **_: Any) -> None:
        sent.append((name, args, countdown))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return sent


@pytest.fixture
def org(integration: Integration) -> SalesforceOrg:
    """The demo org, whose id the integration's Salesforce connection holds (as after OAuth)."""
    found = SalesforceOrg.objects.get(name="Demo Widgets Ltd")
    connection = integration.salesforce_connection
    assert connection is not None
    connection.external_id = found.org_id
    connection.save(update_fields=["external_id"])
    return found


@pytest.fixture
def synced(integration: Integration, org: SalesforceOrg) -> Integration:
    """Everything won so far is in Xero (a first poll ran)."""
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return integration


def _won_deal(name: str, amount: str = "1234.50") -> SandboxOpportunity:
    acme = h.won_of("Acme Corporation")
    return sf_sandbox.opportunity_save(
        org=acme.org,
        name=name,
        account=acme.account,
        stage_name="Closed Won",
        close_date=acme.close_date,
        amount=Decimal(amount),
    )


def _send(integration: Integration, org: SalesforceOrg, *pairs: tuple[str, str]) -> None:
    token = decrypt_str(push_endpoint_for(integration=integration).token)
    url = reverse("push_salesforce_outbound", kwargs={"token": token})
    body = outbound_message(pairs, org=org.org_id)
    response = Client().post(url, body, content_type="text/xml")
    assert response.status_code == 200, response.content
    assert b"<Ack>true</Ack>" in response.content


def _invoices_of(opportunity: SandboxOpportunity) -> int:
    return int(h.ours().filter(reference=opportunity.name).count())


def _push(integration: Integration) -> SyncRun:
    """The push task, run here; it must have run (not left the work to another run)."""
    run_id = sync_push(integration.pk)
    assert run_id is not None
    return SyncRun.objects.get(pk=run_id)


def test_a_pushed_deal_is_invoiced_by_a_push_run_from_what_salesforce_says_now(
    synced, org, queued, calls: Counter[str]
):
    deal = _won_deal("Acme Corporation - Pushed", amount="1234.50")
    _send(synced, org, ("04l000000000001", deal.sf_id))
    calls.clear()
    run = _push(synced)
    assert run.trigger == SyncRun.Trigger.PUSH
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.created_count == 1
    invoice = h.ours().get(reference=deal.name)
    # The message said 999,999; the invoice is what Salesforce holds.
    assert invoice.sub_total == Decimal("1234.50")
    assert LedgerEntry.objects.get(integration=synced, salesforce_id=deal.sf_id).state == "synced"
    assert not PushNotification.objects.exists()
    # A push of one deal costs a handful of Xero calls, not a poll's worth.
    assert sum(calls.values()) <= 3, calls
    # One run queued by the message, a window after it; nothing arrived meanwhile, so the run
    # queued no follow-up.
    assert queued == [(PUSH, [synced.pk], 1.0)]


def test_several_notifications_in_one_message_make_one_run(synced, org, queued):
    deals = [_won_deal(f"Acme Corporation - Batch {n}", amount=f"{100 + n}") for n in range(3)]
    _send(synced, org, *((f"04l00000000010{n}", d.sf_id) for n, d in enumerate(deals)))
    run = _push(synced)
    assert run.created_count == 3
    assert all(_invoices_of(d) == 1 for d in deals)
    h.no_duplicates(synced)


def test_the_same_delivery_twice_makes_one_invoice(synced, org, queued):
    deal = _won_deal("Acme Corporation - Twice")
    _send(synced, org, ("04l000000000201", deal.sf_id))
    _send(synced, org, ("04l000000000201", deal.sf_id))
    assert sync_push(synced.pk) is not None
    # Salesforce repeats it after the run (our Ack was lost, say): nothing pending, no run.
    _send(synced, org, ("04l000000000201", deal.sf_id))
    assert sync_push(synced.pk) is None
    # A new notification of the unchanged deal: re-read, and the ledger says it is in Xero.
    _send(synced, org, ("04l000000000202", deal.sf_id))
    again = _push(synced)
    assert again.created_count == 0
    assert _invoices_of(deal) == 1
    h.no_duplicates(synced)


def test_an_out_of_order_pair_is_judged_by_salesforce_now(synced, org, queued):
    deal = _won_deal("Acme Corporation - Late news")
    # Reopened after it was won: the "won" message arrives only after the "reopened" one.
    sf_sandbox.opportunity_set_stage(opportunity=deal, stage_name="Negotiation/Review")
    _send(synced, org, ("04l000000000302", deal.sf_id))  # the reopening
    _send(synced, org, ("04l000000000301", deal.sf_id))  # the win, late
    run = _push(synced)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert _invoices_of(deal) == 0
    assert not PushNotification.objects.exists()
    # Won again; its messages arrive in the wrong order again: one invoice.
    sf_sandbox.opportunity_set_stage(opportunity=deal, stage_name="Closed Won")
    _send(synced, org, ("04l000000000304", deal.sf_id))
    _send(synced, org, ("04l000000000303", deal.sf_id))
    sync_push(synced.pk)
    assert _invoices_of(deal) == 1


def test_events_arriving_during_a_run_are_picked_up_by_the_next_run_at_once(
    synced, org, queued, monkeypatch: pytest.MonkeyPatch
):
    first = _won_deal("Acme Corporation - First")
    second = _won_deal("Acme Corporation - Meanwhile")
    _send(synced, org, ("04l000000000401", first.sf_id))
    original = chunk_step.process_chunk
    arrived: list[str] = []

    def process_and_receive(ctx: Any, chunk: Any, **kwargs: Any) -> None:
        if not arrived:
            # Salesforce notifies the second deal, and the first one again, mid-run; the run
            # that message queued starts a window later, while this one still holds the claim.
            _send(
                synced,
                org,
                ("04l000000000402", second.sf_id),
                ("04l000000000403", first.sf_id),
            )
            arrived.append("yes")
            assert queued[-1] == (PUSH, [synced.pk], 1.0)
            assert sync_push(synced.pk) is None
        original(ctx, chunk, **kwargs)

    monkeypatch.setattr(read, "process_chunk", process_and_receive)
    # No watermark read during this run finds them: only push may.
    monkeypatch.setattr(read, "changed", lambda *args, **kwargs: None)
    queued.clear()
    sync_push(synced.pk)
    assert _invoices_of(first) == 1
    # What arrived meanwhile stayed pending (the first deal too: its news is newer than the
    # run's read), and the next push run is queued at once.
    pending = set(PushNotification.objects.values_list("salesforce_id", flat=True))
    assert pending == {first.sf_id, second.sf_id}
    assert (PUSH, [synced.pk], 0) in queued
    monkeypatch.setattr(read, "process_chunk", original)
    sync_push(synced.pk)
    assert _invoices_of(second) == 1
    assert _invoices_of(first) == 1
    assert not PushNotification.objects.exists()


def test_a_push_while_another_run_holds_the_claim_waits_for_that_run(synced, org, queued):
    deal = _won_deal("Acme Corporation - Claimed")
    Integration.objects.filter(pk=synced.pk).update(
        sync_claimed_until=timezone.now() + dt.timedelta(minutes=5), sync_claimed_by="other"
    )
    _send(synced, org, ("04l000000000501", deal.sf_id))
    assert sync_push(synced.pk) is None
    assert PushNotification.objects.filter(salesforce_id=deal.sf_id).exists()
    # The holder finishes; whatever run comes next takes the pending deal (here: a poll).
    Integration.objects.filter(pk=synced.pk).update(sync_claimed_until=None, sync_claimed_by="")
    sync_integration_task(synced.pk)
    assert _invoices_of(deal) == 1
    assert not PushNotification.objects.exists()


def test_push_falls_back_to_polling_when_messages_stop(synced, org, queued, settings):
    settings.PUSH_HEALTHY_WITHIN = 3600
    settings.PUSH_HEALTHY_POLL_INTERVAL = 900
    # Push is healthy and a poll ran a moment ago (the fixture's): the poll waits.
    _send(synced, org)
    assert poll_integrations() == 0
    # Healthy still, but the last poll is 16 minutes old: the safety net runs.
    SyncRun.objects.filter(integration=synced).update(
        started_at=timezone.now() - dt.timedelta(minutes=16)
    )
    assert poll_integrations() == 1
    # A fresh poll, and messages have stopped for over an hour: polled every minute again.
    SyncRun.objects.create(integration=synced, trigger=SyncRun.Trigger.POLL)
    assert poll_integrations() == 0
    PushEndpoint.objects.filter(integration=synced).update(
        last_message_at=timezone.now() - dt.timedelta(hours=2)
    )
    assert poll_integrations() == 1


def _push_healthy_and_idle(synced, org, settings) -> LedgerEntry:
    """An integration whose push is healthy and whose work is all done: the poll skips it."""
    settings.PUSH_HEALTHY_WITHIN = 3600
    settings.PUSH_HEALTHY_POLL_INTERVAL = 900
    _send(synced, org)
    PushNotification.objects.filter(integration=synced).delete()
    assert poll_integrations() == 0
    ledger = LedgerEntry.objects.filter(integration=synced).first()
    assert ledger is not None
    return ledger


@pytest.mark.parametrize("left_open", ["lost_answer", "pending_invoice", "unread_notification"])
def test_push_health_never_delays_work_a_fault_left_open(synced, org, queued, settings, left_open):
    """`make chaos` found it: a worker killed mid-write left an invoice's outcome unknown in a
    push-connected integration, and nothing settled it for 15 minutes — push was healthy, so
    the poll waited PUSH_HEALTHY_POLL_INTERVAL, and no new message came to start a run."""
    ledger = _push_healthy_and_idle(synced, org, settings)
    if left_open == "lost_answer":
        XeroOperation.objects.create(
            integration=synced,
            kind=XeroOperation.Kind.INVOICE,
            subject=ledger.salesforce_id,
            state=XeroOperation.State.UNKNOWN,
            ledger=ledger,
        )
    elif left_open == "pending_invoice":
        LedgerEntry.objects.filter(pk=ledger.pk).update(state=LedgerEntry.State.PENDING)
    else:
        # Older than any batch window: the run queued for it was lost or refused.
        PushNotification.objects.create(
            integration=synced,
            salesforce_id=ledger.salesforce_id,
            received_at=timezone.now() - dt.timedelta(minutes=2),
        )
    assert poll_integrations() == 1


def test_a_fresh_notification_is_left_to_its_push_run_not_raced_by_the_poll(
    synced, org, queued, settings
):
    ledger = _push_healthy_and_idle(synced, org, settings)
    PushNotification.objects.create(integration=synced, salesforce_id=ledger.salesforce_id)
    assert poll_integrations() == 0


# --- the account's share of the workers ------------------------------------------------------


def _busy_sibling(integration: Integration, name: str) -> Integration:
    """Another integration of the same account, claimed by a worker right now."""
    connection = Connection.objects.create(
        account=integration.account, provider="xero", external_id=name, credentials={}
    )
    return Integration.objects.create(
        account=integration.account,
        name=name,
        is_enabled=True,
        xero_connection=connection,
        salesforce_connection=connection,
        sync_claimed_until=timezone.now() + dt.timedelta(minutes=5),
        sync_claimed_by=f"worker-{name}",
    )


def test_a_push_refused_for_the_accounts_share_keeps_its_notifications(
    synced: Integration, org: SalesforceOrg, queued: list[tuple[str, Any, Any]], settings: Any
) -> None:
    settings.SYNC_MAX_RUNS_PER_ACCOUNT = 2
    siblings = [_busy_sibling(synced, n) for n in ("b", "c")]
    deal = _won_deal("Acme Corporation - Waits its turn")
    _send(synced, org, ("04l000000000901", deal.sf_id))
    queued.clear()
    assert sync_push(synced.pk) is None
    assert PushNotification.objects.filter(salesforce_id=deal.sf_id).exists()
    # Scheduled again shortly (not after the poll), and the wait is in the log.
    assert [(name, args) for name, args, _ in queued] == [(PUSH, [synced.pk])]
    assert 2.0 <= queued[0][2] <= 5.0
    assert SyncLogEntry.objects.filter(
        integration=synced, outcome=SyncLogEntry.Outcome.WAITING, message__contains="share"
    ).exists()
    Integration.objects.filter(pk__in=[s.pk for s in siblings]).update(
        sync_claimed_until=None, sync_claimed_by=""
    )
    assert sync_push(synced.pk) is not None
    assert _invoices_of(deal) == 1
    assert not PushNotification.objects.exists()

"""Xero → us → Salesforce, against both simulators over real HTTP.

A payment or a credit note in the sandbox Xero sends its signed webhook to the live test
server; the events are matched to our ledger and Xero's values are written onto the sandbox
Salesforce opportunity, only when they changed, never starting a loop.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.salesforce.client import SalesforceClient
from integrations.core.behaviours import paused_behaviours
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.demo import DEMO_WRITEBACK_FIELDS
from integrations.setup.validation import integration_check_configuration
from integrations.sync.models import (
    LedgerEntry,
    SyncLogEntry,
    SyncRun,
    WritebackState,
    XeroWebhookEvent,
)
from integrations.sync.writeback import (
    integration_writeback,
    webhook_events_requeue_lost,
    writeback_due,
)
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import SalesforceOrg
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_sandbox
from sandbox.xero import webhooks as sandbox_webhooks
from sandbox.xero.models import CreditNote, Invoice, XeroOrganisation
from tests.integrations.sync import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)

# Every value but the credited amount, onto the sandbox org's Xero custom fields.
FIELDS = DEMO_WRITEBACK_FIELDS


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery tasks run where they are queued: the webhook's request runs the processing and
    the write-back (the live server's thread), so a test can look right after."""
    from carrytheone.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def webhooks(sandbox_url: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> XeroOrganisation:
    """The sandbox organisation sends its webhooks to the live server, inside the write."""
    monkeypatch.setattr(sandbox_webhooks, "SYNCHRONOUS", True)
    settings.XERO_WEBHOOK_KEY = "writeback-test-key"
    settings.XERO_INVOICE_URL = f"{sandbox_url}/sandbox/xero/invoices/{{invoice_id}}/"
    org = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
    org.webhook_url = f"{sandbox_url}/webhooks/xero/"
    org.webhook_key = settings.XERO_WEBHOOK_KEY
    org.save(update_fields=["webhook_url", "webhook_key"])
    return org


@pytest.fixture
def salesforce_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of records of each Salesforce collection update the product sends."""
    sent: list[int] = []
    original = SalesforceClient.update_records

    def counting(self: SalesforceClient, sobject: str, records: Any, **kwargs: Any) -> Any:
        sent.append(len(records))
        return original(self, sobject, records, **kwargs)

    monkeypatch.setattr(SalesforceClient, "update_records", counting)
    return sent


def configure(integration: Integration, *, on: bool = True, **options: Any) -> None:
    h.configure(
        integration,
        writeback_enabled=on,
        writeback_fields=tuple(FIELDS.items()),
        **options,
    )


def synced(integration: Integration) -> tuple[SandboxOpportunity, Invoice]:
    """One won opportunity synced to an AUTHORISED invoice (webhooks not sent yet)."""
    opportunity = h.won_of("Stark Industries")
    h.only(opportunity)
    h.sync(integration)
    return opportunity, h.invoice(integration, opportunity)


def pay(invoice: Invoice, amount: Decimal | None = None) -> None:
    xero_sandbox.payment_record(invoice_pk=invoice.pk, amount=amount)
    invoice.refresh_from_db()


def test_a_payment_recorded_in_xero_shows_on_the_opportunity(
    integration: Integration, webhooks: XeroOrganisation, eager: None, salesforce_writes: list[int]
):
    """End to end: the sandbox Xero's payment → signed webhook to the live server → stored,
    processed, written back → the sandbox Salesforce opportunity's fields."""
    opportunity, invoice = synced(integration)
    # Write-back is switched on after the first sync: its invoice CREATE events were ignored.
    assert set(XeroWebhookEvent.objects.values_list("state", flat=True)) == {"ignored"}
    configure(integration)
    total = invoice.total

    pay(invoice, Decimal("10.00"))
    opportunity.refresh_from_db()
    assert opportunity.xero_invoice_number == invoice.invoice_number
    assert opportunity.xero_status == "AUTHORISED"
    assert opportunity.xero_amount_paid == Decimal("10.00")
    assert opportunity.xero_amount_due == total - Decimal("10.00")
    assert opportunity.xero_paid_date is None
    assert opportunity.xero_invoice_url.endswith(f"/sandbox/xero/invoices/{invoice.invoice_id}/")

    pay(invoice)  # the rest
    opportunity.refresh_from_db()
    assert opportunity.xero_status == "PAID"
    assert opportunity.xero_amount_paid == total
    assert opportunity.xero_amount_due == Decimal("0.00")
    assert opportunity.xero_paid_date == invoice.fully_paid_on
    # Only what changed went the second time: the number and the link had not.
    assert salesforce_writes == [1, 1]
    run = SyncRun.objects.filter(integration=integration, trigger="writeback").first()
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED
    entry = SyncLogEntry.objects.filter(run=run).get()
    assert entry.outcome == SyncLogEntry.Outcome.UPDATED
    assert "Xero_Status__c = PAID" in entry.message
    assert "Xero_Invoice_Number__c" not in entry.message
    assert XeroWebhookEvent.objects.filter(state="done").count() == 2


def test_the_same_news_twice_writes_nothing_the_second_time(
    integration: Integration,
    webhooks: XeroOrganisation,
    eager: None,
    salesforce_writes: list[int],
    calls: Counter[str],
):
    opportunity, invoice = synced(integration)
    configure(integration)
    pay(invoice, Decimal("5.00"))
    assert salesforce_writes == [1]
    reads = calls["get_invoices"]
    # Xero sends another event about the invoice (a person opened and saved it): the values
    # are read again — one call — and are what we last wrote, so Salesforce is not called.
    _touch_invoice(webhooks, invoice)
    assert calls["get_invoices"] == reads + 1
    assert salesforce_writes == [1]
    state = WritebackState.objects.get(ledger__salesforce_id=opportunity.sf_id)
    assert state.requested_at is None
    assert state.values["Xero_Amount_Paid__c"] == "5.00"


def _touch_invoice(org: XeroOrganisation, invoice: Invoice) -> None:
    """An UPDATE event about the invoice with nothing we write back changed."""
    from sandbox.db import atomic
    from sandbox.xero.writes import Event

    with atomic():
        sandbox_webhooks.queue_events(org, [Event("INVOICE", invoice.invoice_id, "UPDATE")])


def test_write_back_off_writes_nothing_and_reads_nothing(
    integration: Integration,
    webhooks: XeroOrganisation,
    eager: None,
    salesforce_writes: list[int],
    calls: Counter[str],
):
    opportunity, invoice = synced(integration)
    configure(integration, on=False)
    before = dict(calls)
    pay(invoice, Decimal("5.00"))
    assert dict(calls) == before  # not one Xero call for it
    assert salesforce_writes == []
    opportunity.refresh_from_db()
    assert opportunity.xero_amount_paid is None
    assert set(XeroWebhookEvent.objects.values_list("state", flat=True)) == {"ignored"}
    assert not WritebackState.objects.exists()


def test_events_of_another_organisation_or_document_are_ignored_quietly(
    integration: Integration, webhooks: XeroOrganisation, eager: None, salesforce_writes: list[int]
):
    synced(integration)
    configure(integration)
    # A document we never wrote: the demo's own invoices (Demo order ...), paid in Xero.
    theirs = Invoice.objects.filter(
        organisation=webhooks, reference__startswith="Demo order", status="AUTHORISED"
    ).first()
    assert theirs is not None
    entries = SyncLogEntry.objects.count()
    pay(theirs, Decimal("1.00"))
    # Another organisation nobody connected.
    other = XeroOrganisation.objects.exclude(pk=webhooks.pk).first()
    assert other is not None
    other.webhook_url, other.webhook_key = webhooks.webhook_url, webhooks.webhook_key
    other.save(update_fields=["webhook_url", "webhook_key"])
    foreign = Invoice.objects.filter(organisation=other, status="AUTHORISED").first()
    if foreign is not None:
        pay(foreign, Decimal("1.00"))
    assert XeroWebhookEvent.objects.filter(state="done").count() == 0
    assert XeroWebhookEvent.objects.filter(state="ignored").count() >= 2
    assert salesforce_writes == []
    assert SyncLogEntry.objects.count() == entries  # no log noise


def test_a_write_back_does_not_cause_a_sync_write_or_another_write_back(
    integration: Integration,
    webhooks: XeroOrganisation,
    eager: None,
    salesforce_writes: list[int],
    calls: Counter[str],
):
    """The write-back changes the opportunity (a new SystemModstamp, an Outbound Message in
    Salesforce): the sync reads it again and finds the same invoice — no Xero write, so no
    webhook, so no second write-back."""
    opportunity, invoice = synced(integration)
    configure(integration)
    stamp = opportunity.system_modstamp
    pay(invoice, Decimal("10.00"))
    opportunity.refresh_from_db()
    assert opportunity.system_modstamp > stamp
    assert salesforce_writes == [1]
    events = XeroWebhookEvent.objects.count()
    writes_before = sum(calls[m] for m in h.WRITES | {"create_payments", "create_credit_notes"})

    run = h.sync(integration)

    assert run.read_count >= 1  # it did see the opportunity changed
    writes_after = sum(calls[m] for m in h.WRITES | {"create_payments", "create_credit_notes"})
    assert writes_after == writes_before
    assert XeroWebhookEvent.objects.count() == events
    assert salesforce_writes == [1]
    assert not WritebackState.objects.filter(requested_at__isnull=False).exists()


def test_a_field_salesforce_will_not_let_us_write_is_configuration_required(
    integration: Integration, webhooks: XeroOrganisation, eager: None, salesforce_writes: list[int]
):
    opportunity, invoice = synced(integration)
    configure(integration)
    # An admin takes edit access to one field away from the connected user.
    SalesforceOrg.objects.filter(pk=opportunity.org_id).update(read_only_fields=["Xero_Status__c"])
    pay(invoice, Decimal("10.00"))
    opportunity.refresh_from_db()
    assert opportunity.xero_amount_paid is None  # refused whole: nothing half-written
    integration.refresh_from_db()
    assert "writeback" in paused_behaviours(integration)
    entry = SyncLogEntry.objects.get(integration=integration, step="writeback")
    assert entry.outcome == SyncLogEntry.Outcome.ATTENTION
    assert "INVALID_FIELD_FOR_INSERT_UPDATE" in entry.message
    # The news is kept; while paused the write-back waits (logged) and calls nobody.
    assert WritebackState.objects.filter(requested_at__isnull=False).count() == 1
    outcome = integration_writeback(integration_id=integration.pk)
    assert outcome.waiting.startswith("Write-back waits for its settings")
    assert salesforce_writes == [1]
    # Beat does not keep trying (and logging) while the settings hold it back.
    WritebackState.objects.update(requested_at=timezone.now() - dt.timedelta(minutes=5))
    assert writeback_due() == []

    # The configuration check sees the same from describe and names the field.
    problems = integration_check_configuration(integration_id=integration.pk, refresh=True)
    assert [p.field for p in problems if p.behaviour == "writeback"] == [
        "writeback_fields:xero_invoice_status"
    ]
    assert any("may not edit" in p.message for p in problems)
    # Access given back: the check clears the problem and the kept news is written.
    SalesforceOrg.objects.filter(pk=opportunity.org_id).update(read_only_fields=[])
    assert integration_check_configuration(integration_id=integration.pk, refresh=True) == []
    outcome = integration_writeback(integration_id=integration.pk)
    assert outcome.written == 1
    opportunity.refresh_from_db()
    assert opportunity.xero_amount_paid == Decimal("10.00")


def test_a_credit_note_maps_back_to_its_opportunity(
    integration: Integration, webhooks: XeroOrganisation, eager: None, salesforce_writes: list[int]
):
    """A credit note we raised (the opportunity was lost after invoicing) updates the
    opportunity's amounts through the ledger."""
    opportunity, invoice = synced(integration)
    configure(
        integration,
        credit_note_on_withdrawal=True,
        void_unpaid_instead=False,
    )
    h.sf_change(opportunity, stage_name="Closed Lost")
    h.sync(integration)
    assert CreditNote.objects.filter(organisation=webhooks).exists()
    assert XeroWebhookEvent.objects.filter(event_category="CREDITNOTE", state="done").exists()
    opportunity.refresh_from_db()
    invoice.refresh_from_db()
    assert opportunity.xero_amount_due == invoice.amount_due == Decimal("0.00")
    assert opportunity.xero_status == invoice.status


def test_beat_writes_back_what_a_lost_task_left(
    integration: Integration, webhooks: XeroOrganisation, salesforce_writes: list[int]
):
    """The database is the truth: news marked but never written (the task was lost) is
    queued again by the poll."""
    opportunity, _invoice = synced(integration)
    configure(integration)
    state = WritebackState.objects.create(
        ledger=h.ledger(integration, opportunity),
        integration=integration,
        requested_at=timezone.now() - dt.timedelta(minutes=5),
    )
    assert writeback_due() == [integration.pk]
    assert integration_writeback(integration_id=integration.pk).written == 1
    state.refresh_from_db()
    assert state.requested_at is None
    assert writeback_due() == []
    assert SyncConfig.from_json(integration.config).writeback_on


def test_a_create_event_ahead_of_the_recorded_answer_is_looked_at_again(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """Xero's CREATE webhook may arrive before the run has recorded Xero's answer: while a
    write is open the event waits a moment instead of being ignored."""
    from integrations.sync import writeback
    from integrations.sync.models import XeroOperation

    opportunity, invoice = synced(integration)
    configure(integration)
    retried: list[list[int]] = []
    monkeypatch.setattr(
        writeback, "enqueue_xero_webhook", lambda *, event_ids, countdown: retried.append(event_ids)
    )
    monkeypatch.setattr(writeback, "queue_writeback", lambda **kw: True)
    row = h.ledger(integration, opportunity)
    invoice_id = row.xero_invoice_id
    LedgerEntry.objects.filter(pk=row.pk).update(xero_invoice_id="")  # not recorded yet
    operation = XeroOperation.objects.create(
        integration=integration, kind="invoice", subject="x", state="sending"
    )
    assert integration.xero_connection is not None
    event = XeroWebhookEvent.objects.create(
        key="k1",
        tenant_id=integration.xero_connection.external_id,
        resource_id=invoice_id,
        event_category="INVOICE",
        event_type="CREATE",
        event_date=timezone.now(),
    )
    assert writeback.webhook_events_process(event_ids=[event.pk]) == []
    assert retried == [[event.pk]]
    event.refresh_from_db()
    assert event.state == "pending"
    # The run records the answer: the next look matches it.
    LedgerEntry.objects.filter(pk=row.pk).update(xero_invoice_id=invoice_id)
    XeroOperation.objects.filter(pk=operation.pk).update(state="done")
    assert writeback.webhook_events_process(event_ids=[event.pk]) == [integration.pk]
    event.refresh_from_db()
    assert event.state == "done"
    assert invoice.invoice_id


def test_beat_processes_stored_events_whose_task_was_lost(
    integration: Integration, webhooks: XeroOrganisation, eager: None
):
    """`make chaos` found it: webhook events stored (the delivery answered 200) whose processing
    task was lost — Redis restarted empty, or a killed worker held the message until the
    broker's visibility timeout — stayed pending for ever, and the payment never reached
    Salesforce. The stored event is the news: the poll queues it again."""
    opportunity, invoice = synced(integration)
    configure(integration)
    XeroOrganisation.objects.filter(pk=webhooks.pk).update(webhook_url="")
    pay(invoice)
    lost = XeroWebhookEvent.objects.create(
        key="lost-payment-event",
        tenant_id=str(webhooks.organisation_id),
        resource_id=str(invoice.invoice_id),
        event_category="INVOICE",
        event_type="UPDATE",
        event_date=timezone.now() - dt.timedelta(minutes=5),
        received_at=timezone.now() - dt.timedelta(minutes=5),
    )
    fresh = XeroWebhookEvent.objects.create(
        key="fresh-event",
        tenant_id=str(webhooks.organisation_id),
        resource_id=str(invoice.invoice_id),
        event_category="INVOICE",
        event_type="UPDATE",
        event_date=timezone.now(),
    )
    # Only the old one: a fresh one's task may be on its way.
    assert webhook_events_requeue_lost() == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.state, fresh.state) == ("done", "pending")
    opportunity.refresh_from_db()
    assert opportunity.xero_amount_paid == invoice.total
    assert webhook_events_requeue_lost() == 0

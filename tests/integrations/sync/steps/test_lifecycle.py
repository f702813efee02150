"""``steps.lifecycle``: opportunities that stopped counting (reopened, lost, deleted) read with
one queryAll since the lifecycle watermark; a row with nothing in Xero is withdrawn, one with an
invoice gets the news and its work in one transaction (or a person is told when credit notes for
withdrawals are off); ``explain_gone`` gives waiting rows Salesforce's reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from integrations.connections.salesforce.reader import ReadSpec
from integrations.core.models import Integration
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, PaymentEntry
from integrations.sync.steps import chunk, credit_notes, lifecycle
from tests.factories import AccountFactory
from tests.integrations.sync.steps.fakes import FakeSalesforce, FakeXero, sf_opportunity
from tests.integrations.sync.steps.rows import entries, invoiced, ledger, payment, sf_id

pytestmark = pytest.mark.django_db

State = LedgerEntry.State
WATERMARK = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC)
SPEC = ReadSpec()

GONE: dict[str, dict[str, Any]] = {
    "reopened": {"won": False, "closed": False, "stage": "Negotiation"},
    "lost": {"won": False, "closed": True, "stage": "Closed Lost"},
    "deleted": {"deleted": True},
}


def _watching(ctx: RunContext) -> None:
    ctx.integration.watermark = WATERMARK


def _row(ctx: RunContext) -> LedgerEntry:
    return ledger(ctx, state=State.PENDING, xero_invoice_id="", xero_invoice_number="")


def _reload(row: LedgerEntry) -> LedgerEntry:
    return LedgerEntry.objects.get(pk=row.pk)


def test_the_first_look_only_starts_the_watch(ctx: RunContext) -> None:
    source = FakeSalesforce()
    before = dt.datetime.now(dt.UTC)
    lifecycle.withdrawals(ctx, source, SPEC)
    assert source.queries == []
    stamp = Integration.objects.get(pk=ctx.integration.pk).lifecycle_watermark
    assert stamp is not None
    assert before - SPEC.overlap - dt.timedelta(seconds=5) <= stamp <= before


@pytest.mark.parametrize("reason", list(GONE))
def test_a_row_with_nothing_in_xero_is_withdrawn(ctx: RunContext, reason: str) -> None:
    _watching(ctx)
    row = _row(ctx)
    scheduled = payment(ctx, row, state=PaymentEntry.State.PLANNED)
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE[reason]))
    lifecycle.withdrawals(ctx, source, SPEC)
    ((soql, include_deleted),) = source.queries
    assert include_deleted
    # Since the watermark, less the overlap.
    assert "SystemModstamp >= 2026-03-02T10:25:00Z" in soql
    row = _reload(row)
    assert (row.state, row.withdrawn) == (State.WITHDRAWN, reason)
    assert row.withdrawn_at is not None
    assert PaymentEntry.objects.get(pk=scheduled.pk).state == PaymentEntry.State.CANCELLED
    assert not CreditNoteEntry.objects.filter(ledger=row).exists()
    (logged,) = entries(ctx)
    assert logged.outcome == "skipped"
    assert "nothing was sent to Xero" in logged.message
    assert ctx.run.skipped_count == 1
    stamp = Integration.objects.get(pk=ctx.integration.pk).lifecycle_watermark
    assert stamp == dt.datetime(2026, 3, 2, 10, 40, tzinfo=dt.UTC)


@pytest.mark.parametrize("reason", list(GONE))
def test_an_invoiced_row_gets_its_news_and_work_once(
    ctx: RunContext, xero: FakeXero, reason: str
) -> None:
    _watching(ctx)
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True)
    row = invoiced(ctx, xero, xero.add_invoice())
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE[reason]))
    lifecycle.withdrawals(ctx, source, SPEC)
    row = _reload(row)
    assert (row.state, row.withdrawn) == (State.SYNCED, reason)
    (work,) = CreditNoteEntry.objects.filter(ledger=row)
    assert (work.reason, work.state) == ("withdrawn", "pending")
    (logged,) = entries(ctx)
    assert logged.outcome == "warning"
    assert "after its invoice was sent" in logged.message
    # Read again through the overlap window: nothing new.
    lifecycle.withdrawals(ctx, source, SPEC)
    assert CreditNoteEntry.objects.filter(ledger=row).count() == 1
    assert len(entries(ctx)) == 1


def test_the_news_and_the_withdrawal_are_one_transaction(
    ctx: RunContext, xero: FakeXero, monkeypatch: pytest.MonkeyPatch
) -> None:
    _watching(ctx)
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True)
    row = invoiced(ctx, xero, xero.add_invoice())
    scheduled = payment(ctx, row)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker died")

    monkeypatch.setattr(lifecycle, "record_news", crash)
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["lost"]))
    with pytest.raises(RuntimeError):
        lifecycle.withdrawals(ctx, source, SPEC)
    # Nothing half-recorded: the next look sees the withdrawal as new.
    assert _reload(row).withdrawn == ""
    assert PaymentEntry.objects.get(pk=scheduled.pk).state == PaymentEntry.State.SCHEDULED


def test_an_invoiced_row_needs_a_person_when_withdrawals_are_not_credited(
    ctx: RunContext, xero: FakeXero
) -> None:
    _watching(ctx)
    row = invoiced(ctx, xero, xero.add_invoice())
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["lost"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    row = _reload(row)
    assert (row.state, row.withdrawn) == (State.NEEDS_ATTENTION, "lost")
    assert row.last_error.startswith("Opportunity 'Big Deal' was closed lost (Closed Lost) after")
    assert not CreditNoteEntry.objects.filter(ledger=row).exists()
    assert entries(ctx)[0].outcome == "attention"


def test_a_row_being_settled_is_only_marked_when_withdrawals_are_not_credited(
    ctx: RunContext,
) -> None:
    _watching(ctx)
    row = ledger(ctx, state=State.UNKNOWN)
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["deleted"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    row = _reload(row)
    assert (row.state, row.withdrawn) == (State.UNKNOWN, "deleted")
    assert not CreditNoteEntry.objects.filter(ledger=row).exists()


def test_a_row_being_settled_gets_its_news_when_withdrawals_are_credited(
    ctx: RunContext,
) -> None:
    _watching(ctx)
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True)
    row = ledger(ctx, state=State.SENDING)
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["lost"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    row = _reload(row)
    assert (row.state, row.withdrawn) == (State.SENDING, "lost")
    assert CreditNoteEntry.objects.filter(ledger=row, state="pending").count() == 1


def test_opportunities_still_won_and_other_integrations_rows_are_left_alone(
    ctx: RunContext,
) -> None:
    _watching(ctx)
    won = _row(ctx)
    other_account = AccountFactory.create()
    other = Integration.objects.create(account=other_account, name="Other")
    theirs = LedgerEntry.objects.create(
        integration=other, salesforce_id=sf_id(), state=State.PENDING
    )
    source = FakeSalesforce(
        sf_opportunity(won.salesforce_id, minute=40),
        sf_opportunity(theirs.salesforce_id, minute=41, **GONE["lost"]),
    )
    lifecycle.withdrawals(ctx, source, SPEC)
    assert (_reload(won).state, _reload(won).withdrawn) == (State.PENDING, "")
    assert (_reload(theirs).state, _reload(theirs).withdrawn) == (State.PENDING, "")


def test_explain_gone_reads_salesforces_reason_or_takes_it_as_deleted(ctx: RunContext) -> None:
    lost, vanished = _row(ctx), _row(ctx)
    source = FakeSalesforce(sf_opportunity(lost.salesforce_id, **GONE["lost"]))
    lifecycle.explain_gone(ctx, source, [lost.salesforce_id, vanished.salesforce_id])
    ((soql, include_deleted),) = source.queries
    assert include_deleted
    assert lost.salesforce_id in soql
    assert vanished.salesforce_id in soql
    assert (_reload(lost).state, _reload(lost).withdrawn) == (State.WITHDRAWN, "lost")
    assert (_reload(vanished).state, _reload(vanished).withdrawn) == (State.WITHDRAWN, "deleted")
    messages = [e.message for e in entries(ctx)]
    assert any("was closed lost (Closed Lost)" in m for m in messages)
    assert any("was deleted in Salesforce" in m for m in messages)


def test_a_second_withdrawal_of_a_credited_invoice_needs_nothing_more(
    ctx: RunContext, xero: FakeXero
) -> None:
    _watching(ctx)
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True, void_unpaid_instead=False)
    row = invoiced(ctx, xero, xero.add_invoice())
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["lost"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    credit_notes.act(ctx)
    assert len(xero.credit_notes) == 1
    assert xero.invoice(row.xero_invoice_id).amount_due == 0
    assert _reload(row).state == State.SYNCED
    # Lost, then deleted in Salesforce.
    source.add(sf_opportunity(row.salesforce_id, minute=50, **GONE["deleted"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    credit_notes.act(ctx)
    assert len(xero.credit_notes) == 1
    row = _reload(row)
    assert "partly credited" not in row.last_error
    assert row.state == State.SYNCED


def test_a_waiting_invoiced_row_withdrawn_gets_its_invoice_voided(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True)
    row = invoiced(ctx, xero, xero.add_invoice(), state=State.PENDING)
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, **GONE["lost"]))
    for _ in range(2):
        # Each run: the waiting row re-read, then the credit-notes step.
        lifecycle.explain_gone(ctx, source, [row.salesforce_id])
        credit_notes.act(ctx)
    assert xero.invoices[row.xero_invoice_id]["Status"] == "VOIDED"
    assert _reload(row).state != State.PENDING


def test_lost_again_after_counting_again_before_its_void_records_the_news_anew(
    ctx: RunContext, xero: FakeXero
) -> None:
    _watching(ctx)
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True, void_unpaid_instead=True)
    row = invoiced(ctx, xero, xero.add_invoice())
    source = FakeSalesforce(sf_opportunity(row.salesforce_id, minute=40, **GONE["lost"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    # Won again before the credit-notes step acted: that news is old news.
    chunk.won_again(ctx, _reload(row))
    source.add(sf_opportunity(row.salesforce_id, minute=50, **GONE["lost"]))
    lifecycle.withdrawals(ctx, source, SPEC)
    pending = CreditNoteEntry.objects.filter(ledger=row, state=CreditNoteEntry.State.PENDING)
    assert pending.count() == 1
    credit_notes.act(ctx)
    assert xero.invoices[row.xero_invoice_id]["Status"] == "VOIDED"


def test_a_deal_still_won_but_no_longer_invoiced_is_not_called_reopened(ctx: RunContext) -> None:
    row = _row(ctx)
    source = FakeSalesforce(
        sf_opportunity(row.salesforce_id, won=True, closed=True, stage="Closed Won - Renewal")
    )
    lifecycle.explain_gone(ctx, source, [row.salesforce_id])
    (logged,) = entries(ctx)
    assert "moved to stage Closed Won - Renewal, which this integration does not invoice" in (
        logged.message
    )
    assert "reopened" not in logged.message

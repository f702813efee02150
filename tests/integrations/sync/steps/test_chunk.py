"""``steps.chunk``: planning a chunk of opportunities and the rows that are not sent.

A rule problem makes a row wait with one log entry (not one per run), a payment method that is
not invoiced skips it, a translation error fails it, unchanged content and rows being settled
make no call; a chunk that is sent goes organisation → contacts → items → invoices. And the
regression: a row a run holds in memory while a person's retry bumps its ``generation``
(``services.ledger_retry``) keeps the new generation whatever the run saves (``wait``,
``won_again``, not invoiced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from integrations.connections.salesforce.records import Opportunity
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, XeroOperation
from integrations.sync.services import ledger_retry
from integrations.sync.steps import chunk, credit_notes, invoices
from integrations.sync.steps.chunk import CONFIGURATION_REQUIRED, process_chunk
from tests.integrations.rules.data import opportunity
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, invoiced, ledger, news, sf_id

pytestmark = pytest.mark.django_db

State = LedgerEntry.State
SHOP = PaymentMethodSpec(name="Paid in shop", create_invoice=False)


def _opportunity(**changes: Any) -> Opportunity:
    return opportunity(salesforce_id=sf_id(), **changes)


def _row(ctx: RunContext, o: Opportunity) -> LedgerEntry:
    return LedgerEntry.objects.get(integration=ctx.integration, salesforce_id=o.salesforce_id)


def _generation(row: LedgerEntry) -> int:
    return LedgerEntry.objects.values_list("generation", flat=True).get(pk=row.pk)


# --- a chunk sent --------------------------------------------------------------------------


def test_a_new_opportunity_goes_out_with_its_contact_and_item_first(
    ctx: RunContext, xero: FakeXero
) -> None:
    o = _opportunity()
    process_chunk(ctx, [o])
    assert [c.method for c in xero.log if c.bodies] == [
        "write_contacts",
        "create_items",
        "write_invoices",
    ]
    (contact,) = xero.contacts.values()
    (body,) = xero.sent("write_invoices")
    # Addressed to the contact just created, by its id.
    assert body["Contact"] == {"ContactID": contact["ContactID"]}
    assert [line["ItemCode"] for line in body["LineItems"]] == ["WIDGET"]
    row = _row(ctx, o)
    assert (row.state, row.xero_invoice_id) == (State.SYNCED, next(iter(xero.invoices)))
    assert [e.outcome for e in entries(ctx)] == ["created"]


def test_unchanged_content_makes_no_call(ctx: RunContext, xero: FakeXero) -> None:
    o = _opportunity()
    process_chunk(ctx, [o])
    calls = len(xero.log)
    process_chunk(ctx, [o])
    assert len(xero.log) == calls
    assert ctx.run.skipped_count == 1


@pytest.mark.parametrize("state", [State.UNKNOWN, State.SENDING])
def test_a_row_being_settled_is_never_sent(ctx: RunContext, xero: FakeXero, state: str) -> None:
    o = _opportunity()
    ledger(ctx, salesforce_id=o.salesforce_id, state=state)
    process_chunk(ctx, [o])
    assert xero.log == []
    assert _row(ctx, o).state == state


# --- rows that are not sent ------------------------------------------------------------------


def test_a_rule_problem_waits_with_one_log_entry_not_one_per_run(
    ctx: RunContext, xero: FakeXero
) -> None:
    o = _opportunity(currency="JPY")
    for _ in range(3):
        process_chunk(ctx, [o])
    row = _row(ctx, o)
    assert (row.state, row.content_hash) == (State.PENDING, "")
    assert "JPY, which is not enabled" in row.last_error
    (entry,) = entries(ctx)
    assert (entry.outcome, entry.ledger_id, entry.message) == ("attention", row.pk, row.last_error)
    assert xero.log == []


def test_a_different_problem_is_told_again(ctx: RunContext) -> None:
    o = _opportunity(currency="JPY")
    process_chunk(ctx, [o])
    process_chunk(ctx, [replace(o, currency="CHF")])
    assert [("JPY" in e.message, "CHF" in e.message) for e in entries(ctx)] == [
        (True, False),
        (False, True),
    ]


def test_a_payment_method_not_invoiced_skips_the_opportunity(
    ctx: RunContext, xero: FakeXero
) -> None:
    o = _opportunity(currency="JPY")
    # It waited on a rule before: that entry no longer needs a person.
    process_chunk(ctx, [o])
    ctx.config = replace(ctx.config, default_payment_method="Paid in shop")
    ctx.rules = RuleSet(payment_methods=(SHOP,))
    process_chunk(ctx, [o])
    process_chunk(ctx, [o])
    assert _row(ctx, o).state == State.NOT_INVOICED
    attention, skipped = entries(ctx)
    assert attention.dismissed_at is not None
    assert skipped.outcome == "skipped"
    assert "'Paid in shop', which is set not to create invoices" in skipped.message
    assert ctx.run.skipped_count == 2
    assert xero.log == []


def test_a_method_not_invoiced_after_invoicing_needs_a_person(ctx: RunContext) -> None:
    ctx.config = replace(ctx.config, default_payment_method="Paid in shop")
    ctx.rules = RuleSet(payment_methods=(SHOP,))
    o = _opportunity()
    ledger(ctx, salesforce_id=o.salesforce_id, xero_invoice_id="inv-1", xero_invoice_number="INV-1")
    process_chunk(ctx, [o])
    row = _row(ctx, o)
    assert row.state == State.NEEDS_ATTENTION
    assert "invoice INV-1 already exists: void it in Xero" in row.last_error
    assert [e.outcome for e in entries(ctx)] == ["attention"]


def test_a_record_that_cannot_be_translated_fails_with_the_reason(
    ctx: RunContext, xero: FakeXero
) -> None:
    o = _opportunity(close_date=None)
    process_chunk(ctx, [o])
    row = _row(ctx, o)
    assert row.state == State.FAILED
    (entry,) = entries(ctx)
    assert (entry.outcome, entry.message) == ("failed", row.last_error)
    assert "has no Close Date" in entry.message
    assert ctx.run.failed_count == 1
    assert xero.log == []


def test_invoices_on_hold_wait_for_the_configuration(ctx: RunContext, xero: FakeXero) -> None:
    ctx.paused = frozenset({"invoices"})
    o = _opportunity()
    process_chunk(ctx, [o])
    assert (_row(ctx, o).state, _row(ctx, o).last_error) == (State.PENDING, CONFIGURATION_REQUIRED)
    assert [e.message for e in entries(ctx)] == [CONFIGURATION_REQUIRED]
    assert xero.log == []


# --- won again -------------------------------------------------------------------------------


def test_won_again_before_invoicing_is_pending_again(ctx: RunContext) -> None:
    row = ledger(ctx, state=State.WITHDRAWN, withdrawn="lost", content_hash="old")
    chunk.won_again(ctx, row)
    row.refresh_from_db()
    assert (row.state, row.withdrawn, row.content_hash, row.generation) == (
        State.PENDING,
        "",
        "",
        0,
    )


def test_won_again_after_a_void_invoices_anew_under_a_new_key(
    ctx: RunContext, xero: FakeXero
) -> None:
    row = invoiced(ctx, xero, xero.add_invoice(status="VOIDED"), withdrawn="reopened")
    done = news(ctx, row, state=CreditNoteEntry.State.DONE, action="voided")
    chunk.won_again(ctx, row)
    row.refresh_from_db()
    assert (row.state, row.xero_invoice_id, row.xero_invoice_number) == (State.PENDING, "", "")
    assert row.generation == 1
    done.refresh_from_db()
    assert done.superseded
    (entry,) = entries(ctx)
    assert entry.outcome == "warning"
    assert "was voided or credited then, so a new invoice is created" in entry.message


def test_won_again_cancels_news_not_acted_on(ctx: RunContext, xero: FakeXero) -> None:
    row = invoiced(ctx, xero, xero.add_invoice(), withdrawn="reopened")
    pending = news(ctx, row)
    chunk.won_again(ctx, row)
    pending.refresh_from_db()
    assert (pending.state, pending.superseded) == (CreditNoteEntry.State.CANCELLED, True)
    row.refresh_from_db()
    assert (row.state, row.withdrawn, row.xero_invoice_id) == (
        State.SYNCED,
        "",
        row.xero_invoice_id,
    )


def test_won_again_after_needing_a_person_stands_as_it_is(ctx: RunContext, xero: FakeXero) -> None:
    row = invoiced(ctx, xero, xero.add_invoice(), withdrawn="lost", state=State.NEEDS_ATTENTION)
    ctx.log("attention", "was lost after its invoice", ledger=row)
    ctx.flush_logs()
    chunk.won_again(ctx, row)
    row.refresh_from_db()
    assert (row.state, row.last_error) == (State.SYNCED, "")
    told, resolved = entries(ctx)
    assert told.dismissed_at is not None
    assert resolved.outcome == "updated"
    assert "stands as it is" in resolved.message


def test_won_again_while_its_void_waits_does_not_void_the_invoice(
    ctx: RunContext, xero: FakeXero
) -> None:
    invoice_id = xero.add_invoice()
    row = invoiced(ctx, xero, invoice_id, withdrawn="reopened")
    pending = news(ctx, row, action="voided")
    # Planned by the credit-notes step of an earlier run that was stopped (a 429) before
    # sending it.
    XeroOperation.objects.create(
        integration=ctx.integration,
        kind=XeroOperation.Kind.VOID,
        subject=str(pending.pk),
        state=XeroOperation.State.WAITING,
        body={"InvoiceID": invoice_id, "Status": "VOIDED"},
        lookup={"invoice_id": invoice_id, "status": "VOIDED"},
        ledger=row,
        credit_note=pending,
    )
    chunk.won_again(ctx, row)
    credit_notes.act(ctx)
    assert xero.sent("write_invoices") == []
    assert xero.invoice(invoice_id).status == "AUTHORISED"


# --- a person's retry while the run holds the row ----------------------------------------------


def _retry_during_decide(
    monkeypatch: pytest.MonkeyPatch, row: LedgerEntry, then: Callable[[], Any]
) -> None:
    """A person presses "retry" while the run, holding ``row`` in memory, applies the rules."""
    real = chunk.decide  # type: ignore[attr-defined]

    def deciding(*args: Any, **kwargs: Any) -> Any:
        ledger_retry(entry_id=row.pk)
        then()
        return real(*args, **kwargs)

    monkeypatch.setattr(chunk, "decide", deciding)


def test_a_retry_meanwhile_survives_a_rule_problem(
    ctx: RunContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = _opportunity()
    row = ledger(ctx, salesforce_id=o.salesforce_id, state=State.FAILED, last_error="refused")

    def problem() -> None:
        raise RuleProblem("tax_rules", "No tax rule matches.")

    _retry_during_decide(monkeypatch, row, problem)
    process_chunk(ctx, [o])
    assert _generation(row) == 1
    assert _row(ctx, o).last_error == "No tax rule matches."


def test_a_retry_meanwhile_survives_not_invoiced(
    ctx: RunContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.config = replace(ctx.config, default_payment_method="Paid in shop")
    ctx.rules = RuleSet(payment_methods=(SHOP,))
    o = _opportunity()
    row = ledger(ctx, salesforce_id=o.salesforce_id, state=State.FAILED)
    _retry_during_decide(monkeypatch, row, lambda: None)
    process_chunk(ctx, [o])
    assert _generation(row) == 1
    assert _row(ctx, o).state == State.NOT_INVOICED


def test_a_retry_meanwhile_survives_chunk_wait(ctx: RunContext) -> None:
    row = ledger(ctx, state=State.FAILED)
    held = LedgerEntry.objects.get(pk=row.pk)
    ledger_retry(entry_id=row.pk)
    invoices.wait(ctx, held, "Tax rate TAX008 is archived.")
    assert _generation(row) == 1


def test_a_retry_meanwhile_survives_won_again(ctx: RunContext) -> None:
    row = ledger(ctx, state=State.WITHDRAWN, withdrawn="reopened")
    held = LedgerEntry.objects.get(pk=row.pk)
    ledger_retry(entry_id=row.pk)
    chunk.won_again(ctx, held)
    assert _generation(row) == 1


def test_a_retry_meanwhile_and_won_again_after_a_void_both_count(
    ctx: RunContext, xero: FakeXero
) -> None:
    row = invoiced(ctx, xero, xero.add_invoice(status="VOIDED"), withdrawn="deleted")
    news(ctx, row, state=CreditNoteEntry.State.DONE, action="voided")
    held = LedgerEntry.objects.get(pk=row.pk)
    ledger_retry(entry_id=row.pk)
    chunk.won_again(ctx, held)
    # Two new keys asked for: neither may reuse the other's (or the voided invoice's).
    assert _generation(row) == 2
    assert held.generation == 2

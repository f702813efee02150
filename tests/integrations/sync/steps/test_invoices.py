"""``steps.invoices``: a chunk's invoices as one create and one update request, what is planned
with them (payments, negative lines' credit notes), updates refused once an invoice is paid
("changed after payment" needs a person; a fall in amount becomes credit news), refusals,
rate limits and lost answers, and Idempotency-Keys that change only with the content or the
row's generation."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.ratelimit import Priority
from integrations.connections.salesforce.records import LineItem, Opportunity
from integrations.connections.xero.client import XeroRateLimited
from integrations.connections.xero.records import ms_date
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import (
    ContactLink,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    XeroOperation,
)
from integrations.sync.protocol import Stop
from integrations.sync.steps import invoices
from integrations.sync.steps.chunk import Work
from tests.integrations.rules.data import opportunity
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, invoiced, payment, sf_id, work

pytestmark = pytest.mark.django_db

D = Decimal
State = LedgerEntry.State
CARD = PaymentMethodSpec(name="Card", apply_payment=True, bank_account_code="090")


def _line(code: str, price: str, quantity: str = "1") -> LineItem:
    return LineItem(
        salesforce_id=sf_id("00k"),
        product_id=sf_id("01t"),
        product_code=code,
        product_name=code.title(),
        description="",
        quantity=D(quantity),
        unit_price=D(price),
        total_price=D(price) * D(quantity),
    )


def _deal(*lines: LineItem, **changes: object) -> Opportunity:
    return opportunity(salesforce_id=sf_id(), lines=lines or (_line("WIDGET", "100"),), **changes)


def _ready(
    ctx: RunContext, xero: FakeXero, o: Opportunity, *, row: LedgerEntry | None = None
) -> Work:
    """A work item whose contact the contacts step found."""
    w = work(ctx, o, row=row)
    number = w.contact.contact_number
    known = [c for c, raw in xero.contacts.items() if raw["ContactNumber"] == number]
    w.contact_id = known[0] if known else xero.add_contact(w.contact.name, number=number)
    return w


def _row(w: Work) -> LedgerEntry:
    return LedgerEntry.objects.get(pk=w.ledger.pk)


# --- creating ----------------------------------------------------------------------------------


def test_new_invoices_go_out_in_one_create_request(ctx: RunContext, xero: FakeXero) -> None:
    works = [_ready(ctx, xero, _deal(name=f"Deal {n}")) for n in range(3)]
    invoices.send(ctx, works)
    (call,) = xero.calls_of("write_invoices")
    assert (call.args["create"], call.args["priority"]) == (True, Priority.NEW)
    body = call.bodies[0]
    assert body["Contact"] == {"ContactID": works[0].contact_id}
    assert (body["Date"], body["DueDate"]) == (
        ms_date(dt.date(2026, 3, 2)),
        ms_date(dt.date(2026, 4, 1)),
    )
    assert body["LineItems"] == [
        {
            "Description": "Widget",
            "Quantity": D("1.0000"),
            "UnitAmount": D("100.0000"),
            "ItemCode": "WIDGET",
            "AccountCode": "200",
        }
    ]
    for w in works:
        row = _row(w)
        assert row.state == State.SYNCED
        assert xero.invoice(row.xero_invoice_id).reference == w.opportunity.name
        assert row.xero_contact_id == w.contact_id
    assert ctx.run.created_count == 3
    first = entries(ctx)[0]
    assert (first.outcome, first.step) == ("created", "invoice")
    assert first.message.endswith("created for Acme Corporation, 1 line, USD 100.00")


def test_a_payment_is_planned_with_the_invoice_and_scheduled_once_it_exists(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, default_payment_method="Card")
    ctx.rules = RuleSet(payment_methods=(replace(CARD, clearing_delay_days=3),))
    planned: list[str] = []
    real = xero.write_invoices

    def seeing(bodies: list[dict[str, object]], **kwargs: object) -> object:
        # What the database holds while the request is in flight.
        planned.extend(PaymentEntry.objects.values_list("state", flat=True))
        return real(bodies, **kwargs)  # type: ignore[arg-type]

    xero.write_invoices = seeing  # type: ignore[assignment,method-assign]
    w = _ready(ctx, xero, _deal(_line("WIDGET", "60", "2")))
    invoices.send(ctx, [w])
    assert planned == ["planned"]
    (scheduled,) = PaymentEntry.objects.filter(ledger=w.ledger)
    assert (scheduled.state, scheduled.amount, scheduled.account_code, scheduled.pay_on) == (
        "scheduled",
        D("120.00"),
        "090",
        dt.date(2026, 3, 5),
    )


def test_a_refused_invoice_fails_with_xeros_words_and_its_plans_go(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, default_payment_method="Card")
    ctx.rules = RuleSet(payment_methods=(CARD,))
    xero.refuse("write_invoices", "Account code '200' is not a valid code.")
    w = _ready(ctx, xero, _deal())
    link = ContactLink.objects.create(
        integration=ctx.integration,
        contact_number="001-acme",
        xero_contact_id=w.contact_id,
        name="Acme",
        verified_at=timezone.now() - dt.timedelta(seconds=1),
    )
    invoices.send(ctx, [w])
    row = _row(w)
    assert row.state == State.FAILED
    # The contact may be why: the next try looks it up again.
    assert not ContactLink.objects.filter(pk=link.pk).exists()
    assert row.last_error == "Xero refused the invoice: Account code '200' is not a valid code."
    assert not PaymentEntry.objects.filter(ledger=row).exists()
    (entry,) = entries(ctx)
    assert (entry.outcome, entry.message) == ("failed", row.last_error)
    assert ctx.run.failed_count == 1


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("Currency JPY could not be enabled in Xero: no", "Currency JPY could not be enabled"),
        ("", "No Xero contact could be matched or created."),
    ],
)
def test_work_with_a_problem_fails_without_a_call(
    ctx: RunContext, xero: FakeXero, problem: str, expected: str
) -> None:
    w = work(ctx, _deal())
    w.problem = problem
    invoices.send(ctx, [w])
    assert xero.log == []
    row = _row(w)
    assert (row.state, row.content_hash) == (State.FAILED, w.hash)
    assert row.last_error.startswith(expected)


def test_negative_lines_kept_apart_get_their_credit_note_news_once_invoiced(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, negative_lines="credit_note")
    w = _ready(ctx, xero, _deal(_line("WIDGET", "100"), _line("WIDGET", "100", "-1")))
    invoices.send(ctx, [w])
    (body,) = xero.sent("write_invoices")
    assert len(body["LineItems"]) == 1
    (credit,) = CreditNoteEntry.objects.filter(ledger=w.ledger)
    assert (credit.reason, credit.state, credit.action) == (
        "negative_lines",
        "pending",
        "credit_note",
    )
    assert [(line["quantity"], line["unit_amount"]) for line in credit.lines] == [
        ("1.0000", "100.0000")
    ]
    # Named after the invoice now it exists: the same return is never credited twice.
    assert credit.content_hash == invoices.negative_news(_row(w), credit.lines)


# --- keys, rate limits, lost answers ---------------------------------------------------------


def test_the_same_documents_go_again_under_the_same_key_until_the_generation_changes(
    ctx: RunContext, xero: FakeXero
) -> None:
    o = _deal()
    xero.fail_next("write_invoices", XeroRateLimited("limit", retry_after=5, problem="minute"))
    with pytest.raises(Stop) as stopped:
        invoices.send(ctx, [_ready(ctx, xero, o)])
    assert stopped.value.retry_after == 5
    row = LedgerEntry.objects.get(salesforce_id=o.salesforce_id)
    assert row.state == State.PENDING
    (waiting,) = entries(ctx)
    assert (waiting.outcome, waiting.ledger_id) == ("waiting", row.pk)
    assert "It is sent again once Xero allows." in waiting.message
    xero.fail_next("write_invoices", XeroRateLimited("limit", retry_after=5, problem="minute"))
    with pytest.raises(Stop):
        invoices.send(ctx, [_ready(ctx, xero, o, row=row)])
    # A person's retry: a new key, so Xero does not replay its stored answer.
    LedgerEntry.objects.filter(pk=row.pk).update(generation=1)
    row.refresh_from_db()
    invoices.send(ctx, [_ready(ctx, xero, o, row=row)])
    first, again, retried = xero.calls_of("write_invoices")
    assert first.key == again.key
    assert retried.key != first.key
    assert first.bodies == retried.bodies


def test_a_lost_answer_is_found_by_reference_and_contact(ctx: RunContext, xero: FakeXero) -> None:
    ctx.config = replace(ctx.config, default_payment_method="Card")
    ctx.rules = RuleSet(payment_methods=(CARD,))
    xero.add_invoice(reference="Big Deal", contact_id="someone-else")
    xero.short_next("write_invoices", keep=0)
    w = _ready(ctx, xero, _deal(name="Big Deal"))
    invoices.send(ctx, [w])
    assert _row(w).state == State.UNKNOWN
    protocol.settle(ctx)
    row = _row(w)
    created = [i for i, raw in xero.invoices.items() if raw["Contact"]["ContactID"] == w.contact_id]
    assert (row.state, [row.xero_invoice_id]) == (State.SYNCED, created)
    assert PaymentEntry.objects.get(ledger=row).state == "scheduled"
    assert "found in Xero after an interrupted send" in entries(ctx)[-1].message
    assert len(xero.calls_of("write_invoices")) == 1


def test_found_after_a_lost_answer_but_withdrawn_meanwhile_needs_a_person(
    ctx: RunContext, xero: FakeXero
) -> None:
    xero.short_next("write_invoices", keep=0)
    w = _ready(ctx, xero, _deal())
    invoices.send(ctx, [w])
    LedgerEntry.objects.filter(pk=w.ledger.pk).update(withdrawn="lost")
    protocol.settle(ctx)
    row = _row(w)
    assert row.state == State.NEEDS_ATTENTION
    assert "the opportunity was closed lost meanwhile" in row.last_error
    assert entries(ctx)[-1].outcome == "attention"


# --- updating ------------------------------------------------------------------------------


def test_changes_to_unpaid_invoices_go_out_in_one_update_request(
    ctx: RunContext, xero: FakeXero
) -> None:
    rows = [invoiced(ctx, xero, xero.add_invoice(status=s)) for s in ("DRAFT", "AUTHORISED")]
    works = [_ready(ctx, xero, _deal(_line("WIDGET", "80")), row=row) for row in rows]
    invoices.send(ctx, works)
    read, write = xero.log[0], xero.log[-1]
    assert (read.method, read.args["priority"]) == ("invoices_by_id", Priority.UPDATE)
    assert (write.args["create"], write.args["priority"]) == (False, Priority.UPDATE)
    assert [b["InvoiceID"] for b in write.bodies] == [r.xero_invoice_id for r in rows]
    assert {xero.invoice(r.xero_invoice_id).total for r in rows} == {D("80.00")}
    assert ctx.run.updated_count == 2
    assert [e.outcome for e in entries(ctx)] == ["updated", "updated"]


def test_an_update_moves_the_unpaid_scheduled_payment_to_the_new_total(
    ctx: RunContext, xero: FakeXero
) -> None:
    row = invoiced(ctx, xero, xero.add_invoice())
    scheduled = payment(ctx, row, amount=D("100.00"))
    invoices.send(ctx, [_ready(ctx, xero, _deal(_line("WIDGET", "75.5")), row=row)])
    scheduled.refresh_from_db()
    assert scheduled.amount == D("75.50")


@pytest.mark.parametrize(
    ("status", "paid"),
    [("PAID", D("100")), ("AUTHORISED", D("10")), ("VOIDED", D(0)), ("MISSING", D(0))],
)
def test_a_paid_or_closed_invoice_is_not_changed_a_person_is_told(
    ctx: RunContext, xero: FakeXero, status: str, paid: Decimal
) -> None:
    invoice_id = xero.add_invoice(paid=paid, status="AUTHORISED" if status == "MISSING" else status)
    row = invoiced(ctx, xero, invoice_id)
    if status == "MISSING":
        del xero.invoices[invoice_id]
    w = _ready(ctx, xero, _deal(_line("WIDGET", "120")), row=row)
    invoices.send(ctx, [w])
    assert xero.sent("write_invoices") == []
    row.refresh_from_db()
    assert (row.state, row.content_hash) == (State.NEEDS_ATTENTION, w.hash)
    assert row.last_error.startswith("Changed after payment:")
    assert f"(status {status}, paid {paid:,.2f})" in row.last_error
    (entry,) = entries(ctx)
    assert (entry.outcome, entry.message) == ("attention", row.last_error)


def _paid_invoice(xero: FakeXero) -> str:
    return xero.add_invoice(
        status="PAID",
        paid=D("150.00"),
        lines=[
            {
                "Description": "Widget",
                "Quantity": D(1),
                "UnitAmount": D(100),
                "AccountCode": "200",
                "TaxType": "TAX001",
            },
            {
                "Description": "Setup",
                "Quantity": D(1),
                "UnitAmount": D(50),
                "AccountCode": "400",
                "TaxType": "NONE",
            },
        ],
    )


def test_an_amount_drop_after_payment_is_recorded_as_credit_news(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, credit_note_on_amount_drop=True)
    row = invoiced(ctx, xero, _paid_invoice(xero), state=State.NEEDS_ATTENTION)
    ctx.log("attention", "Changed after payment: ...", ledger=row)
    ctx.flush_logs()
    o = _deal(_line("WIDGET", "70"))
    w = _ready(ctx, xero, o, row=row)
    # The setup fee is gone from the opportunity, the widget cheaper.
    invoices.send(ctx, [w])
    assert xero.sent("write_invoices") == []
    row.refresh_from_db()
    assert (row.state, row.content_hash, row.last_error) == (State.SYNCED, w.hash, "")
    (credit,) = CreditNoteEntry.objects.filter(ledger=row)
    assert (credit.reason, credit.state, credit.action) == ("amount_drop", "pending", "credit_note")
    assert sorted(
        (line["account_code"], line["tax_type"], line["unit_amount"]) for line in credit.lines
    ) == [("200", "TAX001", "30.00"), ("400", "NONE", "50.00")]
    assert entries(ctx)[0].dismissed_at is not None
    # The same opportunity read again: the same news, never a second credit.
    invoices.send(ctx, [_ready(ctx, xero, o, row=row)])
    assert CreditNoteEntry.objects.filter(ledger=row).count() == 1


def test_a_drop_with_earlier_credits_credits_only_what_is_new(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, credit_note_on_amount_drop=True)
    invoice_id = xero.add_invoice(status="PAID", paid=D(100))
    row = invoiced(ctx, xero, invoice_id)
    CreditNoteEntry.objects.create(
        integration=ctx.integration,
        ledger=row,
        reason="amount_drop",
        content_hash="earlier",
        state="done",
        lines=[{"account_code": "200", "tracking": [], "quantity": "1", "unit_amount": "20.00"}],
    )
    invoices.send(ctx, [_ready(ctx, xero, _deal(_line("WIDGET", "70")), row=row)])
    new = CreditNoteEntry.objects.exclude(content_hash="earlier").get(ledger=row)
    assert [line["unit_amount"] for line in new.lines] == ["10.00"]


@pytest.mark.parametrize(
    ("config", "lines", "paused"),
    [
        ({"credit_note_on_amount_drop": False}, [("WIDGET", "70")], frozenset[str]()),
        ({"credit_note_on_amount_drop": True}, [("WIDGET", "120")], frozenset[str]()),
        ({"credit_note_on_amount_drop": True}, [("WIDGET", "70")], frozenset({"credit_notes"})),
    ],
    ids=["not configured", "something rose", "credit notes on hold"],
)
def test_other_changes_after_payment_need_a_person(
    ctx: RunContext,
    xero: FakeXero,
    config: dict[str, Any],
    lines: list[tuple[str, str]],
    paused: frozenset[str],
) -> None:
    ctx.config = replace(ctx.config, **config)
    ctx.paused = paused
    row = invoiced(ctx, xero, xero.add_invoice(status="PAID", paid=D(100)))
    invoices.send(ctx, [_ready(ctx, xero, _deal(*(_line(c, p) for c, p in lines)), row=row)])
    row.refresh_from_db()
    assert row.state == State.NEEDS_ATTENTION
    assert not CreditNoteEntry.objects.filter(ledger=row).exists()


def test_a_rate_limited_update_keeps_the_invoice_and_waits(ctx: RunContext, xero: FakeXero) -> None:
    row = invoiced(ctx, xero, xero.add_invoice())
    xero.fail_next("write_invoices", XeroRateLimited("limit", retry_after=1, problem="day"))
    with pytest.raises(Stop):
        invoices.send(ctx, [_ready(ctx, xero, _deal(_line("WIDGET", "90")), row=row)])
    row.refresh_from_db()
    assert (row.state, row.xero_invoice_id) == (State.PENDING, row.xero_invoice_id)
    (op,) = XeroOperation.objects.filter(ledger=row)
    assert (op.kind, op.state) == ("invoice_update", "waiting")

"""``steps.payments``: planned payments scheduled once their invoice exists (amount and bank
account settled), recorded by the first run on or after their day (clearing delays), 50 per
call and never above what the invoice still owes; a rate limit leaves them scheduled (sent by the
next run), a lost answer is settled from the invoice's AmountPaid, a refusal needs a person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integrations.connections.xero.client import XeroRateLimited, XeroUnavailable
from integrations.connections.xero.records import ms_date
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from integrations.sync import calendar, protocol
from integrations.sync.context import RunContext
from integrations.sync.models import LedgerEntry, PaymentEntry, XeroOperation
from integrations.sync.protocol import Stop
from integrations.sync.steps import payments
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, invoiced, payment

pytestmark = pytest.mark.django_db

D = Decimal
State = PaymentEntry.State
DAY = dt.date(2026, 3, 2)
CARD = PaymentMethodSpec(name="Card", apply_payment=True, bank_account_code="090")


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar, "today", lambda: DAY)


def _due(ctx: RunContext, xero: FakeXero, **invoice: object) -> PaymentEntry:
    row = invoiced(ctx, xero, xero.add_invoice(**invoice))  # type: ignore[arg-type]
    return payment(ctx, row)


def _reload(entry: PaymentEntry) -> PaymentEntry:
    return PaymentEntry.objects.get(pk=entry.pk)


# --- scheduling ----------------------------------------------------------------------------------


def test_planned_payments_are_scheduled_with_the_invoices_total_and_account(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.rules = RuleSet(payment_methods=(CARD,))
    row = invoiced(ctx, xero, xero.add_invoice())
    planned = payment(ctx, row, state=State.PLANNED, amount=D(0), account_code="")
    payments.schedule(ctx, [(row, D("120.005"))])
    planned = _reload(planned)
    assert (planned.state, planned.amount, planned.account_code) == (
        State.SCHEDULED,
        D("120.01"),
        "090",
    )
    assert xero.log == []


def test_a_payment_whose_method_lost_its_rule_fails_with_a_reason(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.rules = RuleSet()
    row = invoiced(ctx, xero, xero.add_invoice())
    planned = payment(ctx, row, state=State.PLANNED, account_code="")
    payments.schedule(ctx, [(row, D(100))])
    planned = _reload(planned)
    assert planned.state == State.FAILED
    assert "the payment method 'Card' no longer has a rule." in planned.last_error
    (logged,) = entries(ctx)
    assert (logged.outcome, logged.step) == ("attention", "payment")
    assert logged.message.startswith(f"The payment for invoice {row.xero_invoice_number} was not")


# --- paying ------------------------------------------------------------------------------------


def test_due_payments_are_recorded_fifty_per_call(ctx: RunContext, xero: FakeXero) -> None:
    due = [_due(ctx, xero) for _ in range(51)]
    payments.pay_due(ctx)
    calls = xero.calls_of("create_payments")
    assert [len(c.bodies) for c in calls] == [50, 1]
    body = calls[0].bodies[0]
    first = due[0]
    assert body == {
        "Invoice": {"InvoiceID": first.ledger.xero_invoice_id},
        "Account": {"Code": "090"},
        "Date": ms_date(DAY),
        "Amount": D("100.00"),
        "Reference": "Big Deal",
    }
    for entry in due:
        entry = _reload(entry)
        assert entry.state == State.PAID
        assert entry.xero_payment_id
        assert xero.invoice(entry.ledger.xero_invoice_id).amount_due == 0
    assert entries(ctx)[0].message == (
        f"Payment of USD 100.00 (Card) recorded against invoice "
        f"{first.ledger.xero_invoice_number} into account 090."
    )
    # Exactly once: nothing is due any more.
    payments.pay_due(ctx)
    assert len(xero.calls_of("create_payments")) == 2


def test_a_payment_waits_for_its_clearing_day(
    ctx: RunContext, xero: FakeXero, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = invoiced(ctx, xero, xero.add_invoice())
    later = payment(ctx, row, pay_on=DAY + dt.timedelta(days=3))
    payments.pay_due(ctx)
    assert xero.log == []
    monkeypatch.setattr(calendar, "today", lambda: DAY + dt.timedelta(days=3))
    payments.pay_due(ctx)
    (body,) = xero.sent("create_payments")
    assert body["Date"] == ms_date(DAY + dt.timedelta(days=3))
    assert _reload(later).state == State.PAID


def test_nothing_is_paid_while_payments_are_paused(ctx: RunContext, xero: FakeXero) -> None:
    ctx.paused = frozenset({"payments"})
    entry = _due(ctx, xero)
    payments.pay_due(ctx)
    assert xero.log == []
    assert _reload(entry).state == State.SCHEDULED


def test_never_more_than_the_invoice_still_owes(ctx: RunContext, xero: FakeXero) -> None:
    entry = _due(ctx, xero, paid=D("30.00"))
    payments.pay_due(ctx)
    (body,) = xero.sent("create_payments")
    assert body["Amount"] == D("70.00")
    assert _reload(entry).state == State.PAID
    assert xero.invoice(entry.ledger.xero_invoice_id).status == "PAID"


def test_a_foreign_currency_payment_takes_the_invoices_rate(
    ctx: RunContext, xero: FakeXero
) -> None:
    _due(ctx, xero, currency="EUR", rate=D("0.920000"))
    payments.pay_due(ctx)
    (body,) = xero.sent("create_payments")
    assert body["CurrencyRate"] == D("0.920000")


@pytest.mark.parametrize(
    ("invoice", "state", "outcome", "why"),
    [
        ({"paid": D(100)}, State.CANCELLED, "skipped", "the invoice is already paid."),
        ({"status": "DRAFT"}, State.FAILED, "attention", "the invoice is DRAFT;"),
        ({"status": "GONE"}, State.FAILED, "attention", "its invoice is no longer in Xero."),
    ],
    ids=["paid already", "not approved", "gone"],
)
def test_a_payment_that_cannot_be_sent_is_settled_without_a_call(
    ctx: RunContext,
    xero: FakeXero,
    invoice: dict[str, object],
    state: str,
    outcome: str,
    why: str,
) -> None:
    gone = invoice.get("status") == "GONE"
    entry = _due(ctx, xero, **({} if gone else invoice))
    if gone:
        del xero.invoices[entry.ledger.xero_invoice_id]
    payments.pay_due(ctx)
    assert xero.calls_of("create_payments") == []
    entry = _reload(entry)
    assert entry.state == state
    (logged,) = entries(ctx)
    assert logged.outcome == outcome
    assert why in logged.message


# --- rate limits, lost answers, refusals ---------------------------------------------------------


def test_a_rate_limited_payment_waits_and_goes_with_the_next_run(
    ctx: RunContext, xero: FakeXero
) -> None:
    entry = _due(ctx, xero)
    xero.fail_next("create_payments", XeroRateLimited("limit", retry_after=30, problem="minute"))
    with pytest.raises(Stop) as stopped:
        payments.pay_due(ctx)
    assert stopped.value.retry_after == 30
    assert _reload(entry).state == State.SCHEDULED
    (waiting,) = entries(ctx)
    assert (waiting.outcome, waiting.step) == ("waiting", "payment")
    assert waiting.message.startswith(
        f"Payment against invoice {entry.ledger.xero_invoice_number}:"
    )
    payments.pay_due(ctx)
    assert _reload(entry).state == State.PAID
    first, again = xero.calls_of("create_payments")
    assert first.bodies == again.bodies
    assert xero.invoice(entry.ledger.xero_invoice_id).amount_paid == D("100.00")


@pytest.mark.parametrize("applied", [True, False], ids=["paid in Xero", "never reached Xero"])
def test_a_lost_answer_is_settled_from_the_invoices_amount_paid(
    ctx: RunContext, xero: FakeXero, applied: bool
) -> None:
    entry = _due(ctx, xero)
    xero.fail_next("create_payments", XeroUnavailable("timeout"), applied=applied)
    with pytest.raises(Stop):
        payments.pay_due(ctx)
    assert _reload(entry).state == State.UNKNOWN
    protocol.settle(ctx)
    if applied:
        assert _reload(entry).state == State.PAID
        assert "nothing was paid twice" in entries(ctx)[-1].message
        # The payment found is named: the one on the invoice that no entry had claimed.
        (paid_id,) = xero.invoices[entry.ledger.xero_invoice_id]["Payments"]
        assert _reload(entry).xero_payment_id == paid_id["PaymentID"]
    else:
        assert _reload(entry).state == State.SCHEDULED
    payments.pay_due(ctx)
    assert _reload(entry).state == State.PAID
    assert len(xero.calls_of("create_payments")) == (1 if applied else 2)
    # Paid exactly once either way.
    assert xero.invoice(entry.ledger.xero_invoice_id).amount_paid == D("100.00")


def test_a_lost_answer_for_a_partly_paid_invoice_is_not_taken_for_this_payment(
    ctx: RunContext, xero: FakeXero
) -> None:
    entry = _due(ctx, xero)
    xero.fail_next("create_payments", XeroUnavailable("timeout"))
    with pytest.raises(Stop):
        payments.pay_due(ctx)
    # Someone recorded 40.00 by hand meanwhile: not the 100.00 sent.
    raw = xero.invoices[entry.ledger.xero_invoice_id]
    raw["AmountPaid"], raw["AmountDue"] = D("40.00"), D("60.00")
    protocol.settle(ctx)
    (op,) = XeroOperation.objects.filter(payment=entry)
    assert op.state == "waiting"
    assert _reload(entry).state == State.SCHEDULED


def test_a_refused_payment_needs_a_person(ctx: RunContext, xero: FakeXero) -> None:
    xero.refuse("create_payments", "Account 090 is archived.")
    entry = _due(ctx, xero)
    payments.pay_due(ctx)
    entry = _reload(entry)
    assert (entry.state, entry.last_error) == (
        State.FAILED,
        "Xero refused the payment: Account 090 is archived.",
    )
    (logged,) = entries(ctx)
    assert logged.outcome == "attention"
    assert "Check the payment method's bank account (090)" in logged.message
    assert LedgerEntry.objects.get(pk=entry.ledger_id).state == LedgerEntry.State.SYNCED


def test_a_lost_answer_is_not_taken_for_a_payment_made_before_it(
    ctx: RunContext, xero: FakeXero
) -> None:
    # 70.00 was paid by hand: the step sends the 30.00 still owed, and that request is lost.
    entry = _due(ctx, xero, paid=D("70.00"))
    xero.fail_next("create_payments", XeroUnavailable("timeout"))
    with pytest.raises(Stop):
        payments.pay_due(ctx)
    (body,) = xero.sent("create_payments")
    assert body["Amount"] == D("30.00")
    protocol.settle(ctx)
    assert _reload(entry).state == State.SCHEDULED
    payments.pay_due(ctx)
    assert xero.invoice(entry.ledger.xero_invoice_id).amount_due == 0

"""The accounting rules end to end: payment methods, credit notes, tax, currencies, tracking.

Sandbox Salesforce → engine → sandbox Xero over real HTTP, like test_engine.py. Each test keeps
only the few won opportunities it needs (the others are moved to an open stage before the first
sync), so a sync takes a fraction of the demo org's two seconds. Assertions are on what the
sandbox Xero holds and on our ledger, payment, credit-note and log rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from integrations.connections.xero.client import XeroClient, XeroUnavailable
from integrations.connections.xero.metadata import organisation_metadata
from integrations.core.models import Integration
from integrations.rules.models import TaxRule, TrackingRule
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
)
from integrations.sync.run import sync_integration
from integrations.sync.services import ledger_retry
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import DatedConversionRate
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero import seed as xero_seed
from sandbox.xero import writes as xero_writes
from sandbox.xero.models import (
    Allocation,
    CreditNote,
    Currency,
    TaxRate,
    TrackingOption,
    XeroOrganisation,
)
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import Payment as XeroPayment
from tests.integrations.sync import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)

CENT = Decimal("0.01")
CREDIT_WRITES = {"create_credit_notes", "create_credit_note_allocation"}


# --- helpers ---------------------------------------------------------------------------------


def _tax_types(invoice: XeroInvoice | CreditNote) -> set[str]:
    return {str(line["TaxType"]) for line in invoice.lines}


def _tracking(invoice: XeroInvoice | CreditNote) -> set[tuple[tuple[str, str], ...]]:
    """Each line's tracking as sorted (category, option) pairs."""
    return {
        tuple(sorted((t["Name"], t["Option"]) for t in line.get("Tracking") or []))
        for line in invoice.lines
    }


def _open(integration: Integration) -> Any:
    return SyncLogEntry.objects.filter(
        integration=integration, outcome__in=("failed", "attention"), dismissed_at__isnull=True
    )


def _round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _pay_in_xero(invoice: XeroInvoice, amount: Decimal) -> None:
    """A payment a person records in Xero (straight into the simulator)."""
    context = xero_writes.Context(org=invoice.organisation)
    xero_writes.write_payment(
        context,
        {
            "Invoice": {"InvoiceID": str(invoice.invoice_id)},
            "Account": {"Code": "090"},
            "Date": invoice.date.isoformat(),
            "Amount": str(amount),
        },
    )


def _card_with_delay(
    integration: Integration, opportunity: SandboxOpportunity, close: dt.date
) -> None:
    """Paid by card into the clearing account two days after closing; withdrawn: voided."""
    h.set_fields(opportunity, payment_method="Credit Card", close_date=close)
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=True,
    )
    h.method(
        integration,
        "Credit Card",
        apply_payment=True,
        bank_account_code="615",
        clearing_delay_days=2,
    )


def _drop_currency(code: str) -> None:
    Currency.objects.filter(organisation__name=xero_seed.MAIN_ORG, code=code).delete()


def _stale_nzd(integration: Integration) -> None:
    """Our cached copy of the organisation's settings lists NZD; Xero no longer has it."""
    assert integration.xero_connection is not None
    assert "NZD" in organisation_metadata(integration.xero_connection, refresh=True).currencies
    _drop_currency("NZD")


def _restore_nzd() -> None:
    Currency.objects.create(
        organisation=XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG),
        code="NZD",
        description="New Zealand Dollar",
        updated_at=timezone.now(),
    )


# --- payment methods -----------------------------------------------------------------------------


def test_payment_method_decides_whether_to_invoice(integration: Integration, calls: Counter[str]):
    """Not invoiced / invoiced without payment / blank → the default / unknown → waits."""
    shop = h.won_of("Tyrell Corporation")
    transfer = h.won_of("Stark Industries")
    blank = h.won_of("Hooli Inc")
    check = h.won_of("Initech LLC")
    h.only(shop, transfer, blank, check)
    h.set_fields(shop, payment_method="PayPal")
    h.set_fields(transfer, payment_method="Bank Transfer")
    h.set_fields(blank, payment_method="")
    h.set_fields(check, payment_method="Check")
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        default_payment_method="Bank Transfer",
    )
    h.method(integration, "paypal", create_invoice=False)
    h.method(integration, "Bank Transfer")

    run = h.sync(integration)
    assert run.status == SyncRun.Status.PARTIAL
    # What is partial is told by its own count: records waiting for a person, none failed.
    assert run.failed_count == 0
    assert run.attention_count == run.entries.filter(outcome="attention").count() > 0
    assert h.ledger(integration, shop).state == "not_invoiced"
    assert not h.invoices().filter(reference=shop.name).exists()
    skipped = run.entries.get(salesforce_id=shop.sf_id)
    assert (skipped.outcome, "Not invoiced") == ("skipped", skipped.message[:12])
    assert "is paid by 'paypal', which is set not to create invoices" in skipped.message
    for paid_later in (transfer, blank):
        invoice = h.invoice(integration, paid_later)
        assert (invoice.status, invoice.amount_paid) == ("AUTHORISED", Decimal(0))
        assert not invoice.payments.exists()
    assert not PaymentEntry.objects.filter(integration=integration).exists()
    waiting = h.ledger(integration, check)
    assert waiting.state == "pending"
    assert "is paid by 'Check' (Payment_Method__c), which has no payment method rule" in (
        waiting.last_error
    )
    assert not h.invoices().filter(reference=check.name).exists()
    assert [e.message for e in _open(integration)] == [waiting.last_error]

    # Nothing changed: no writes, no second message for the same wait.
    calls.clear()
    quiet = h.sync(integration)
    assert not (set(calls) & {"create_invoices", "update_or_create_invoices", "create_payments"})
    assert not quiet.entries.filter(outcome__in=("attention", "failed")).exists()
    assert h.ledger(integration, shop).state == "not_invoiced"

    # The missing rule is added: the waiting opportunity goes through by itself.
    h.method(integration, "Check")
    fixed = h.sync(integration)
    assert fixed.status == SyncRun.Status.SUCCEEDED, fixed.error
    assert h.ledger(integration, check).state == "synced"
    assert h.invoice(integration, check).status == "AUTHORISED"
    assert not _open(integration).exists()
    assert h.invoices().count() == 3


def test_payment_goes_into_the_account_of_its_currency(
    integration: Integration, calls: Counter[str]
):
    """Paid at once: USD and CAD into the main account, GBP and EUR into their own."""
    usd = h.won_of("Stark Industries")
    gbp = h.won_of("Cardiff Bay Robotics")
    eur = h.won_of("Dublin Software Ltd")
    cad = h.won_of("Prairie Tools Corp")
    chosen = (usd, gbp, eur, cad)
    h.only(*chosen)
    for opportunity in chosen:
        h.set_fields(opportunity, payment_method="Credit Card")
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(
        integration,
        "Credit Card",
        apply_payment=True,
        bank_account_code="090",
        currency_accounts={"GBP": "091", "EUR": "092"},
    )

    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    expected = {usd: "090", gbp: "091", eur: "092", cad: "090"}
    for opportunity, account in expected.items():
        invoice = h.invoice(integration, opportunity)
        assert invoice.currency_code == (opportunity.currency_iso_code or "USD")
        (payment,) = invoice.payments.all()
        assert payment.account.code == account
        assert payment.amount == invoice.total
        assert payment.date == opportunity.close_date
        assert payment.currency_rate == invoice.currency_rate
        assert (invoice.status, invoice.amount_paid) == ("PAID", invoice.total)
        entry = PaymentEntry.objects.get(ledger=h.ledger(integration, opportunity))
        assert (entry.state, entry.account_code, entry.amount) == ("paid", account, invoice.total)
        assert entry.xero_payment_id == str(payment.payment_id)
        assert run.entries.filter(
            salesforce_id=opportunity.sf_id,
            outcome="created",
            message__contains=f"into account {account}",
        ).exists()
    assert calls["create_payments"] == 1  # one batch for the four

    calls.clear()
    h.sync(integration)
    assert calls["create_payments"] == 0
    assert XeroPayment.objects.filter(invoice__in=h.invoices()).count() == 4


def test_clearing_delay_pays_on_the_first_run_on_or_after_its_day(
    integration: Integration, calls: Counter[str], monkeypatch: pytest.MonkeyPatch
):
    """Close date + 3 days into the clearing account (615): not before, exactly once after."""
    card = h.won_of("Massive Dynamic")
    h.only(card)
    close = dt.date(2026, 3, 2)
    h.set_fields(card, payment_method="Credit Card", close_date=close)
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(
        integration,
        "Credit Card",
        apply_payment=True,
        bank_account_code="615",
        clearing_delay_days=3,
    )

    h.today(monkeypatch, close + dt.timedelta(days=2))
    h.sync(integration)
    invoice = h.invoice(integration, card)
    assert (invoice.status, invoice.amount_paid) == ("AUTHORISED", Decimal(0))
    assert not invoice.payments.exists()
    entry = PaymentEntry.objects.get(ledger=h.ledger(integration, card))
    assert (entry.state, entry.pay_on, entry.amount) == (
        "scheduled",
        close + dt.timedelta(days=3),
        invoice.total,
    )
    assert calls["create_payments"] == 0

    # The day comes: a run with nothing new from Salesforce pays it, dated that day.
    h.today(monkeypatch, close + dt.timedelta(days=3))
    calls.clear()
    run = h.sync(integration)
    invoice.refresh_from_db()
    (payment,) = invoice.payments.all()
    assert (payment.account.code, payment.date, payment.amount) == (
        "615",
        close + dt.timedelta(days=3),
        invoice.total,
    )
    assert (invoice.status, invoice.fully_paid_on) == ("PAID", close + dt.timedelta(days=3))
    entry.refresh_from_db()
    assert (entry.state, entry.xero_payment_id) == ("paid", str(payment.payment_id))
    assert (calls["create_invoices"], calls["update_or_create_invoices"]) == (0, 0)
    assert run.entries.filter(outcome="created", message__contains="Payment of USD").exists()

    h.today(monkeypatch, close + dt.timedelta(days=4))
    calls.clear()
    h.sync(integration)
    assert calls["create_payments"] == 0
    assert invoice.payments.count() == 1


def test_scheduled_payment_follows_changes_and_withdrawal_before_its_day(
    integration: Integration, monkeypatch: pytest.MonkeyPatch, calls: Counter[str]
):
    """Before pay day: a change updates the invoice and the amount to pay; a loss cancels the
    payment and voids the unpaid invoice; pay day then pays nothing."""
    changed, lost = h.won_of("Massive Dynamic"), h.won_of("Stark Industries")
    h.only(changed, lost)
    close = dt.date(2026, 5, 4)
    _card_with_delay(integration, changed, close)
    h.set_fields(lost, payment_method="Credit Card", close_date=close)
    h.today(monkeypatch, close)
    h.sync(integration)
    line = h.lines(changed)[0]
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity + 2)
    h.sf_change(lost, stage_name="Closed Lost")
    h.sync(integration)
    updated = h.invoice(integration, changed)
    entry = PaymentEntry.objects.get(ledger=h.ledger(integration, changed))
    assert (entry.state, entry.amount) == ("scheduled", updated.total)
    assert h.invoice(integration, lost).status == "VOIDED"
    assert PaymentEntry.objects.get(ledger=h.ledger(integration, lost)).state == "cancelled"

    h.today(monkeypatch, close + dt.timedelta(days=2))
    calls.clear()
    h.sync(integration)
    assert calls["create_payments"] == 1
    (payment,) = XeroPayment.objects.filter(invoice__in=h.invoices())
    assert (payment.invoice_id, payment.amount) == (updated.pk, updated.total)


def test_invoice_found_after_a_lost_answer_still_gets_its_payment(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """The create answer is lost; the next run finds the invoice by lookup and pays it."""
    card = h.won_of("Massive Dynamic")
    h.only(card)
    h.set_fields(card, payment_method="Credit Card")
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    lost = h.lose_first_create_answer(monkeypatch)
    h.sync(integration)
    assert h.ledger(integration, card).state == "unknown"
    h.sync(integration)
    row = h.ledger(integration, card)
    assert (row.state, row.xero_invoice_id) == ("synced", lost[0])
    invoice = h.invoice(integration, card)
    assert (invoice.status, invoice.amount_paid) == ("PAID", invoice.total)
    assert PaymentEntry.objects.get(ledger=row).state == "paid"


def test_payment_planned_for_a_refused_invoice_does_not_outlive_its_method(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """Card: Xero refuses the invoice (NZD, stale settings). Fixed, the customer pays by
    transfer instead (not paid through us); the create's answer is lost and the invoice is
    found by lookup: it must not be paid as by card."""
    nzd = h.won_of("Kiwi Orchards Ltd")
    h.only(nzd)
    h.set_fields(nzd, payment_method="Credit Card")
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    h.method(integration, "Bank Transfer")
    _stale_nzd(integration)
    h.sync(integration)
    assert h.ledger(integration, nzd).state == "failed"

    _restore_nzd()
    h.sf_change(nzd, payment_method="Bank Transfer")
    line = h.lines(nzd)[0]
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity + 1)
    lost = h.lose_first_create_answer(monkeypatch)
    h.sync(integration)
    assert h.ledger(integration, nzd).state == "unknown"
    h.sync(integration)
    assert h.ledger(integration, nzd).xero_invoice_id == lost[0]
    invoice = h.invoice(integration, nzd)
    assert (invoice.status, invoice.amount_paid) == ("AUTHORISED", Decimal(0))
    assert not PaymentEntry.objects.filter(state__in=("scheduled", "paid")).exists()


def test_won_again_after_a_void_pays_the_new_invoice(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """Lost before pay day (payment cancelled, invoice voided), then won again: the new
    invoice is paid on pay day like the first would have been.

    Two opportunities share the first create batch, so the re-create (alone) goes out under
    another batch key whatever its own key (see
    test_won_again_after_a_void_creates_a_new_invoice for that).
    """
    card, other = h.won_of("Massive Dynamic"), h.won_of("Stark Industries")
    h.only(card, other)
    close = dt.date(2026, 5, 4)
    _card_with_delay(integration, card, close)
    h.set_fields(other, payment_method="Credit Card", close_date=close)
    h.today(monkeypatch, close)
    h.sync(integration)
    h.sf_change(card, stage_name="Closed Lost")
    h.sync(integration)
    assert PaymentEntry.objects.get(ledger=h.ledger(integration, card)).state == "cancelled"
    h.sf_change(card, stage_name="Closed Won")
    h.sync(integration)
    invoice = h.invoice(integration, card)
    assert invoice.status == "AUTHORISED"

    h.today(monkeypatch, close + dt.timedelta(days=2))
    h.sync(integration)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("PAID", invoice.total)


# --- credit notes and voids ----------------------------------------------------------------------


def test_withdrawn_unpaid_invoices_are_voided_or_deleted(
    integration: Integration, calls: Counter[str]
):
    """Reopened and lost → AUTHORISED invoice VOIDED; deleted → DRAFT invoice DELETED."""
    reopened = h.won_of("Oceanic Airlines")
    lost = h.won_of("Tyrell Corporation")
    deleted = h.won_of("Initech LLC")
    h.only(reopened, lost, deleted)
    h.set_fields(reopened, payment_method="Bank Transfer")
    h.set_fields(lost, payment_method="Bank Transfer")
    h.set_fields(deleted, payment_method="Check")
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=True,
    )
    h.method(integration, "Bank Transfer")
    h.method(integration, "Check", invoice_status="DRAFT")
    h.sync(integration)
    before = {o.sf_id: h.invoice(integration, o) for o in (reopened, lost, deleted)}
    assert before[deleted.sf_id].status == "DRAFT"

    h.sf_change(reopened, stage_name="Negotiation/Review")
    h.sf_change(lost, stage_name="Closed Lost")
    sf_sandbox.opportunity_delete(opportunity=SandboxOpportunity.objects.get(pk=deleted.pk))
    calls.clear()
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert calls["update_or_create_invoices"] == 1  # one batch for the three
    assert not (set(calls) & CREDIT_WRITES)
    expected = {reopened: "VOIDED", lost: "VOIDED", deleted: "DELETED"}
    for opportunity, status in expected.items():
        invoice = XeroInvoice.objects.get(pk=before[opportunity.sf_id].pk)
        assert (invoice.status, invoice.total) == (status, before[opportunity.sf_id].total)
        row = h.ledger(integration, opportunity)
        assert row.state == "synced"
        entry = CreditNoteEntry.objects.get(ledger=row)
        assert (entry.reason, entry.action, entry.state) == ("withdrawn", status.lower(), "done")
        assert run.entries.filter(
            salesforce_id=opportunity.sf_id,
            outcome="updated",
            message__contains=f"{status.lower()} in Xero",
        ).exists()
    assert h.ledger(integration, deleted).withdrawn == "deleted"
    assert not h.credit_notes().exists()
    assert not _open(integration).exists()

    calls.clear()
    h.sync(integration)
    assert not (set(calls) & ({"update_or_create_invoices", "create_invoices"} | CREDIT_WRITES))


def test_more_than_a_page_of_withdrawn_invoices_are_all_voided(integration: Integration):
    """Over a hundred invoiced opportunities lost at once: every invoice is voided, none is
    left to a person (Xero answers invoices read with their lines 100 a page)."""
    acme = h.won_of("Acme Corporation")
    for n in range(15):
        sf_sandbox.opportunity_save(
            org=acme.org,
            name=f"Acme Corporation - Top-up {n:02d}",
            account=acme.account,
            stage_name="Closed Won",
            close_date=acme.close_date,
            amount=Decimal(100 + n),
        )
    won = SandboxOpportunity.objects.filter(
        org__name=salesforce_seed.DEMO_ORG, is_won=True, is_deleted=False
    ).exclude(name=h.BULK)
    chosen = list(won)
    assert len(chosen) > 100
    h.only(*chosen)
    h.configure(integration, credit_note_on_withdrawal=True, void_unpaid_instead=True)
    first = h.sync(integration)
    assert first.created_count == len(chosen), first.error

    SandboxOpportunity.objects.filter(pk__in=[o.pk for o in chosen]).update(
        stage_name="Closed Lost",
        is_won=False,
        is_closed=True,
        probability=0,
        system_modstamp=timezone.now(),
    )
    run = h.sync(integration)
    statuses = Counter(h.invoices().values_list("status", flat=True))
    assert statuses == {"VOIDED": len(chosen)}
    rows = LedgerEntry.objects.filter(integration=integration)
    assert Counter(rows.values_list("state", flat=True)) == {"synced": len(chosen)}
    assert not run.entries.filter(outcome="attention").exists()


def test_won_again_after_a_void_creates_a_new_invoice(integration: Integration):
    """Lost (invoice voided), then won again with the same content: a new invoice is created.

    The first create and the re-create send the same document: their Idempotency-Keys must
    differ, or Xero replays its first answer (the voided invoice) for as long as it keeps keys.
    """
    opportunity = h.won_of("Massive Dynamic")
    h.only(opportunity)
    h.configure(integration, credit_note_on_withdrawal=True, void_unpaid_instead=True)
    h.sync(integration)
    first = h.invoice(integration, opportunity)
    h.sf_change(opportunity, stage_name="Closed Lost")
    h.sync(integration)
    assert XeroInvoice.objects.get(pk=first.pk).status == "VOIDED"

    h.sf_change(opportunity, stage_name="Closed Won")
    run = h.sync(integration)
    assert run.entries.filter(outcome="warning", message__contains="counts again").exists()
    row = h.ledger(integration, opportunity)
    assert row.state == "synced"
    assert row.xero_invoice_id != str(first.invoice_id)
    assert h.invoice(integration, opportunity).status == "AUTHORISED"
    assert h.invoices().count() == 2
    assert CreditNoteEntry.objects.get(ledger=row).superseded


def test_withdrawn_invoice_is_credited_and_allocated_when_configured(
    integration: Integration, calls: Counter[str]
):
    """Credit notes instead of voids: same lines (tax, tracking), allocated to what is owed.

    A partly paid invoice is credited in full: the credit covers what is still owed and the
    rest is left as credit (the log says to refund it).
    """
    unpaid = h.won_of("Oceanic Airlines")
    partly = h.won_of("Tyrell Corporation")
    reopened = h.won_of("Blue Sun Corporation")
    h.only(unpaid, partly, reopened)
    h.configure(
        integration,
        default_tax_type="TAX002",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=False,
    )
    TrackingRule.objects.create(
        integration=integration, category_name="Region", source="fixed", fixed_option="South"
    )
    h.sync(integration)
    invoices = {o.sf_id: h.invoice(integration, o) for o in (unpaid, partly, reopened)}
    part = _round2(invoices[partly.sf_id].total / 3)
    _pay_in_xero(invoices[partly.sf_id], part)

    h.sf_change(unpaid, stage_name="Closed Lost")
    sf_sandbox.opportunity_delete(opportunity=SandboxOpportunity.objects.get(pk=partly.pk))
    h.sf_change(reopened, stage_name="Proposal/Price Quote")
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, (
        run.error,
        list(run.entries.values_list("outcome", "message")),
    )
    for opportunity, paid in ((unpaid, Decimal(0)), (partly, part), (reopened, Decimal(0))):
        invoice = XeroInvoice.objects.get(pk=invoices[opportunity.sf_id].pk)
        row = h.ledger(integration, opportunity)
        entry = CreditNoteEntry.objects.get(ledger=row)
        note = h.credit_notes().get(credit_note_id=entry.xero_credit_note_id)
        assert note.type == "ACCRECCREDIT"
        assert note.contact_id == invoice.contact_id
        assert note.reference == f"{invoice.invoice_number}: Opportunity reopened, lost or deleted"
        assert (note.total, note.total_tax) == (invoice.total, invoice.total_tax)
        assert _tax_types(note) == {"TAX002"}
        assert _tracking(note) == {(("Region", "South"),)}
        (allocation,) = Allocation.objects.filter(credit_note=note)
        assert allocation.invoice_id == invoice.pk
        assert allocation.amount == invoice.total - paid
        assert (entry.reason, entry.action, entry.state) == ("withdrawn", "credit_note", "done")
        assert (entry.amount, entry.allocated) == (invoice.total, invoice.total - paid)
        assert (invoice.status, invoice.amount_due) == ("PAID", Decimal(0))
        assert note.remaining_credit == paid
        assert row.state == "synced"
    message = run.entries.get(salesforce_id=partly.sf_id, outcome="created").message
    assert f"USD {part:,.2f} was already paid: refund the customer" in message

    calls.clear()
    h.sync(integration)
    assert not (set(calls) & CREDIT_WRITES)
    assert h.credit_notes().count() == 3


def test_paid_invoice_of_a_lost_opportunity_is_credited_when_configured(
    integration: Integration,
):
    """Card paid at once, then lost: with credit notes on, the whole invoice is credited and
    the log says the money is to be refunded (as for a partly paid one)."""
    card = h.won_of("Massive Dynamic")
    h.only(card)
    h.set_fields(card, payment_method="Credit Card")
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=True,
    )
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    h.sync(integration)
    invoice = h.invoice(integration, card)
    assert invoice.status == "PAID"
    h.sf_change(card, stage_name="Closed Lost")
    run = h.sync(integration)
    (note,) = h.credit_notes()
    assert (note.total, note.remaining_credit) == (invoice.total, invoice.total)
    assert h.ledger(integration, card).state == "synced"
    assert run.entries.filter(outcome="created", message__contains="refund the customer").exists()


@pytest.mark.parametrize(
    "name",
    [
        'Widgets 24" rack',  # a natural name: unescaped, Xero answers 400 on every run
        'Acme" OR Reference!="x',  # unescaped, it matches someone else's credit note
    ],
)
def test_credit_note_whose_answer_was_lost_is_found_by_its_quoted_reference(
    integration: Integration, monkeypatch: pytest.MonkeyPatch, name: str
):
    """The credit note's Reference holds the invoice number, here the opportunity's name.

    Xero creates the credit note but the answer is lost; the next run looks it up by that
    Reference before sending again. The lookup must quote the text: it finds this credit note,
    not a person's other credit note for the same customer, and sends nothing twice.
    """
    opportunity = h.won_of("Oceanic Airlines")
    h.only(opportunity)
    h.set_fields(opportunity, name=name)
    h.configure(
        integration,
        invoice_number_pattern="{name}",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=False,
    )
    h.sync(integration)
    invoice = h.invoice(integration, opportunity)
    assert invoice.invoice_number == name
    # A credit note a person raised in Xero for the same customer, before ours.
    with transaction.atomic():  # as the sandbox's API view writes it
        other = xero_writes.write_document(
            xero_writes.Context(org=invoice.organisation),
            {
                "Type": "ACCRECCREDIT",
                "Contact": {"ContactID": str(invoice.contact.contact_id)},
                "Date": invoice.date.isoformat(),
                "Status": "AUTHORISED",
                "Reference": "Goodwill",
                "LineItems": [
                    {
                        "Description": "Goodwill",
                        "Quantity": 1,
                        "UnitAmount": 5,
                        "AccountCode": "200",
                    }
                ],
            },
            kind="credit_note",
            create_only=True,
        )

    original = XeroClient.call

    def answer_lost(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, method, *args, **kwargs)
        if method == "create_credit_notes":
            raise XeroUnavailable("read timeout")
        return answer

    monkeypatch.setattr(XeroClient, "call", answer_lost)
    h.sf_change(opportunity, stage_name="Closed Lost")
    with contextlib.suppress(XeroUnavailable):  # the run stops, to be retried
        sync_integration(integration_id=integration.pk)
    (ours,) = h.credit_notes().exclude(pk=other.pk)
    assert ours.reference == f"{name}: Opportunity reopened, lost or deleted"
    assert CreditNoteEntry.objects.get(ledger=h.ledger(integration, opportunity)).state != "done"

    # The next run looks it up by that Reference before anything is sent again: it finds ours,
    # not the person's, links it, and raises nothing twice.
    monkeypatch.setattr(XeroClient, "call", original)
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, list(run.entries.values()))
    entry = CreditNoteEntry.objects.get(ledger=h.ledger(integration, opportunity))
    assert (entry.state, entry.xero_credit_note_id) == ("done", str(ours.credit_note_id))
    assert h.credit_notes().count() == 2
    assert run.entries.filter(message__contains="found in Xero after an interrupted send").exists()


def test_withdrawn_draft_invoice_is_deleted_even_when_crediting(
    integration: Integration, calls: Counter[str]
):
    """A DRAFT invoice owes nothing: crediting it makes no sense (nor can it be allocated)."""
    draft = h.won_of("Initech LLC")
    h.only(draft)
    h.configure(
        integration,
        invoice_status="DRAFT",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=False,
    )
    h.sync(integration)
    invoice = h.invoice(integration, draft)
    assert invoice.status == "DRAFT"
    h.sf_change(draft, stage_name="Closed Lost")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status != SyncRun.Status.FAILED, run.error
    invoice.refresh_from_db()
    assert invoice.status == "DELETED"
    assert not h.credit_notes().exists()


def test_amount_drop_after_payment_is_credited_for_the_difference(
    integration: Integration, calls: Counter[str]
):
    """Paid by card, then a line shrinks: a credit note for the fall (with its tax), once.

    A rise after payment still needs a person: it is not credited, nor written.
    """
    card = h.won_of("Oceanic Airlines", nth=1)
    h.only(card)
    h.set_fields(card, payment_method="Credit Card")
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        default_tax_type="TAX003",
        credit_note_on_amount_drop=True,
    )
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    h.sync(integration)
    paid = h.invoice(integration, card)
    assert (paid.status, paid.amount_paid) == ("PAID", paid.total)
    line = max(h.lines(card), key=lambda item: item.quantity)
    old_amount = line.total_price
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity - 1)
    fall = old_amount - line.total_price
    assert fall > 0

    calls.clear()
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, (
        run.error,
        list(run.entries.values_list("outcome", "message")),
    )
    assert (calls["create_invoices"], calls["update_or_create_invoices"]) == (0, 0)
    (note,) = h.credit_notes()
    assert note.type == "ACCRECCREDIT"
    assert note.sub_total == fall
    assert note.total_tax == _round2(fall * Decimal("0.0825"))
    assert _tax_types(note) == {"TAX003"}
    assert note.status == "AUTHORISED"  # nothing left to allocate: the invoice was paid
    assert note.remaining_credit == note.total
    row = h.ledger(integration, card)
    assert (row.state, row.last_error) == ("synced", "")
    entry = CreditNoteEntry.objects.get(ledger=row)
    assert (entry.reason, entry.amount, entry.allocated) == ("amount_drop", note.total, Decimal(0))
    after = XeroInvoice.objects.get(pk=paid.pk)
    assert (after.status, after.total) == ("PAID", paid.total)
    message = run.entries.get(outcome="created").message
    assert "amount fell after payment" in message
    assert "refund the customer" in message

    calls.clear()
    h.sync(integration)
    assert not (set(calls) & CREDIT_WRITES)

    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity + 3)
    calls.clear()
    risen = h.sync(integration)
    assert not (set(calls) & CREDIT_WRITES)
    assert h.ledger(integration, card).state == "needs_attention"
    assert risen.entries.filter(outcome="attention", message__startswith="Changed after").exists()
    assert h.credit_notes().count() == 1


def test_amount_drop_with_xero_default_tax_is_credited(integration: Integration):
    """The default tax mode sends no TaxType; Xero fills in the account's (TAX001)."""
    card = h.won_of("Oceanic Airlines", nth=1)
    h.only(card)
    h.set_fields(card, payment_method="Credit Card")
    h.configure(
        integration, payment_method_field="Payment_Method__c", credit_note_on_amount_drop=True
    )
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    h.sync(integration)
    assert _tax_types(h.invoice(integration, card)) == {"TAX001"}
    line = max(h.lines(card), key=lambda item: item.quantity)
    old_amount = line.total_price
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity - 1)

    h.sync(integration)
    assert h.ledger(integration, card).state == "synced"
    (note,) = h.credit_notes()
    assert note.sub_total == old_amount - line.total_price
    assert _tax_types(note) == {"TAX001"}


def test_second_amount_drop_credits_only_the_new_fall(integration: Integration):
    """Two falls after payment: together the credits equal the whole fall, not more."""
    card = h.won_of("Oceanic Airlines", nth=1)
    h.only(card)
    h.set_fields(card, payment_method="Credit Card")
    h.configure(
        integration,
        payment_method_field="Payment_Method__c",
        default_tax_type="TAX003",
        credit_note_on_amount_drop=True,
    )
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    line = h.lines(card)[0]
    sf_sandbox.line_item_update(line_item=line, quantity=Decimal(5))
    h.sync(integration)
    original = line.total_price
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity - 1)
    h.sync(integration)
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity - 1)
    h.sync(integration)
    credited = sum((n.sub_total for n in h.credit_notes()), Decimal(0))
    assert credited == original - line.total_price


def test_negative_lines_stay_on_the_invoice_by_default(integration: Integration):
    """negative_lines="line": a returned product is a negative line on the invoice."""
    opportunity = h.won_of("Stark Industries", nth=1)
    h.only(opportunity)
    h.configure(integration, default_tax_type="TAX005")
    first = h.lines(opportunity)[0]
    sf_sandbox.line_item_add(
        opportunity=opportunity, product=first.product, quantity=-1, description="Returned"
    )
    h.sync(integration)
    invoice = h.invoice(integration, opportunity)
    amounts = sorted(Decimal(line["LineAmount"]) for line in invoice.lines)
    assert amounts[0] == -first.unit_price
    opportunity.refresh_from_db()
    assert invoice.sub_total == opportunity.amount
    assert not h.credit_notes().exists()
    assert not CreditNoteEntry.objects.exists()


def test_negative_lines_go_on_a_credit_note_when_configured(integration: Integration):
    """negative_lines="credit_note": the invoice has the positive lines, a credit note the
    negative ones (as positive amounts), allocated to the invoice."""
    opportunity = h.won_of("Stark Industries", nth=1)
    h.only(opportunity)
    h.configure(integration, default_tax_type="TAX005", negative_lines="credit_note")
    first = h.lines(opportunity)[0]
    positive = sum((line.total_price for line in h.lines(opportunity)), Decimal(0))
    sf_sandbox.line_item_add(
        opportunity=opportunity, product=first.product, quantity=-2, description="Returned"
    )
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    invoice = h.invoice(integration, opportunity)
    assert all(Decimal(line["LineAmount"]) > 0 for line in invoice.lines)
    assert invoice.sub_total == positive
    (note,) = h.credit_notes()
    (line,) = note.lines
    assert (Decimal(line["Quantity"]), Decimal(line["UnitAmount"])) == (
        Decimal(2),
        first.unit_price,
    )
    assert (line["TaxType"], line["Description"]) == ("TAX005", "Returned")
    assert note.sub_total == 2 * first.unit_price
    (allocation,) = Allocation.objects.filter(credit_note=note)
    assert (allocation.invoice_id, allocation.amount) == (invoice.pk, note.total)
    invoice.refresh_from_db()
    assert invoice.amount_due == invoice.total - note.total
    entry = CreditNoteEntry.objects.get(ledger=h.ledger(integration, opportunity))
    assert (entry.reason, entry.state, entry.allocated) == ("negative_lines", "done", note.total)

    again = h.sync(integration)
    assert again.created_count == 0
    assert h.credit_notes().count() == 1


def test_negative_line_added_after_invoicing_is_credited(integration: Integration):
    """negative_lines="credit_note": a return added once the invoice exists is credited too."""
    opportunity = h.won_of("Stark Industries", nth=1)
    h.only(opportunity)
    h.configure(integration, default_tax_type="TAX005", negative_lines="credit_note")
    h.sync(integration)
    first = h.lines(opportunity)[0]
    sf_sandbox.line_item_add(
        opportunity=opportunity, product=first.product, quantity=-1, description="Returned"
    )
    h.sync(integration)
    (note,) = h.credit_notes()
    assert note.sub_total == first.unit_price


def test_refused_allocation_is_not_recorded_as_allocated(integration: Integration):
    """Draft invoices with negative lines apart: Xero refuses to allocate a credit to a DRAFT
    invoice; our record and log must say what Xero holds, not that it was allocated."""
    opportunity = h.won_of("Stark Industries", nth=1)
    h.only(opportunity)
    h.configure(
        integration, invoice_status="DRAFT", default_tax_type="TAX005", negative_lines="credit_note"
    )
    first = h.lines(opportunity)[0]
    sf_sandbox.line_item_add(opportunity=opportunity, product=first.product, quantity=-1)
    run = h.sync(integration)
    invoice = h.invoice(integration, opportunity)
    assert invoice.status == "DRAFT"
    held = sum((a.amount for a in Allocation.objects.filter(invoice=invoice)), Decimal(0))
    entry = CreditNoteEntry.objects.get(ledger=h.ledger(integration, opportunity))
    assert entry.allocated == held
    if not held:
        assert not run.entries.filter(message__contains="allocated to the invoice").exists()


# --- tax -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "tax_type", "rate"),
    [
        ({}, "TAX001", Decimal("7.25")),
        ({"tax_mode": "single", "default_tax_type": "TAX004"}, "TAX004", Decimal("10.25")),
    ],
    ids=["xero_default", "single"],
)
def test_tax_xero_default_or_one_tax_type(
    integration: Integration, options: dict[str, Any], tax_type: str, rate: Decimal
):
    """Xero's default (the sales account's TAX001, nothing sent) or one configured rate."""
    chosen = (h.won_of("Acme Corporation"), h.won_of("Initech LLC"), h.won_of("Globex Ltd"))
    h.only(*chosen)
    h.configure(integration, **options)
    sent: list[dict[str, Any]] = []
    original = XeroClient.call

    def spy(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "create_invoices":
            sent.extend(args[0]["Invoices"])
        return original(self, method, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(XeroClient, "call", spy)
        run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    lines = [line for body in sent for line in body["LineItems"]]
    assert len(lines) == sum(len(h.lines(o)) for o in chosen)
    assert {line.get("TaxType", "") for line in lines} == ({""} if not options else {tax_type})
    for opportunity in chosen:
        invoice = h.invoice(integration, opportunity)
        assert _tax_types(invoice) == {tax_type}
        expected = sum(
            (_round2(Decimal(line["LineAmount"]) * rate / 100) for line in invoice.lines),
            Decimal(0),
        )
        assert invoice.total_tax == expected > 0


def test_tax_rules_by_country_and_state_with_an_export_rate(integration: Integration):
    """US, Canadian, Australian and UK customers: state rule, country rule, else export rate."""
    expected = {
        "Initech LLC": "TAX003",  # US / TX
        "Vandelay Industries": "TAX002",  # US / NY
        "Acme Corporation": "TAX005",  # US (Arizona has no rule of its own)
        "Northern Lights Ltd": "TAX004",  # CA / BC
        "Laurentian Supply": "TAX001",  # CA (Quebec has no rule of its own)
        "Umbrella Pty Ltd": "TAX002",  # AU / NSW
        "Yarra Valley Wines Pty Ltd": "NONE",  # AU, no rule for Victoria nor Australia: export
        "Cardiff Bay Robotics": "NONE",  # GB, no rule: export
    }
    chosen = {name: h.won_of(name) for name in expected}
    h.only(*chosen.values())
    h.configure(integration, tax_mode="rules", export_tax_type="NONE", default_tax_type="TAX004")
    for country, region, tax_type in (
        ("US", "TX", "TAX003"),
        ("US", "NY", "TAX002"),
        ("US", "", "TAX005"),
        ("CA", "BC", "TAX004"),
        ("CA", "", "TAX001"),
        ("AU", "NSW", "TAX002"),
    ):
        TaxRule.objects.create(
            integration=integration, country=country, region=region, tax_type=tax_type
        )

    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    got = {name: _tax_types(h.invoice(integration, o)) for name, o in chosen.items()}
    assert got == {name: {tax_type} for name, tax_type in expected.items()}
    exported = h.invoice(integration, chosen["Cardiff Bay Robotics"])
    assert (exported.currency_code, exported.total_tax) == ("GBP", Decimal(0))


def test_tax_from_a_salesforce_field(integration: Integration):
    """The sandbox has no tax-code field (describe lists none): the free-text Description
    holds it here. A code or a rate's name works; blank takes the default; else it waits."""
    assert integration.salesforce_connection is not None
    from integrations.connections.salesforce.client import salesforce_client

    with salesforce_client(integration.salesforce_connection) as salesforce:
        names = {
            f["name"]
            for sobject in ("Opportunity", "Account")
            for f in salesforce.describe(sobject)["fields"]
        }
    assert not [n for n in names if "tax" in n.lower()], names
    assert "Description" in names

    by_code, by_name, blank, bogus = (
        h.won_of("Acme Corporation"),
        h.won_of("Initech LLC"),
        h.won_of("Hooli Inc"),
        h.won_of("Stark Industries"),
    )
    h.only(by_code, by_name, blank, bogus)
    h.set_fields(by_code, description="tax002")
    h.set_fields(by_name, description="Texas Sales Tax")
    h.set_fields(blank, description="")
    h.set_fields(bogus, description="VAT20")
    h.configure(integration, tax_mode="field", tax_field="Description", default_tax_type="TAX005")

    run = h.sync(integration)
    assert _tax_types(h.invoice(integration, by_code)) == {"TAX002"}
    assert _tax_types(h.invoice(integration, by_name)) == {"TAX003"}
    assert _tax_types(h.invoice(integration, blank)) == {"TAX005"}
    waiting = h.ledger(integration, bogus)
    assert waiting.state == "pending"
    assert "'VAT20' in Description is neither a tax rate code nor a tax rate name" in (
        waiting.last_error
    )
    assert "TAX001 (California Sales Tax)" in waiting.last_error
    assert "INPUT" not in waiting.last_error  # not a rate for sales
    assert run.entries.filter(outcome="attention", salesforce_id=bogus.sf_id).exists()

    h.sf_change(bogus, description="TAX004")
    fixed = h.sync(integration)
    assert fixed.status == SyncRun.Status.SUCCEEDED, fixed.error
    assert _tax_types(h.invoice(integration, bogus)) == {"TAX004"}
    assert not _open(integration).exists()


def test_tax_field_missing_in_salesforce_fails_the_run_with_its_reason(
    integration: Integration, calls: Counter[str]
):
    """A tax field that Salesforce does not have: nothing is sent, the run says which."""
    h.only(h.won_of("Acme Corporation"))
    h.configure(integration, tax_mode="field", tax_field="Account.Tax_Code__c")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.FAILED
    assert "INVALID_FIELD" in run.error
    assert "No such column 'Tax_Code__c' on entity 'Account'" in run.error
    assert calls["create_invoices"] == 0
    assert not LedgerEntry.objects.filter(integration=integration).exists()


def test_unusable_tax_rate_waits_with_a_message_and_is_sent_once_fixed(
    integration: Integration, calls: Counter[str]
):
    """A purchases-only rate (INPUT) and a rate Xero does not have (TAX009) stop the
    opportunity before any write; fixed in the rules or in Xero, it is sent."""
    us, uk = h.won_of("Acme Corporation"), h.won_of("Cardiff Bay Robotics")
    h.only(us, uk)
    h.configure(integration, tax_mode="rules")
    TaxRule.objects.create(integration=integration, country="US", tax_type="INPUT")
    TaxRule.objects.create(integration=integration, country="GB", tax_type="TAX009")

    run = h.sync(integration)
    assert run.status == SyncRun.Status.PARTIAL
    assert calls["create_invoices"] == 0
    assert not h.invoices().exists()
    messages = {o.sf_id: h.ledger(integration, o).last_error for o in (us, uk)}
    assert messages == {
        us.sf_id: "Tax rate INPUT cannot be used on sales (revenue) in Demo Widgets Ltd: choose "
        "another in the tax rules.",
        uk.sf_id: "Tax rate TAX009 does not exist in Demo Widgets Ltd any more: choose another "
        "in the tax rules.",
    }
    assert {r.state for r in LedgerEntry.objects.filter(integration=integration)} == {"pending"}
    assert _open(integration).count() == 2

    calls.clear()
    quiet = h.sync(integration)
    assert calls["create_invoices"] == 0
    assert not quiet.entries.exists()

    # Fixed in the rules (picked up by itself), and in Xero (a person retries).
    TaxRule.objects.filter(integration=integration, country="US").update(tax_type="TAX005")
    organisation = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
    TaxRate.objects.create(
        organisation=organisation,
        updated_at=timezone.now(),
        tax_type="TAX009",
        name="Export Sales",
        can_apply_to_revenue=True,
        can_apply_to_expenses=False,
        components=[{"Name": "Export", "Rate": "0", "IsCompound": False}],
    )
    ledger_retry(entry_id=h.ledger(integration, uk).pk)
    fixed = h.sync(integration)
    assert fixed.status == SyncRun.Status.SUCCEEDED, fixed.error
    assert _tax_types(h.invoice(integration, us)) == {"TAX005"}
    assert _tax_types(h.invoice(integration, uk)) == {"TAX009"}
    assert not _open(integration).exists()


# --- currencies ----------------------------------------------------------------------------------


def test_currency_not_enabled_waits_with_a_message(integration: Integration, calls: Counter[str]):
    """NZD is not enabled in Xero: the NZD opportunity waits (no call), the others go on."""
    _drop_currency("NZD")
    nzd, usd = h.won_of("Kiwi Orchards Ltd"), h.won_of("Acme Corporation")
    h.only(nzd, usd)
    run = h.sync(integration)
    assert run.status == SyncRun.Status.PARTIAL
    assert h.invoice(integration, usd).currency_code == "USD"
    row = h.ledger(integration, nzd)
    assert row.state == "pending"
    assert row.last_error == (
        f"{nzd.name!r} is in NZD, which is not enabled in Demo Widgets Ltd: add NZD in Xero "
        "(Settings → Currencies), or let CarryTheOne enable missing currencies. The "
        "opportunity waits until then."
    )
    assert calls["create_currency"] == 0
    assert not h.invoices().filter(currency_code="NZD").exists()
    assert [e.message for e in _open(integration)] == [row.last_error]
    # The rule's field goes with the entry: the log links it to the step that fixes it.
    assert [e.problem_field for e in _open(integration)] == ["currencies"]

    quiet = h.sync(integration)
    assert not quiet.entries.exists()
    assert h.ledger(integration, nzd).state == "pending"


def test_missing_currency_is_enabled_when_configured(integration: Integration):
    """enable_missing_currencies: NZD is added to Xero, then the invoice is sent in NZD."""
    _drop_currency("NZD")
    nzd = h.won_of("Kiwi Orchards Ltd")
    h.only(nzd)
    h.sync(integration)
    assert h.ledger(integration, nzd).state == "pending"

    h.configure(integration, enable_missing_currencies=True)
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Currency.objects.filter(organisation__name=xero_seed.MAIN_ORG, code="NZD").exists()
    invoice = h.invoice(integration, nzd)
    assert (invoice.currency_code, invoice.currency_rate) == (
        "NZD",
        xero_writes.day_rate("USD", "NZD"),
    )
    assert run.entries.filter(message="Currency NZD enabled in Xero.").exists()
    assert h.ledger(integration, nzd).state == "synced"
    assert not _open(integration).exists()


def test_foreign_currency_payment_uses_the_rate_of_its_invoice(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """A GBP payment two days later carries the invoice's CurrencyRate, not that day's rate."""
    gbp = h.won_of("Mersey Logistics Ltd")
    h.only(gbp)
    close = dt.date(2026, 4, 6)
    h.set_fields(gbp, payment_method="Credit Card", close_date=close)
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(
        integration,
        "Credit Card",
        apply_payment=True,
        bank_account_code="090",
        currency_accounts={"GBP": "091"},
        clearing_delay_days=2,
    )
    h.today(monkeypatch, close)
    h.sync(integration)
    invoice = h.invoice(integration, gbp)
    assert invoice.currency_code == "GBP"
    assert invoice.currency_rate == xero_writes.day_rate("USD", "GBP")
    # Xero's rate of the invoice day differed from today's (the sandbox's fixed day rate).
    XeroInvoice.objects.filter(pk=invoice.pk).update(currency_rate=Decimal("0.812345"))

    h.today(monkeypatch, close + dt.timedelta(days=2))
    h.sync(integration)
    (payment,) = XeroPayment.objects.filter(invoice=invoice)
    assert payment.account.code == "091"
    assert payment.currency_rate == Decimal("0.812345")
    assert payment.amount == invoice.total


def test_retry_after_xero_refused_a_currency_sends_the_invoice_again(integration: Integration):
    """Our cached settings listed NZD, Xero refused it; NZD is added and a person retries."""
    nzd = h.won_of("Kiwi Orchards Ltd")
    h.only(nzd)
    _stale_nzd(integration)
    h.sync(integration)
    row = h.ledger(integration, nzd)
    assert row.state == "failed"
    assert "The currency code NZD is not enabled" in row.last_error
    _restore_nzd()
    ledger_retry(entry_id=row.pk)
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert h.invoice(integration, nzd).currency_code == "NZD"


def _salesforce_rate(code: str, day: dt.date) -> Decimal:
    rate = DatedConversionRate.objects.get(
        org__name=salesforce_seed.DEMO_ORG,
        iso_code=code,
        start_date__lte=day,
        next_start_date__gt=day,
    )
    return Decimal(rate.conversion_rate).quantize(Decimal("0.000001"))


def test_salesforce_rates_become_the_invoice_and_payment_currency_rate(
    integration: Integration,
):
    """use_salesforce_rates: the dated rate of the close date (per USD, Xero's base) is the
    CurrencyRate of the invoice and of its payment; a missing rate makes it wait."""
    gbp, eur, aud = (
        h.won_of("Mersey Logistics Ltd"),
        h.won_of("Dublin Software Ltd"),
        h.won_of("Adelaide Hills Produce"),
    )
    h.only(gbp, eur, aud)
    for opportunity in (gbp, eur, aud):
        h.set_fields(opportunity, payment_method="Credit Card")
    DatedConversionRate.objects.filter(org__name=salesforce_seed.DEMO_ORG, iso_code="AUD").delete()
    h.configure(integration, use_salesforce_rates=True, payment_method_field="Payment_Method__c")
    h.method(
        integration,
        "Credit Card",
        apply_payment=True,
        bank_account_code="090",
        currency_accounts={"GBP": "091", "EUR": "092"},
    )

    run = h.sync(integration)
    for opportunity in (gbp, eur):
        code = opportunity.currency_iso_code
        expected = _salesforce_rate(code, opportunity.close_date)
        assert expected != xero_writes.day_rate("USD", code)  # else this proves nothing
        invoice = h.invoice(integration, opportunity)
        assert (invoice.currency_code, invoice.currency_rate) == (code, expected)
        (payment,) = invoice.payments.all()
        assert (payment.currency_rate, payment.amount) == (expected, invoice.total)
    row = h.ledger(integration, aud)
    assert row.state == "pending"
    assert row.last_error.startswith(
        f"Salesforce has no conversion rate for AUD on {aud.close_date.isoformat()}"
    )
    assert run.entries.filter(outcome="attention", salesforce_id=aud.sf_id).exists()


# --- tracking ------------------------------------------------------------------------------------


def test_tracking_from_a_fixed_option_and_from_a_mapped_field(integration: Integration):
    """Sales Rep is always "Carol White"; Region follows Region__c through the mapping."""
    us, uk, au = (
        h.won_of("Acme Corporation"),
        h.won_of("Cardiff Bay Robotics"),
        h.won_of("Umbrella Pty Ltd"),
    )
    h.only(us, uk, au)
    TrackingRule.objects.create(
        integration=integration,
        category_name="region",  # as people type it: Xero's spelling is used
        source="field",
        field="Region__c",
        mapping={"North America": "West", "emea": "East", "APAC": "South"},
    )
    TrackingRule.objects.create(
        integration=integration,
        category_name="Sales Rep",
        source="fixed",
        fixed_option="carol white",
    )
    run = h.sync(integration)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    for opportunity, region in ((us, "West"), (uk, "East"), (au, "South")):
        invoice = h.invoice(integration, opportunity)
        assert len(invoice.lines) == len(h.lines(opportunity))
        assert _tracking(invoice) == {(("Region", region), ("Sales Rep", "Carol White"))}
    assert TrackingOption.objects.filter(category__name="Region").count() == 4


def test_missing_tracking_option_waits_unless_creating_is_allowed(
    integration: Integration, calls: Counter[str]
):
    """Region__c "EMEA" maps to nothing and is no option: it waits; allowed, it is created."""
    us, uk = h.won_of("Acme Corporation"), h.won_of("Cardiff Bay Robotics")
    h.only(us, uk)
    rule = TrackingRule.objects.create(
        integration=integration,
        category_name="Region",
        source="field",
        field="Region__c",
        mapping={"North America": "North"},
    )
    run = h.sync(integration)
    assert run.status == SyncRun.Status.PARTIAL
    assert _tracking(h.invoice(integration, us)) == {(("Region", "North"),)}
    row = h.ledger(integration, uk)
    assert row.state == "pending"
    assert row.last_error == (
        "The tracking option 'EMEA' in category 'Region' of Demo Widgets Ltd does not exist: "
        "add it in Xero, map the value to an existing option, or allow creating missing "
        "options in the tracking rules."
    )
    assert calls["create_tracking_options"] == 0
    assert not TrackingOption.objects.filter(name="EMEA").exists()

    rule.create_missing_options = True
    rule.save()
    fixed = h.sync(integration)
    assert fixed.status == SyncRun.Status.SUCCEEDED, fixed.error
    (option,) = TrackingOption.objects.filter(category__name="Region", name="EMEA")
    assert option.status == "ACTIVE"
    assert _tracking(h.invoice(integration, uk)) == {(("Region", "EMEA"),)}
    assert calls["create_tracking_options"] == 1
    assert not _open(integration).exists()

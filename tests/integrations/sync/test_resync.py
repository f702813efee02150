"""Re-sync from scratch: what it promises per state of the invoice in Xero, and, end to end
against the sandbox, that it rewrites the invoice in place and never creates a second one."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from integrations.connections.xero.records import Invoice
from integrations.core.models import Integration
from integrations.sync import services
from integrations.sync.lookup import resync_plan, resync_preview
from integrations.sync.models import (
    ContactLink,
    LedgerEntry,
    OperationAttempt,
    RecordAction,
    SyncLogEntry,
    XeroOperation,
)
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import XeroOrganisation
from tests.factories import AccountFactory, UserFactory
from tests.integrations.sync import helpers as h

INVOICE_ID = "3f1c1a2e-0000-4000-8000-000000000001"


def _invoice(status: str, *, paid: str = "0", total: str = "1200.00") -> Invoice:
    return Invoice.parse(
        {
            "InvoiceID": INVOICE_ID,
            "InvoiceNumber": "INV-0042",
            "Type": "ACCREC",
            "Status": status,
            "CurrencyCode": "GBP",
            "Total": Decimal(total),
            "AmountPaid": Decimal(paid),
            "AmountDue": Decimal(total) - Decimal(paid),
        }
    )


@pytest.fixture
def row(db: Any) -> LedgerEntry:
    account = AccountFactory.create()
    from integrations.connections.models import Connection

    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account, provider=provider, external_id=provider, credentials={}
        )

    integration = Integration.objects.create(
        account=account,
        name="Main",
        salesforce_connection=connection("salesforce"),
        xero_connection=connection("xero"),
    )
    return LedgerEntry.objects.create(
        integration=integration,
        salesforce_id="0065g00000AbCdEAAV",
        opportunity_name="Globex renewal",
        state=LedgerEntry.State.SYNCED,
        xero_invoice_id=INVOICE_ID,
        xero_invoice_number="INV-0042",
        content_hash="h",
    )


def test_an_editable_unpaid_invoice_is_promised_an_update_in_place(row):
    for status in ("DRAFT", "SUBMITTED", "AUTHORISED"):
        plan = resync_plan(ledger=row, invoice=_invoice(status), checked=True)
        assert plan.allowed
        assert f"Invoice INV-0042 is {status} in Xero (total GBP 1,200.00, paid GBP 0.00)" in (
            plan.what_happens
        )
        assert "updated in place" in plan.what_happens
        assert "no second invoice" in plan.what_happens


@pytest.mark.parametrize(
    ("status", "paid"), [("PAID", "1200.00"), ("AUTHORISED", "200.00")], ids=["paid", "part-paid"]
)
def test_a_paid_invoice_is_left_alone_and_the_page_says_why(row, status, paid):
    plan = resync_plan(ledger=row, invoice=_invoice(status, paid=paid), checked=True)
    assert not plan.allowed
    assert (
        f"Invoice INV-0042 is {status} in Xero (total GBP 1,200.00, paid GBP {Decimal(paid):,.2f})"
        in (plan.what_happens)
    )
    assert "change nothing in Xero" in plan.what_happens


@pytest.mark.parametrize("status", ["VOIDED", "DELETED"])
def test_a_voided_or_deleted_invoice_is_never_replaced_by_a_resync(row, status):
    plan = resync_plan(ledger=row, invoice=_invoice(status), checked=True)
    assert not plan.allowed
    assert f"A {status.lower()} invoice cannot be changed" in plan.what_happens
    assert "reopened or lost and then won again" in plan.what_happens


def test_an_invoice_xero_does_not_have_is_not_recreated(row):
    plan = resync_plan(ledger=row, invoice=None, checked=True)
    assert not plan.allowed
    assert "Invoice INV-0042 was not found in Xero" in plan.what_happens


def test_when_xero_cannot_be_asked_the_engine_s_rule_is_told(row):
    plan = resync_plan(ledger=row, invoice=None, checked=False, unreachable="Xero is down")
    assert plan.allowed
    assert "Xero could not be asked about invoice INV-0042 just now (Xero is down)" in (
        plan.what_happens
    )
    assert "updated in place" in plan.what_happens
    assert "otherwise nothing changes in Xero" in plan.what_happens


def test_without_an_invoice_one_is_created(row):
    row.xero_invoice_id = row.xero_invoice_number = ""
    plan = resync_plan(ledger=row, invoice=None, checked=False)
    assert plan.allowed
    assert "It has no invoice in Xero yet: one invoice is created for it." in plan.what_happens


@pytest.mark.parametrize("state", [LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN])
def test_a_row_being_sent_or_settled_is_not_resynced(row, state):
    row.state = state
    row.save()
    plan = resync_plan(ledger=row, invoice=_invoice("AUTHORISED"), checked=True)
    assert not plan.allowed
    assert "being sent" in plan.what_happens
    with pytest.raises(services.ResyncError, match="being sent"):
        services.ledger_resync(ledger=row, user=None)
    row.refresh_from_db()
    assert row.state == state
    assert not RecordAction.objects.exists()


def test_a_withdrawn_opportunity_is_not_resynced(row):
    row.withdrawn = LedgerEntry.Withdrawal.LOST
    row.save()
    plan = resync_plan(ledger=row, invoice=None, checked=False)
    assert not plan.allowed
    assert "The opportunity is closed lost" in plan.what_happens
    with pytest.raises(services.ResyncError):
        services.ledger_resync(ledger=row, user=None)


# --- end to end, against the sandbox -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_resync_rewrites_the_invoice_in_place_and_never_creates_a_second(
    integration: Integration, calls: Counter[str], monkeypatch: pytest.MonkeyPatch
):
    queued: list[int] = []
    monkeypatch.setattr(
        services, "enqueue_sync", lambda *, integration_id, trigger: queued.append(integration_id)
    )
    deal = h.won_of("Acme Corporation")
    h.only(deal)
    h.sync(integration)
    first = h.invoice(integration, deal)
    row = h.ledger(integration, deal)
    # The first write's attempt, with Xero's answer.
    (created,) = OperationAttempt.objects.filter(operation__ledger=row)
    assert created.outcome == OperationAttempt.Outcome.DONE
    assert created.answer["number"] == first.invoice_number
    assert created.answer["status"] == first.status
    assert ContactLink.objects.filter(integration=integration).exists()
    # The organisation's ShortCode, read with its settings, is kept for links into Xero.
    xero = integration.xero_connection
    assert xero is not None
    xero.refresh_from_db()
    assert xero.short_code == XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG).short_code
    assert xero.short_code.startswith("!")
    # Someone edits the invoice in Xero; an ordinary sync sees nothing new to send.
    XeroInvoice.objects.filter(pk=first.pk).update(reference="edited by hand")
    h.sync(integration)
    assert XeroInvoice.objects.get(pk=first.pk).reference == "edited by hand"

    plan = resync_preview(ledger=row)
    assert plan.checked
    assert plan.allowed
    assert f"Invoice {first.invoice_number} is {first.status} in Xero" in plan.what_happens
    assert "updated in place" in plan.what_happens
    user: User = UserFactory.create()
    SyncLogEntry.objects.create(
        integration=integration, ledger=row, outcome=SyncLogEntry.Outcome.ATTENTION, message="x"
    )
    action = services.ledger_resync(ledger=row, user=user, told=plan.what_happens)
    assert queued == [integration.pk]
    assert (action.action, action.user, action.note) == ("resync", user, plan.what_happens)
    row.refresh_from_db()
    assert (row.state, row.content_hash) == (LedgerEntry.State.PENDING, "")
    assert row.generation == 1
    # What the record's sync remembered is forgotten: its contact is matched again.
    assert not ContactLink.objects.filter(
        integration=integration, xero_contact_id=row.xero_contact_id
    ).exists()
    assert not SyncLogEntry.objects.filter(
        ledger=row, outcome=SyncLogEntry.Outcome.ATTENTION, dismissed_at__isnull=True
    ).exists()

    calls.clear()
    h.sync(integration)
    row.refresh_from_db()
    assert row.state == LedgerEntry.State.SYNCED
    after = h.invoices().filter(contact__contact_number=first.contact.contact_number)
    assert list(after.values_list("invoice_id", flat=True)) == [first.invoice_id]
    again = XeroInvoice.objects.get(pk=first.pk)
    assert (again.invoice_number, again.reference) == (first.invoice_number, first.reference)
    assert calls["create_invoices"] == 0
    assert calls["update_or_create_invoices"] == 1
    update = XeroOperation.objects.get(ledger=row, kind=XeroOperation.Kind.INVOICE_UPDATE)
    assert update.state == XeroOperation.State.DONE
    assert update.body["InvoiceID"] == str(first.invoice_id)
    assert [a.outcome for a in OperationAttempt.objects.filter(operation=update)] == ["done"]
    h.no_duplicates(integration)


@pytest.mark.django_db(transaction=True)
def test_a_paid_invoice_is_not_resynced(integration: Integration, monkeypatch: pytest.MonkeyPatch):
    deal = h.won_of("Acme Corporation")
    h.only(deal)
    h.sync(integration)
    first = h.invoice(integration, deal)
    XeroInvoice.objects.filter(pk=first.pk).update(status="PAID", amount_paid=first.total)
    plan = resync_preview(ledger=h.ledger(integration, deal))
    assert plan.checked
    assert not plan.allowed
    assert f"Invoice {first.invoice_number} is PAID in Xero" in plan.what_happens
    assert f"paid {first.currency_code} {first.total:,.2f}" in plan.what_happens

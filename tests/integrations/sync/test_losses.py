"""The five losses found by the fault-injection run against the old engine, one test each.

1. a payment refused by Xero's limit (a 429) or by our own limiter was left ``sending`` for ever;
2. a negative line's credit note was never raised when its invoice was found after a lost answer;
3. a crash between recording a withdrawal and voiding its invoice left the invoice live;
4. a worker frozen past its claim kept writing beside the worker that took over;
5. a claim whose release was lost to the database stalled the integration for ten minutes.

End to end against both simulators over HTTP; faults are injected at the Xero client's one
``call`` (what the product sends) or in the simulator (what Xero does with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError
from django.db.models import QuerySet
from django.utils import timezone

from integrations.connections.xero.client import XeroClient, XeroRateLimited
from integrations.core.models import Integration, IntegrationPause
from integrations.sync import claim
from integrations.sync import run as run_module
from integrations.sync.models import (
    CreditNoteEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)
from integrations.sync.run import sync_integration
from sandbox.salesforce import services as sf_sandbox
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Payment as XeroPayment
from sandbox.xero.models import XeroOrganisation
from tests.integrations.sync import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)

Kind = XeroOperation.Kind
Op = XeroOperation.State
WRITE_PREFIXES = ("create_", "update_or_create_")
REAL_CALL = XeroClient.call


class KilledWorker(BaseException):
    """The worker process dying: nothing catches it."""


def _on_call(
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[XeroClient, str, tuple[Any, ...], dict[str, Any]], Any],
    *,
    when: Callable[[str], bool],
) -> list[str]:
    """Runs ``fault`` in place of the first call ``when`` picks; every call's method listed."""
    calls: list[str] = []
    fired: list[bool] = []

    def call(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        if not fired and when(method):
            fired.append(True)
            return fault(self, method, args, kwargs)
        return REAL_CALL(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroClient, "call", call)
    return calls


def _wait_over(integration: Integration) -> None:
    """The wait Xero asked for has passed (the test does not sleep through it)."""
    IntegrationPause.objects.filter(integration=integration, cause="rate_limit").update(
        until=timezone.now() - dt.timedelta(seconds=1)
    )


def _claim_expired(integration: Integration) -> None:
    """The dead worker's claim has expired (within SYNC_CLAIM_TTL; the test does not wait)."""
    Integration.objects.filter(pk=integration.pk).update(
        sync_claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )


def _card_deal(integration: Integration) -> Any:
    deal = h.won_of("Massive Dynamic")
    h.only(deal)
    h.set_fields(deal, payment_method="Credit Card")
    h.configure(integration, payment_method_field="Payment_Method__c")
    h.method(integration, "Credit Card", apply_payment=True, bank_account_code="090")
    return deal


# --- 1. a payment refused by the rate limit -------------------------------------------------------


@pytest.mark.parametrize("refusal", ["xero_429", "our_limiter"])
def test_a_payment_refused_by_the_rate_limit_waits_with_a_log_entry_then_is_paid(
    integration: Integration, monkeypatch: pytest.MonkeyPatch, refusal: str
):
    deal = _card_deal(integration)

    def refuse(client: XeroClient, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        if refusal == "our_limiter":
            raise XeroRateLimited(
                "No slot in Xero's minute limit within the wait.", retry_after=20, problem="minute"
            )
        org = XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG)
        org.update(faults={"force_429": 1})
        try:
            return REAL_CALL(client, method, *args, **kw)
        finally:
            org.update(faults={})

    _on_call(monkeypatch, refuse, when=lambda method: method == "create_payments")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert (run.status, run.retry_after is not None) == (SyncRun.Status.STOPPED, True)
    entry = PaymentEntry.objects.get(ledger=h.ledger(integration, deal))
    assert entry.state == PaymentEntry.State.SCHEDULED
    (op,) = XeroOperation.objects.filter(integration=integration, kind=Kind.PAYMENT)
    assert op.state == Op.WAITING
    waiting = SyncLogEntry.objects.get(integration=integration, step="payment")
    assert waiting.outcome == SyncLogEntry.Outcome.WAITING
    assert "sent again once Xero allows" in waiting.message

    # Not before the wait is over; then paid, once.
    assert sync_integration(integration_id=integration.pk) is None
    _wait_over(integration)
    h.sync(integration)
    entry.refresh_from_db()
    invoice = h.invoice(integration, deal)
    assert entry.state == PaymentEntry.State.PAID
    assert XeroPayment.objects.filter(invoice=invoice).count() == 1
    assert (invoice.status, invoice.amount_paid) == ("PAID", invoice.total)
    op.refresh_from_db()
    assert op.state == Op.DONE


# --- 2. a negative line after a lost answer -------------------------------------------------------


def test_a_negative_line_is_credited_when_its_invoice_is_found_after_a_lost_answer(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    deal = h.won_of("Stark Industries", nth=1)
    h.only(deal)
    h.configure(integration, default_tax_type="TAX005", negative_lines="credit_note")
    first = h.lines(deal)[0]
    sf_sandbox.line_item_add(
        opportunity=deal, product=first.product, quantity=-1, description="Returned"
    )
    lost = h.lose_first_create_answer(monkeypatch)
    h.sync(integration)
    assert h.ledger(integration, deal).state == "unknown"
    assert not h.credit_notes().exists()

    h.sync(integration)
    row = h.ledger(integration, deal)
    assert (row.state, row.xero_invoice_id) == ("synced", lost[0])
    (note,) = h.credit_notes()
    assert note.sub_total == first.unit_price
    (entry,) = CreditNoteEntry.objects.filter(ledger=row)
    assert (entry.reason, entry.state) == ("negative_lines", CreditNoteEntry.State.DONE)
    assert h.invoices().count() == 1


# --- 3. a crash between a withdrawal and its void -------------------------------------------------


def test_a_crash_after_a_withdrawal_is_recorded_leaves_its_void_to_do(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    deal = h.won_of("Stark Industries")
    h.only(deal)
    h.configure(integration, credit_note_on_withdrawal=True, void_unpaid_instead=True)
    h.sync(integration)
    invoice = h.invoice(integration, deal)
    assert invoice.status == "AUTHORISED"

    h.sf_change(deal, stage_name="Closed Lost")

    def die(client: XeroClient, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        raise KilledWorker

    # The worker dies at its first Xero call after reading the news from Salesforce.
    calls = _on_call(monkeypatch, die, when=lambda method: True)
    with pytest.raises(KilledWorker):
        sync_integration(integration_id=integration.pk)
    assert len(calls) == 1
    row = h.ledger(integration, deal)
    assert row.withdrawn == "lost"
    (entry,) = CreditNoteEntry.objects.filter(ledger=row)
    assert (entry.reason, entry.state) == ("withdrawn", CreditNoteEntry.State.PENDING)
    invoice.refresh_from_db()
    assert invoice.status == "AUTHORISED"

    _claim_expired(integration)
    h.sync(integration)
    invoice.refresh_from_db()
    entry.refresh_from_db()
    assert invoice.status == "VOIDED"
    assert (entry.action, entry.state) == ("voided", CreditNoteEntry.State.DONE)
    assert SyncLogEntry.objects.filter(
        integration=integration, ledger=row, message__contains="voided"
    ).exists()


# --- 4. a frozen worker ---------------------------------------------------------------------------


def test_a_worker_that_lost_its_claim_stops_before_its_next_write(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """Frozen past its claim after its first write (another worker took over meanwhile), the
    worker resumes: it must not write again, and the new holder finishes without duplicates
    or false "changed after payment" news."""
    deal = _card_deal(integration)

    def freeze(client: XeroClient, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        answer = REAL_CALL(client, method, *args, **kw)
        _claim_expired(integration)
        assert claim.integration_claim(
            integration_id=integration.pk, worker="other", ttl=claim.claim_ttl()
        )
        return answer

    calls = _on_call(monkeypatch, freeze, when=lambda method: method.startswith(WRITE_PREFIXES))
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    writes = [i for i, method in enumerate(calls) if method.startswith(WRITE_PREFIXES)]
    assert len(writes) == 1, calls
    assert run.status == SyncRun.Status.STOPPED
    assert "lost its claim" in run.error
    # The frozen worker left the new holder's claim alone.
    holder = Integration.objects.get(pk=integration.pk)
    assert holder.sync_claimed_by == "other"

    # The new holder's run (its claim is over when it ends).
    claim.integration_release(integration_id=integration.pk, worker="other")
    h.sync(integration)
    invoice = h.invoice(integration, deal)
    assert h.invoices().count() == 1
    assert XeroPayment.objects.filter(invoice=invoice).count() == 1
    assert not SyncLogEntry.objects.filter(
        integration=integration, outcome__in=("attention", "failed")
    ).exists()


# --- 5. a release lost to the database ------------------------------------------------------------


def test_a_release_lost_to_the_database_delays_the_next_run_by_seconds(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    h.only(h.won_of("Stark Industries"))
    real_release = claim.integration_release
    real_update = QuerySet.update

    def database_gone(self: QuerySet[Any], **kwargs: Any) -> int:
        raise OperationalError("server closed the connection unexpectedly")

    def release_while_the_database_is_gone(**kwargs: Any) -> None:
        with monkeypatch.context() as down:
            down.setattr(QuerySet, "update", database_gone)
            down.setattr("integrations.sync.claim.time.sleep", lambda seconds: None)
            real_release(**kwargs)

    monkeypatch.setattr(run_module, "integration_release", release_while_the_database_is_gone)
    started = timezone.now()
    h.sync(integration)
    assert QuerySet.update is real_update
    left = Integration.objects.get(pk=integration.pk)
    assert left.sync_claimed_by  # the release never reached the database
    assert left.sync_claimed_until is not None
    # Held no longer than one claim's lifetime, which is well under a minute.
    ttl = dt.timedelta(seconds=settings.SYNC_CLAIM_TTL)
    assert ttl <= dt.timedelta(seconds=30)
    assert left.sync_claimed_until <= timezone.now() + ttl
    assert left.sync_claimed_until >= started
    assert sync_integration(integration_id=integration.pk) is None
    # Once it has expired, the next poll's worker proceeds.
    later = left.sync_claimed_until + dt.timedelta(seconds=1)
    monkeypatch.setattr("integrations.sync.claim.timezone.now", lambda: later)
    assert claim.integration_claim(integration_id=integration.pk, worker="next", ttl=ttl)


# --- found by make chaos: a withdrawal while the invoice waits to be sent again ----------------


@pytest.mark.parametrize("credit_note_on_withdrawal", [False, True])
def test_an_invoice_waiting_to_be_sent_is_cancelled_when_its_deal_is_lost(
    integration: Integration, monkeypatch: pytest.MonkeyPatch, credit_note_on_withdrawal: bool
):
    """A lost answer settled as "not in Xero" (or a 429) leaves the invoice's write waiting for
    its next send; the deal was lost meanwhile. The ledger row said "nothing in Xero" while the
    write stayed waiting for ever: no step picks up a waiting invoice of a withdrawn row, and a
    deal won again would have reused the stale write."""
    deal = h.won_of("Stark Industries")
    h.only(deal)
    h.configure(
        integration,
        credit_note_on_withdrawal=credit_note_on_withdrawal,
        void_unpaid_instead=True,
    )

    def refuse(client: XeroClient, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        org = XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG)
        org.update(faults={"force_429": 1})
        try:
            return REAL_CALL(client, method, *args, **kw)
        finally:
            org.update(faults={})

    _on_call(monkeypatch, refuse, when=lambda method: method == "create_invoices")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.STOPPED
    (op,) = XeroOperation.objects.filter(integration=integration, kind=Kind.INVOICE)
    assert op.state == Op.WAITING

    h.sf_change(deal, stage_name="Closed Lost")
    _wait_over(integration)
    h.sync(integration)
    row = h.ledger(integration, deal)
    assert row.state == "withdrawn"
    op.refresh_from_db()
    assert op.state == Op.CANCELLED
    assert not XeroOperation.objects.filter(
        integration=integration, state__in=(Op.WAITING, Op.SENDING, Op.UNKNOWN)
    ).exists()
    assert not h.invoices().filter(reference=deal.name).exists()

    # Won again: invoiced once, by a write of its own.
    h.sf_change(deal, stage_name="Closed Won")
    h.sync(integration)
    assert h.invoices().filter(reference=deal.name).exclude(status="VOIDED").count() == 1
    assert not XeroOperation.objects.filter(
        integration=integration, state__in=(Op.WAITING, Op.SENDING, Op.UNKNOWN)
    ).exists()

"""Every fault at every Xero call of a scenario rich in money: nothing duplicated, nothing lost.

The scenario, against both simulators over HTTP: four won deals with payments into per-currency
bank accounts (one in a foreign currency), negative lines kept apart as a credit note; then one
paid deal lost (credit note, refund), one unpaid deal lost (void) and one paid deal's amount
falling (credit for the difference). A baseline run lists its Xero calls; then, for each call k
and each fault kind that applies to it, the scenario runs again with that one fault injected at
call k, converges without faults, and the invariants are checked:

- exactly one live invoice per invoiceable won opportunity, none for withdrawn ones left live;
- each payment recorded once, for the planned amount, never above what was due;
- one credit note per piece of news; the lost paid deal fully credited, the unpaid one voided;
- no write left waiting, sending or unknown.

Fault kinds: refused before sending (our limiter), 429, 503 before processing, saved and then
the answer lost, the worker killed after Xero answered and before our commit, and the claim
taken over by another worker just before a write (the next write must not happen).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F

from integrations.connections import ratelimit
from integrations.connections.xero.client import XeroClient, XeroRateLimited
from integrations.core.config import SyncConfig
from integrations.core.models import Integration, IntegrationPause
from integrations.demo import configure_demo_rules
from integrations.rules.models import PaymentMethod
from integrations.sync import calendar
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)
from integrations.sync.run import sync_integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import OpportunityLineItem
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import CreditNote, XeroOrganisation
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import Payment as XeroPayment
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = dt.date(2026, 12, 2)
WRITE_PREFIXES = ("create_", "update_or_create_")
WRITE_FAULTS = ("refused", "429", "503", "lost", "killed", "takeover")
READ_FAULTS = ("503",)


REAL_CALL = XeroClient.call


class KilledWorker(BaseException):
    """The worker process dying: nothing catches it, nothing after it runs but ``finally``."""


@dataclass
class Plan:
    """One fault at one call (0: none); ``calls`` records every call's method."""

    at: int = 0
    kind: str = ""
    calls: list[str] = field(default_factory=list)
    fired: bool = False


@dataclass(frozen=True)
class Deals:
    paid_usd: SandboxOpportunity
    paid_eur: SandboxOpportunity
    unpaid: SandboxOpportunity
    returned: SandboxOpportunity

    def all(self) -> list[SandboxOpportunity]:
        return [self.paid_usd, self.paid_eur, self.unpaid, self.returned]


def _won(currency: str, method: str, *, exclude: list[str]) -> SandboxOpportunity:
    found = (
        SandboxOpportunity.objects.filter(
            org__name=salesforce_seed.DEMO_ORG,
            is_won=True,
            is_deleted=False,
            currency_iso_code=currency,
        )
        .exclude(sf_id__in=exclude)
        .exclude(opportunitylineitem=None)
        .order_by("sf_id")
        .first()
    )
    assert found is not None, (currency, method)
    SandboxOpportunity.objects.filter(pk=found.pk).update(payment_method=method)
    found.refresh_from_db()
    return found


def _setup(sandbox_url: str) -> tuple[Integration, Deals]:
    integration = sandbox_integration(
        sandbox_url, is_enabled=True, config=SyncConfig(default_currency="USD").to_json()
    )
    configure_demo_rules(integration_id=integration.pk)
    # Card payments clear the same day: the scenario pays in its first run.
    PaymentMethod.objects.filter(integration=integration).update(clearing_delay_days=0)
    picked: list[str] = []
    deals = []
    for currency, method in (
        ("USD", "Credit Card"),
        ("EUR", "Credit Card"),
        ("USD", "Bank Transfer"),
        ("USD", "Bank Transfer"),
    ):
        deal = _won(currency, method, exclude=picked)
        picked.append(deal.sf_id)
        deals.append(deal)
    # Every other won deal moves to an open stage (a plain UPDATE: nothing was read yet).
    SandboxOpportunity.objects.filter(org__name=salesforce_seed.DEMO_ORG, is_won=True).exclude(
        sf_id__in=picked
    ).update(stage_name="Prospecting", is_won=False, is_closed=False)
    returned = deals[3]
    line = returned.opportunitylineitem_set.filter(is_deleted=False).order_by("sort_order").first()
    assert line is not None
    sf_sandbox.line_item_add(
        opportunity=returned, product=line.product, quantity=-1, unit_price=line.unit_price
    )
    SandboxOpportunity.objects.filter(pk=returned.pk).update(close_date=TODAY)
    for deal in deals:
        SandboxOpportunity.objects.filter(pk=deal.pk).update(close_date=TODAY)
    return integration, Deals(*deals)


def _inject(monkeypatch: pytest.MonkeyPatch, plan: Plan) -> None:
    original = REAL_CALL

    def faulty(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        plan.calls.append(method)
        if plan.fired or len(plan.calls) != plan.at:
            return original(self, method, *args, **kwargs)
        plan.fired = True
        org = XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG)
        if plan.kind == "refused":
            raise XeroRateLimited(
                "No slot within the wait (the test's limiter).", retry_after=0.01, problem="minute"
            )
        if plan.kind == "takeover":
            # Another worker claims the integration (this one froze past its claim): the call
            # in hand was committed under the old claim; the next write must not happen.
            Integration.objects.update(sync_fence=F("sync_fence") + 1, sync_claimed_by="other")
            return original(self, method, *args, **kwargs)
        if plan.kind == "killed":
            original(self, method, *args, **kwargs)
            raise KilledWorker
        faults = {
            "429": {"force_429": 1},
            "503": {"error_every": 1},
            "lost": {"lose_answer_every": 1},
        }
        org.update(faults=faults[plan.kind])
        try:
            return original(self, method, *args, **kwargs)
        finally:
            org.update(faults={})

    monkeypatch.setattr(XeroClient, "call", faulty)


def _sync(integration: Integration) -> SyncRun | None:
    try:
        return sync_integration(integration_id=integration.pk)
    except KilledWorker:
        return None
    except Exception:
        return None


def _converge(integration: Integration) -> None:
    """Runs again, as beat would, until a run ends cleanly with nothing left open."""
    for _ in range(8):
        # A wait asked by Xero and a claim left by a killed worker would be over by the next
        # poll; the test does not wait for either.
        IntegrationPause.objects.filter(integration=integration).delete()
        Integration.objects.filter(pk=integration.pk).update(
            sync_claimed_until=None, sync_claimed_by=""
        )
        ratelimit.reset_for_tests()
        run = _sync(integration)
        if (
            run is not None
            and run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
            and not XeroOperation.objects.filter(
                integration=integration, state__in=OPEN_OPERATION_STATES
            ).exists()
        ):
            return
    pytest.fail("the sync did not converge")


def _scenario(
    sandbox_url: str, monkeypatch: pytest.MonkeyPatch, plan: Plan
) -> tuple[Integration, Deals]:
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    ratelimit.reset_for_tests()
    integration, deals = _setup(sandbox_url)
    _inject(monkeypatch, plan)
    _converge(integration)
    # News: the paid USD deal lost (credit and refund), the unpaid one lost (void), the paid
    # EUR deal's amount falling (credit for the difference).
    for deal in (deals.paid_usd, deals.unpaid):
        sf_sandbox.opportunity_save(org=deal.org, opportunity=deal, stage_name="Closed Lost")
    line = (
        OpportunityLineItem.objects.filter(opportunity=deals.paid_eur, is_deleted=False)
        .order_by("sort_order")
        .first()
    )
    assert line is not None
    sf_sandbox.line_item_update(line_item=line, unit_price=line.unit_price / 2)
    _converge(integration)
    return integration, deals


def _check(integration: Integration, deals: Deals, label: str) -> None:
    invoices = XeroInvoice.objects.filter(organisation__name=xero_seed.MAIN_ORG).exclude(
        reference__startswith="Demo order"
    )
    live = invoices.exclude(status__in=("VOIDED", "DELETED"))
    by_reference = Counter(live.values_list("reference", flat=True))
    for deal in (deals.paid_eur, deals.returned):
        assert by_reference[deal.name] == 1, (label, deal.name, by_reference)
    ledger = {r.salesforce_id: r for r in LedgerEntry.objects.filter(integration=integration)}
    unpaid = XeroInvoice.objects.get(invoice_id=ledger[deals.unpaid.sf_id].xero_invoice_id)
    assert unpaid.status == "VOIDED", (label, unpaid.status)
    lost = XeroInvoice.objects.get(invoice_id=ledger[deals.paid_usd.sf_id].xero_invoice_id)
    notes = CreditNote.objects.filter(organisation__name=xero_seed.MAIN_ORG)
    # One credit note per piece of news: the lost paid deal, the fall, the returned unit.
    assert notes.count() == 3, (label, list(notes.values_list("reference", "total")))
    assert sum((n.total for n in notes.filter(contact=lost.contact)), Decimal(0)) >= lost.total
    entries = CreditNoteEntry.objects.filter(integration=integration).exclude(
        state=CreditNoteEntry.State.CANCELLED
    )
    assert Counter(entries.values_list("reason", flat=True)) == Counter(
        {"withdrawn": 2, "amount_drop": 1, "negative_lines": 1}
    ), label
    assert not entries.exclude(state=CreditNoteEntry.State.DONE).exists(), label
    # Each payment once, for the plan, never above what was due.
    for deal in (deals.paid_usd, deals.paid_eur):
        invoice = XeroInvoice.objects.get(invoice_id=ledger[deal.sf_id].xero_invoice_id)
        payments = XeroPayment.objects.filter(invoice=invoice)
        assert payments.count() == 1, (label, deal.name, payments.count())
        assert payments.get().amount <= invoice.total
        (entry,) = PaymentEntry.objects.filter(ledger=ledger[deal.sf_id])
        assert (entry.state, entry.amount) == ("paid", payments.get().amount), label
    assert not XeroOperation.objects.filter(
        integration=integration, state__in=OPEN_OPERATION_STATES
    ).exists(), label
    assert not SyncLogEntry.objects.filter(integration=integration, outcome="failed").exists(), (
        label,
        list(SyncLogEntry.objects.filter(outcome="failed").values_list("message", flat=True)),
    )


def test_every_fault_at_every_call_converges_to_the_truth(
    sandbox_url: str, settings: Any, monkeypatch: pytest.MonkeyPatch
):
    point_at_sandbox(settings, sandbox_url)
    monkeypatch.setattr(calendar, "today", lambda: TODAY)
    baseline = Plan()
    integration, deals = _scenario(sandbox_url, monkeypatch, baseline)
    _check(integration, deals, "baseline")
    calls = list(baseline.calls)
    assert calls, "the scenario made no Xero call"
    print(f"baseline: {len(calls)} calls: {Counter(calls)}")
    cases = [
        (k, kind)
        for k, method in enumerate(calls, start=1)
        for kind in (WRITE_FAULTS if method.startswith(WRITE_PREFIXES) else READ_FAULTS)
    ]
    limit = int(os.environ.get("FAULT_CASES", "0") or 0)
    for k, kind in cases[:limit] if limit else cases:
        plan = Plan(at=k, kind=kind)
        integration, deals = _scenario(sandbox_url, monkeypatch, plan)
        assert plan.fired, (k, kind)
        _check(integration, deals, f"{kind} at call {k} ({calls[k - 1]})")

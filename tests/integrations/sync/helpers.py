"""Helpers shared by the engine's end-to-end tests (the sandbox's view of the outcome)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from integrations.connections.xero.client import XeroClient
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from integrations.sync import calendar
from integrations.sync.models import LedgerEntry, SyncRun
from integrations.sync.run import sync_integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import OpportunityLineItem
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import CreditNote
from sandbox.xero.models import Invoice as XeroInvoice

# The demo's big order: kept out of the small scenarios.
BULK = "Globex Ltd - Bulk widget rollout"
WRITES = {"create_invoices", "update_or_create_invoices", "create_contacts", "create_items"}


def won() -> set[str]:
    return set(
        SandboxOpportunity.objects.filter(
            org__name=salesforce_seed.DEMO_ORG, is_won=True, is_deleted=False
        ).values_list("sf_id", flat=True)
    )


def ours() -> Any:
    return XeroInvoice.objects.filter(organisation__name=xero_seed.MAIN_ORG).exclude(
        reference__startswith="Demo order"
    )


def no_duplicates(integration: Integration) -> None:
    pairs = Counter(ours().values_list("reference", "contact__contact_number"))
    assert all(count == 1 for count in pairs.values()), pairs
    synced = LedgerEntry.objects.filter(integration=integration, state="synced")
    ids = list(synced.values_list("xero_invoice_id", flat=True))
    assert len(ids) == len(set(ids))


# --- the accounting scenarios' helpers -----------------------------------------------------


def won_of(account: str, *, nth: int = 0) -> SandboxOpportunity:
    """The ``nth`` won opportunity of a demo Account (by Id: stable across seeds)."""
    found = list(
        SandboxOpportunity.objects.filter(
            org__name=salesforce_seed.DEMO_ORG,
            account__name=account,
            is_won=True,
            is_deleted=False,
        )
        .exclude(name=BULK)
        .order_by("sf_id")
    )
    assert len(found) > nth, f"the demo seed has no won opportunity #{nth} of {account}"
    return found[nth]


def only(*opportunities: SandboxOpportunity) -> list[str]:
    """Keeps these won opportunities and moves every other one to an open stage.

    A plain UPDATE (no new SystemModstamp): the first sync reads from the start anyway, and the
    lifecycle query never sees rows changed before it started watching.
    """
    keep = [o.sf_id for o in opportunities]
    SandboxOpportunity.objects.filter(org__name=salesforce_seed.DEMO_ORG, is_won=True).exclude(
        sf_id__in=keep
    ).update(stage_name="Prospecting", is_won=False, is_closed=False)
    return keep


def set_fields(opportunity: SandboxOpportunity, **fields: Any) -> None:
    """Sets fields before the first sync (no new stamp needed: nothing was read yet)."""
    SandboxOpportunity.objects.filter(pk=opportunity.pk).update(**fields)
    opportunity.refresh_from_db()


def configure(integration: Integration, **options: Any) -> None:
    integration.config = SyncConfig(default_currency="USD", **options).to_json()
    integration.save(update_fields=["config"])


def sync(integration: Integration) -> SyncRun:
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status != SyncRun.Status.FAILED, run.error
    return run


def ledger(integration: Integration, opportunity: SandboxOpportunity) -> LedgerEntry:
    return LedgerEntry.objects.get(integration=integration, salesforce_id=opportunity.sf_id)


def invoice(integration: Integration, opportunity: SandboxOpportunity) -> XeroInvoice:
    row = ledger(integration, opportunity)
    assert row.xero_invoice_id, (row.state, row.last_error)
    return XeroInvoice.objects.get(invoice_id=row.xero_invoice_id)


def invoices() -> Any:
    return XeroInvoice.objects.filter(organisation__name=xero_seed.MAIN_ORG).exclude(
        reference__startswith="Demo order"
    )


def credit_notes() -> Any:
    return CreditNote.objects.filter(organisation__name=xero_seed.MAIN_ORG)


def method(integration: Integration, name: str, **fields: Any) -> PaymentMethod:
    return PaymentMethod.objects.create(integration=integration, name=name, **fields)


def sf_change(opportunity: SandboxOpportunity, **fields: Any) -> None:
    """A change made in Salesforce after a sync (a new SystemModstamp)."""
    opportunity.refresh_from_db()
    sf_sandbox.opportunity_save(org=opportunity.org, opportunity=opportunity, **fields)


def lines(opportunity: SandboxOpportunity) -> list[OpportunityLineItem]:
    return list(
        OpportunityLineItem.objects.filter(opportunity=opportunity, is_deleted=False).order_by(
            "sort_order"
        )
    )


def lose_first_create_answer(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Xero creates the invoices of the first create call, but its answer never arrives."""
    original = XeroClient.call
    lost: list[str] = []

    def short(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, method, *args, **kwargs)
        if method == "create_invoices" and not lost:
            lost.extend(str(invoice["InvoiceID"]) for invoice in answer.data["Invoices"])
            answer.data["Invoices"] = []
        return answer

    monkeypatch.setattr(XeroClient, "call", short)
    return lost


def today(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    """Moves the engine's calendar (payments due, credit note dates) to ``day``."""
    monkeypatch.setattr(calendar, "today", lambda: day)

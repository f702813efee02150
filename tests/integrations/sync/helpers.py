"""Helpers shared by the engine's end-to-end tests (the sandbox's view of the outcome)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Invoice as XeroInvoice

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

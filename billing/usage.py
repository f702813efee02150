"""What an account uses, as billing counts it: from our own records, never from Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Account
from integrations.core.models import Integration
from integrations.sync.models import SyncRun

USAGE_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Usage:
    integrations: int
    """Switched-on integrations."""
    invoices_30d: int
    """Invoices created in Xero by the account's syncs in the last 30 days."""


def account_usage(*, account: Account) -> Usage:
    since = timezone.now() - USAGE_WINDOW
    integrations = Integration.objects.filter(account=account, is_enabled=True).count()
    # Each run counts the invoices it created (the ledger's settled creations).
    runs = SyncRun.objects.filter(integration__account=account, started_at__gte=since)
    created = runs.aggregate(total=Sum("created_count"))["total"]
    return Usage(integrations=integrations, invoices_30d=int(created or 0))

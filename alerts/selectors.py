"""What the alerts page and the dashboard read."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account
from alerts.models import AlertDelivery, Incident

HISTORY_SHOWN = 50


def incidents_open(*, account: Account) -> QuerySet[Incident]:
    return (
        Incident.objects.filter(account=account, resolved_at__isnull=True)
        .select_related("integration")
        .order_by("-opened_at", "-id")
    )


def incidents_recent(*, account: Account, limit: int = 20) -> list[Incident]:
    """The latest resolved incidents, for the page's "cleared" list."""
    return list(
        Incident.objects.filter(account=account, resolved_at__isnull=False)
        .select_related("integration")
        .order_by("-resolved_at", "-id")[:limit]
    )


def deliveries_recent(*, account: Account, limit: int = HISTORY_SHOWN) -> list[AlertDelivery]:
    return list(
        AlertDelivery.objects.filter(account=account)
        .select_related("incident")
        .order_by("-created_at", "-id")[:limit]
    )


def incidents_open_count(*, account_id: int) -> int:
    return Incident.objects.filter(account_id=account_id, resolved_at__isnull=True).count()

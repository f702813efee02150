from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from billing.models import Subscription

if TYPE_CHECKING:
    from accounts.models import Account


def subscription_start_trial(*, account: Account) -> Subscription:
    """Starts the free trial of a new account (``TRIAL_DAYS``, 30 by default)."""
    subscription, _ = Subscription.objects.get_or_create(
        account=account,
        defaults={
            "status": Subscription.Status.TRIALING,
            "trial_ends_at": timezone.now() + timedelta(days=settings.TRIAL_DAYS),
        },
    )
    return subscription


def subscription_sync_block(*, subscription: Subscription | None) -> str:
    """Why the subscription does not allow syncing, for people; empty when it does."""
    if subscription is None:
        return ""  # accounts made before billing existed keep syncing
    if subscription.status == Subscription.Status.ACTIVE:
        return ""
    if subscription.status == Subscription.Status.TRIALING:
        if subscription.trial_ends_at > timezone.now():
            return ""
        ended = subscription.trial_ends_at.date().isoformat()
        return f"The free trial ended on {ended}; choose a plan to resume."
    return (
        f"The subscription is {subscription.get_status_display().lower()}; "
        "update billing to resume."
    )

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

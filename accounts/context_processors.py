from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import Role, User
from accounts.selectors import memberships_for_user
from billing.models import Subscription


def current_account(request: HttpRequest) -> dict[str, Any]:
    """The account being viewed (set by ``account_view``) and the user's others, for the nav;
    for an owner, the trial still running (its countdown links to the billing page)."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {}
    account = getattr(request, "account", None)
    membership = getattr(request, "membership", None)
    nav_trial = None
    payment_failing = False
    if account is not None and membership is not None and membership.has_role(Role.ADMIN):
        subscription = Subscription.objects.filter(account=account).first()
        if subscription is not None and subscription.in_trial and membership.is_owner:
            nav_trial = subscription
        # A failed renewal: a banner for owners (who can fix it) and admins (who should know).
        payment_failing = subscription is not None and subscription.status in (
            Subscription.Status.PAST_DUE,
            Subscription.Status.UNPAID,
        )
    return {
        "current_account": account,
        "current_membership": membership,
        "user_memberships": memberships_for_user(user=user),
        "nav_trial": nav_trial,
        "payment_failing": payment_failing,
    }

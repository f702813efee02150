from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import User
from accounts.selectors import memberships_for_user


def current_account(request: HttpRequest) -> dict[str, Any]:
    """The account being viewed (set by ``account_view``) and the user's others, for the nav."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {}
    return {
        "current_account": getattr(request, "account", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships_for_user(user=user),
    }

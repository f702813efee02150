"""Reads for accounts and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account, Invitation, Membership, User


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships of open accounts (a closed one is gone for its members)."""
    return (
        Membership.objects.filter(user=user, account__closed_at__isnull=True)
        .select_related("account")
        .order_by("account__name")
    )


def account_members(*, account: Account) -> QuerySet[Membership]:
    return account.memberships.select_related("user").order_by("user__email")


def account_invitations(*, account: Account) -> QuerySet[Invitation]:
    return account.invitations.select_related("invited_by").filter(
        accepted_at__isnull=True, revoked_at__isnull=True
    )


def default_account_for_user(*, user: User, preferred_slug: str | None) -> Account | None:
    """The account to land in after login: the last one visited, else the first one."""
    memberships = memberships_for_user(user=user)
    if preferred_slug:
        chosen = memberships.filter(account__slug=preferred_slug).first()
        if chosen:
            return chosen.account
    first = memberships.first()
    return first.account if first else None

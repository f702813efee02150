"""CarryTheOne staff inside a customer account: the customer's grants and "view as support".

A staff member (``User.is_staff``, in the operator admin with TOTP) starts a view of one
account from the admin. It is allowed while the account has an active
:class:`~accounts.models.SupportAccessGrant`, or, without one, to staff holding the
``accounts.view_any_account`` permission (superusers) who give a reason. Each start writes an
:class:`~accounts.models.AccountAuditEntry` that the account's owners and admins read on its
audit page; the pages opened are counted on that row.

The view lives in the staff member's session (one account, at most ``VIEW_AS_MAX_SECONDS``
and never past the grant) and is re-checked on every page by ``accounts.access``: a revoked
or expired grant, a lost staff flag or permission, or a closed account ends it at once. It is
a membership of role SUPPORT that is never saved, and read-only whatever that role allows:
``account_view`` refuses every request but GET and HEAD.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, AccountAuditEntry, Membership, Role, SupportAccessGrant, User

logger = logging.getLogger(__name__)

SESSION_KEY = "staff_view"
VIEW_ANY_ACCOUNT_PERMISSION = "accounts.view_any_account"
REASON_MAX_LENGTH = 500


class StaffAccessError(Exception):
    """A view or a grant refused, with a sentence for the person who asked."""


@dataclass(frozen=True)
class StaffView:
    """The session's view of one account, as stored (plain JSON values)."""

    account_id: int
    account_slug: str
    account_name: str
    started_at: dt.datetime
    expires_at: dt.datetime
    grant_id: int | None
    audit_entry_id: int

    def to_session(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "account_slug": self.account_slug,
            "account_name": self.account_name,
            "started_at": self.started_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "grant_id": self.grant_id,
            "audit_entry_id": self.audit_entry_id,
        }

    @classmethod
    def from_session(cls, data: Any) -> StaffView | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                account_id=int(data["account_id"]),
                account_slug=str(data["account_slug"]),
                account_name=str(data["account_name"]),
                started_at=dt.datetime.fromisoformat(data["started_at"]),
                expires_at=dt.datetime.fromisoformat(data["expires_at"]),
                grant_id=int(data["grant_id"]) if data.get("grant_id") is not None else None,
                audit_entry_id=int(data["audit_entry_id"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at


# --- The customer's grants --------------------------------------------------------------------


def support_grant_create(
    *, account: Account, user: User, hours: int, detail: str = ""
) -> SupportAccessGrant:
    """Lets CarryTheOne staff view the account read-only for ``hours`` (one of the choices)."""
    if hours not in SupportAccessGrant.Duration.values:
        raise StaffAccessError("Choose 24 hours, 72 hours or 7 days.")
    now = timezone.now()
    with transaction.atomic():
        grant = SupportAccessGrant.objects.create(
            account=account,
            granted_by=user,
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
        label = SupportAccessGrant.Duration(hours).label
        AccountAuditEntry.objects.create(
            account=account,
            actor=user,
            actor_email=user.email,
            kind=AccountAuditEntry.Kind.GRANT_CREATED,
            grant=grant,
            detail=f"Read-only access for {label}. {detail}".strip(),
            at=now,
        )
    logger.info("support grant created: account=%s grant=%s by=%s", account.pk, grant.pk, user.pk)
    return grant


def support_grant_revoke(*, grant: SupportAccessGrant, user: User) -> bool:
    """Ends the grant now (a staff view relying on it ends on its next page); False if it had
    already ended."""
    now = timezone.now()
    with transaction.atomic():
        changed = SupportAccessGrant.objects.filter(
            pk=grant.pk, revoked_at__isnull=True, expires_at__gt=now
        ).update(revoked_at=now, revoked_by=user)
        if not changed:
            return False
        AccountAuditEntry.objects.create(
            account_id=grant.account_id,
            actor=user,
            actor_email=user.email,
            kind=AccountAuditEntry.Kind.GRANT_REVOKED,
            grant=grant,
            at=now,
        )
    grant.refresh_from_db(fields=["revoked_at", "revoked_by"])
    logger.info("support grant revoked: grant=%s by=%s", grant.pk, user.pk)
    return True


# --- View as support --------------------------------------------------------------------------


def can_view_any_account(user: User) -> bool:
    return user.is_active and user.is_staff and user.has_perm(VIEW_ANY_ACCOUNT_PERMISSION)


def staff_view_start(
    *, session: SessionBase, user: User, account: Account, reason: str = ""
) -> AccountAuditEntry:
    """Starts a read-only view of ``account`` in this session and writes its audit row.

    Only one account at a time: starting another ends the previous view.
    """
    if not (user.is_active and user.is_staff):
        raise StaffAccessError("Only CarryTheOne staff can view an account as support.")
    if account.is_closed:
        raise StaffAccessError("This account is closed.")
    if Membership.objects.filter(user=user, account=account).exists():
        raise StaffAccessError("You are a member of this account: open it as yourself.")
    reason = reason.strip()[:REASON_MAX_LENGTH]
    now = timezone.now()
    grant = (
        SupportAccessGrant.objects.active(now)
        .filter(account=account)
        .order_by("-expires_at")
        .first()
    )
    if grant is None:
        if not can_view_any_account(user):
            raise StaffAccessError(
                "The customer has not granted support access (or it has ended), and you lack "
                "the permission to view any account."
            )
        if not reason:
            raise StaffAccessError("Without the customer's grant, give the reason for looking.")
    expires_at = now + dt.timedelta(seconds=settings.VIEW_AS_MAX_SECONDS)
    if grant is not None:
        expires_at = min(expires_at, grant.expires_at)
    how = (
        f"under the access granted by {grant.granted_by.email if grant.granted_by else 'a member'}"
        if grant is not None
        else "with CarryTheOne's permission to view any account"
    )
    entry = AccountAuditEntry.objects.create(
        account=account,
        actor=user,
        actor_email=user.email,
        kind=AccountAuditEntry.Kind.STAFF_VIEW,
        grant=grant,
        detail=f"Read-only, {how}." + (f" Reason: {reason}" if reason else ""),
        at=now,
        last_seen_at=now,
    )
    view = StaffView(
        account_id=account.pk,
        account_slug=account.slug,
        account_name=account.name,
        started_at=now,
        expires_at=expires_at,
        grant_id=grant.pk if grant else None,
        audit_entry_id=entry.pk,
    )
    session[SESSION_KEY] = view.to_session()
    logger.info(
        "staff view started: account=%s user=%s grant=%s audit=%s",
        account.pk,
        user.pk,
        view.grant_id,
        entry.pk,
    )
    return entry


def staff_view_current(session: SessionBase) -> StaffView | None:
    """The session's view while it lasts (no database read: for the banner)."""
    view = StaffView.from_session(session.get(SESSION_KEY))
    if view is None or view.is_expired():
        return None
    return view


def staff_view_stop(*, session: SessionBase) -> StaffView | None:
    return StaffView.from_session(session.pop(SESSION_KEY, None))


def staff_view_membership(
    *, session: SessionBase, user: User, account_slug: str
) -> Membership | None:
    """The unsaved SUPPORT membership of a staff member viewing this account, or None.

    Re-checks everything the start checked, so the view ends as soon as any of it stops
    being true; an ended view is dropped from the session.
    """
    view = StaffView.from_session(session.get(SESSION_KEY))
    if view is None or view.account_slug != account_slug:
        return None
    now = timezone.now()
    account = Account.objects.filter(pk=view.account_id, closed_at__isnull=True).first()
    allowed = (
        account is not None
        and account.slug == account_slug
        and not view.is_expired(now)
        and user.is_active
        and user.is_staff
        and (
            SupportAccessGrant.objects.active(now)
            .filter(pk=view.grant_id, account_id=view.account_id)
            .exists()
            if view.grant_id is not None
            else can_view_any_account(user)
        )
    )
    if not allowed or account is None:
        session.pop(SESSION_KEY, None)
        logger.info("staff view ended: account=%s user=%s", view.account_id, user.pk)
        return None
    AccountAuditEntry.objects.filter(pk=view.audit_entry_id).update(
        page_views=F("page_views") + 1, last_seen_at=now
    )
    membership = Membership(user=user, account=account, role=Role.SUPPORT)
    membership.is_staff_view = True
    return membership

"""Writes for accounts, memberships and invitations (keyword-only ``<entity>_<action>``)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Account, Invitation, Membership, Role, User
from billing.services import subscription_start_trial

logger = logging.getLogger(__name__)


class AccountsError(Exception):
    """A request that breaks a business rule; the message is shown to the user as is."""


class EmailNotVerified(AccountsError):
    """The user's address is the invited one but not confirmed: anyone can type an address."""


# --- Accounts --------------------------------------------------------------------------------


def account_create(*, owner: User, name: str) -> Account:
    """Creates a customer account with ``owner`` as its first owner and starts its trial."""
    name = name.strip()
    if not name:
        raise AccountsError("The company name cannot be empty.")
    with transaction.atomic():
        account = Account.objects.create(name=name, slug=_unique_slug(name))
        Membership.objects.create(user=owner, account=account, role=Role.OWNER)
        subscription_start_trial(account=account)
    logger.info("account created: account=%s owner=%s", account.pk, owner.pk)
    return account


def account_rename(*, account: Account, name: str) -> Account:
    name = name.strip()
    if not name:
        raise AccountsError("The company name cannot be empty.")
    account.name = name
    account.save(update_fields=["name"])
    return account


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "account"
    # A random suffix keeps slugs unguessable from a company name and avoids a retry loop.
    while True:
        slug = f"{base}-{secrets.token_hex(3)}"
        if not Account.objects.filter(slug=slug).exists():
            return slug


# --- Memberships -----------------------------------------------------------------------------


def membership_change_role(*, membership: Membership, role: Role, by: User) -> Membership:
    with transaction.atomic():
        _lock_owners(membership.account)
        membership.refresh_from_db()
        if membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    logger.info("membership role changed: membership=%s role=%s by=%s", membership.pk, role, by.pk)
    return membership


def membership_remove(*, membership: Membership, by: User) -> None:
    with transaction.atomic():
        _lock_owners(membership.account)
        membership.refresh_from_db()
        if membership.role == Role.OWNER:
            _ensure_another_owner(membership)
        membership.delete()
    logger.info("membership removed: account=%s by=%s", membership.account_id, by.pk)


def _lock_owners(account: Account) -> None:
    # Serialises concurrent demotions/removals so two owners cannot remove each other at once.
    list(
        Membership.objects.select_for_update()
        .filter(account=account, role=Role.OWNER)
        .values_list("pk", flat=True)
    )


def _ensure_another_owner(membership: Membership) -> None:
    others = (
        Membership.objects.filter(account_id=membership.account_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
    if not others:
        raise AccountsError(
            "An account needs at least one owner. Make someone else an owner first."
        )


# --- Invitations -----------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(
    *, account: Account, email: str, role: Role, invited_by: User
) -> tuple[Invitation, str]:
    """Creates an invitation and emails its link; returns it with the one-time token."""
    email = email.strip().lower()
    if role not in Invitation.INVITABLE_ROLES:
        raise AccountsError("Invite people as admin or support; promote them to owner later.")
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise AccountsError(f"{email} is already a member of {account.name}.")
    if account.invitations.pending().filter(email__iexact=email).exists():
        raise AccountsError(f"{email} already has a pending invitation. Resend it instead.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            account=account,
            email=email,
            role=role,
            token_hash=_hash_token(token),
            invited_by=invited_by,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
        )
        transaction.on_commit(lambda: invitation_send_email(invitation=invitation, token=token))
    logger.info("invitation created: invitation=%s account=%s", invitation.pk, account.pk)
    return invitation, token


def invitation_resend(*, invitation: Invitation) -> str:
    """Issues a fresh token (only hashes are stored) and a fresh expiry, and emails it."""
    if invitation.accepted_at or invitation.revoked_at:
        raise AccountsError("Only a pending or expired invitation can be sent again.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation.token_hash = _hash_token(token)
        invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
        invitation.save(update_fields=["token_hash", "expires_at"])
        transaction.on_commit(lambda: invitation_send_email(invitation=invitation, token=token))
    return token


def invitation_revoke(*, invitation: Invitation) -> None:
    if invitation.accepted_at:
        raise AccountsError("This invitation was already accepted; remove the member instead.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


def invitation_get_by_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("account", "invited_by")
        .filter(token_hash=_hash_token(token))
        .first()
    )


def user_has_verified_email(*, user: User, email: str) -> bool:
    """True when ``user`` confirmed ``email`` (allauth's verification, or an invitation link
    followed while creating the login)."""
    from allauth.account.models import EmailAddress

    verified: bool = EmailAddress.objects.filter(
        user=user, email__iexact=email, verified=True
    ).exists()
    return verified


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Makes ``user`` a member with the invited role.

    The invitation must be addressed to them, and they must have confirmed that address:
    under optional verification anyone can sign up with someone else's address, and the
    invitation (an admin's, perhaps) is meant for whoever reads that mailbox. Following the
    link does not confirm an existing login's address: its password was chosen by whoever
    signed up, who need not be the person holding the link.
    """
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_pending:
            raise AccountsError(f"This invitation is {invitation.status}; ask for a new one.")
        if user.email.lower() != invitation.email.lower():
            raise AccountsError(
                f"This invitation was sent to {invitation.email}. "
                "Log out and sign in with that address to accept it."
            )
        if not user_has_verified_email(user=user, email=invitation.email):
            raise EmailNotVerified(
                f"Confirm {invitation.email} first (we can email you a link), then open the "
                "invitation again."
            )
        membership, created = Membership.objects.get_or_create(
            user=user, account=invitation.account, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    logger.info(
        "invitation accepted: invitation=%s user=%s new=%s", invitation.pk, user.pk, created
    )
    return membership


def invitation_send_email(*, invitation: Invitation, token: str) -> None:
    url = settings.SITE_URL + reverse("accounts:invitation_accept", kwargs={"token": token})
    context = {
        "invitation": invitation,
        "account": invitation.account,
        "inviter": invitation.invited_by,
        "url": url,
        "role_label": Role(invitation.role).label,
    }
    subject = f"You are invited to {invitation.account.name} on CarryTheOne"
    body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])


def user_create_from_invitation(
    *, invitation: Invitation, full_name: str, password: str
) -> tuple[User, Membership]:
    """Creates the invited person's login and accepts the invitation, all or nothing.

    Following the emailed link proves the address, and the person following it is the one
    choosing the password here, so the address is stored as verified. (An existing login is
    never verified by the link: see :func:`invitation_accept`.)
    """
    from allauth.account.models import EmailAddress

    with transaction.atomic():
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise AccountsError("An account with this email exists already: log in to accept.")
        user = User.objects.create_user(
            invitation.email, password=password, full_name=full_name.strip()
        )
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        membership = invitation_accept(invitation=invitation, user=user)
    return user, membership

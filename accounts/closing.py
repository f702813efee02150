"""Closing an account: its grants revoked, syncing stopped, its subscription ended, its pages
gone, and its data deleted after ``ACCOUNT_RETENTION_DAYS``.

A module of its own because it reaches into the integrations (their connections' revocation)
and billing; ``accounts.services`` stays below both (``billing.services`` is imported by it).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from accounts.services import AccountsError
from billing.services import subscription_cancel_for_close
from billing.stripe_client import BillingError
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.core.services import connection_disconnect

logger = logging.getLogger(__name__)


def account_close(*, account: Account, by: User, confirm_name: str) -> Account:
    """Closes ``account``: the owner typed its name to confirm.

    The account is marked closed first (its pages answer 404 from then on, its integrations
    are off), then each Xero and Salesforce grant is revoked at the provider (best effort:
    a provider that cannot be reached still loses its connection here) and the owners get a
    confirmation. Its data stays until ``delete_after``, then :func:`accounts_delete_expired`
    deletes it.
    """
    if confirm_name.strip() != account.name.strip():
        raise AccountsError("Type the account's name exactly as shown to close it.")
    now = timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if account.closed_at is not None:
            raise AccountsError("This account is closed already.")
        owners = list(
            Membership.objects.filter(account=account, role=Role.OWNER).values_list(
                "user__email", flat=True
            )
        )
        account.closed_at = now
        account.delete_after = now + dt.timedelta(days=settings.ACCOUNT_RETENTION_DAYS)
        account.save(update_fields=["closed_at", "delete_after"])
        Integration.objects.filter(account=account).update(is_enabled=False)
        account.invitations.pending().update(revoked_at=now)
        try:
            subscription_cancel_for_close(account=account)
        except BillingError as exc:
            # Nothing is closed while Stripe could still charge: the owner tries again.
            raise AccountsError(str(exc)) from exc
    for connection in Connection.objects.filter(account=account):
        connection_disconnect(connection=connection)
    logger.info("account closed: account=%s by=%s", account.pk, by.pk)
    _email_closed(account, owners)
    return account


def _email_closed(account: Account, recipients: list[str]) -> None:
    if not recipients:
        return
    body = render_to_string(
        "accounts/email/account_closed.txt",
        {"account": account, "retention_days": settings.ACCOUNT_RETENTION_DAYS},
    )
    send_mail(f"{account.name} is closed on CarryTheOne", body, None, recipients)


def accounts_delete_expired(*, now: dt.datetime | None = None) -> int:
    """Deletes the closed accounts whose retention has passed, with everything in them."""
    now = now or timezone.now()
    deleted = 0
    for account in Account.objects.filter(closed_at__isnull=False, delete_after__lte=now):
        account_id, name = account.pk, account.name
        with transaction.atomic():
            account.delete()
        deleted += 1
        logger.info("closed account deleted: account=%s name=%r", account_id, name)
    return deleted

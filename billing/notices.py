"""The trial's emails to an account's owners: some days before it ends, and the day it ends.

Each notice is a ``TrialNotice`` row, unique per subscription and kind, written in the same
transaction as the email is sent: a second beat (or a re-run) finds the row and sends nothing,
and an email that fails to go out rolls the row back, so the next hour tries again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from billing.models import PaymentFailure, Subscription, TrialNotice

logger = logging.getLogger(__name__)

# A trial that ended longer ago than this gets no "ended" notice (one ended before the
# notices existed, or while the beat was down for days, would be old news).
ENDED_NOTICE_WITHIN = dt.timedelta(days=2)


def _due_kind(subscription: Subscription, now: dt.datetime) -> str | None:
    """The one notice due now: the nearest reminder whose day has come, or the end.

    Only the nearest: a trial started with 5 days left, or a beat down for a week, gets the
    reminder that is true now, never a "7 days left" with one day to go.
    """
    remaining = subscription.trial_ends_at - now
    if remaining <= dt.timedelta(0):
        return TrialNotice.ENDED if -remaining <= ENDED_NOTICE_WITHIN else None
    due = [day for day in settings.TRIAL_REMINDER_DAYS if remaining <= dt.timedelta(days=day)]
    return TrialNotice.kind_for_days(min(due)) if due else None


def _owner_emails(subscription: Subscription) -> list[str]:
    return list(
        Membership.objects.filter(
            account_id=subscription.account_id, role=Role.OWNER, user__is_active=True
        ).values_list("user__email", flat=True)
    )


def _send(subscription: Subscription, kind: str, now: dt.datetime) -> None:
    account = subscription.account
    url = settings.SITE_URL + reverse("billing:page", kwargs={"account_slug": account.slug})
    ended = kind == TrialNotice.ENDED
    days_left = max(1, subscription.trial_days_left) if not ended else 0
    context = {
        "account": account,
        "subscription": subscription,
        "ended": ended,
        "days_left": days_left,
        "url": url,
    }
    if ended:
        subject = f"Your CarryTheOne trial for {account.name} has ended"
    else:
        plural = "s" if days_left != 1 else ""
        subject = f"Your CarryTheOne trial for {account.name} ends in {days_left} day{plural}"
    body = render_to_string("billing/email/trial_notice.txt", context)
    recipients = _owner_emails(subscription)
    if recipients:
        send_mail(subject, body, None, recipients)


def trial_notices_send(*, now: dt.datetime | None = None) -> int:
    """Sends every trial notice due now, each once; returns how many were sent."""
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=max(settings.TRIAL_REMINDER_DAYS, default=0))
    candidates = Subscription.objects.filter(
        status__in=[Subscription.Status.TRIALING, Subscription.Status.EXPIRED],
        trial_ends_at__lte=horizon,
        trial_ends_at__gte=now - ENDED_NOTICE_WITHIN,
        account__closed_at__isnull=True,
    ).select_related("account")
    sent = 0
    for subscription in candidates:
        kind = _due_kind(subscription, now)
        if kind is None:
            continue
        try:
            with transaction.atomic():
                TrialNotice.objects.create(subscription=subscription, kind=kind, sent_at=now)
                _send(subscription, kind, now)
        except IntegrityError:
            continue  # sent already (by an earlier hour, or a beat running alongside)
        except Exception:
            # The mail server refused: the row rolled back, so the next hour tries again;
            # the other accounts' notices still go out now.
            logger.exception("trial notice not sent: subscription=%s", subscription.pk)
            continue
        sent += 1
        logger.info("trial notice sent: subscription=%s kind=%s", subscription.pk, kind)
    return sent


def payment_failed_notify(*, subscription: Subscription, invoice_id: str) -> bool:
    """Emails the owners that a renewal could not be charged, once per failing invoice (Stripe's
    retries of the same invoice send nothing more). True if this call sent it."""
    if not invoice_id:
        return False
    with transaction.atomic():
        failure, created = PaymentFailure.objects.select_for_update().get_or_create(
            invoice_id=invoice_id, defaults={"subscription": subscription}
        )
        if not created and failure.notified_at is not None:
            return False
        account = subscription.account
        url = settings.SITE_URL + reverse("billing:page", kwargs={"account_slug": account.slug})
        body = render_to_string(
            "billing/email/payment_failed.txt",
            {"account": account, "url": url, "grace_days": settings.BILLING_GRACE_DAYS},
        )
        recipients = _owner_emails(subscription)
        if recipients:
            send_mail(
                f"Payment failed for CarryTheOne ({account.name}): please update the card",
                body,
                None,
                recipients,
            )
        failure.notified_at = timezone.now()
        failure.save(update_fields=["notified_at"])
    logger.info("payment failure notice sent: subscription=%s", subscription.pk)
    return True

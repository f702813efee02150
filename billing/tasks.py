"""Celery tasks of billing: thin, ids in, the service does the work."""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.notices import trial_notices_send
from billing.stripe_client import BillingError
from billing.subscriptions import subscription_items_sync, subscriptions_to_sync
from billing.webhooks import event_process, events_prune


@shared_task(name="billing.tasks.send_trial_reminders")
def send_trial_reminders() -> int:
    """Beat (hourly): the trial emails due now, each sent once; returns how many."""
    return trial_notices_send()


@shared_task(
    name="billing.tasks.process_stripe_event",
    acks_late=True,
    # Only Stripe being unreachable escapes the service (it records everything else).
    autoretry_for=(BillingError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def process_stripe_event(event_pk: int) -> str:
    """One stored Stripe webhook event, processed once; returns its outcome."""
    return event_process(event_pk=event_pk)


@shared_task(name="billing.tasks.prune_stripe_events")
def prune_stripe_events() -> int:
    """Beat (daily): settled webhook events older than STRIPE_EVENT_RETENTION_DAYS."""
    days = int(settings.STRIPE_EVENT_RETENTION_DAYS)
    return events_prune(older_than=timezone.now() - dt.timedelta(days=days))


@shared_task(
    name="billing.tasks.sync_subscription_items",
    autoretry_for=(BillingError,),
    retry_backoff=True,
    max_retries=8,
)
def sync_subscription_items(account_id: int) -> bool:
    """What Stripe bills follows the account's switched-on integrations and volume band."""
    return subscription_items_sync(account_id=account_id)


@shared_task(name="billing.tasks.sync_all_subscription_items")
def sync_all_subscription_items() -> int:
    """Beat (hourly): every subscription's quantity and volume band checked against our
    counts (Stripe is called only for those that changed); returns how many were queued."""
    ids = subscriptions_to_sync()
    for account_id in ids:
        transaction.on_commit(functools.partial(sync_subscription_items.delay, account_id))
    return len(ids)


def queue_items_sync(account_id: int) -> None:
    """For callers changing what is billed (switching an integration on or off): after
    their transaction commits, Stripe is told."""
    transaction.on_commit(functools.partial(sync_subscription_items.delay, account_id))

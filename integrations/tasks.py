"""Celery tasks of the integrations app: thin, ids in, the service does the work."""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.services import subscription_sync_block, trial_claims
from integrations.connections.providers import ProviderError
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.core.pauses import integration_pause, integration_resume, runnable
from integrations.core.queue import continuation_starting, enqueue_continuation
from integrations.setup.validation import integration_check_configuration
from integrations.sync.claim import AccountAtCapacity, close_dead_runs
from integrations.sync.models import SyncRun
from integrations.sync.push import (
    poll_due,
    push_pending,
    push_prune,
    push_run_starting,
    push_schedule,
)
from integrations.sync.retention import history_prune
from integrations.sync.run import sync_integration
from integrations.sync.writeback import (
    integration_writeback,
    queue_writeback,
    webhook_events_process,
    webhook_events_requeue_lost,
    writeback_due,
)

# Only transient provider errors escape the services (they record everything else): retried
# with backoff.
_RETRY_TRANSIENT: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (ProviderError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="integrations.tasks.poll_integrations")
def poll_integrations() -> int:
    """Beat: one sync task per running integration with both connections; returns how many.

    A second beat doubling this is harmless: the sync's database claim lets one run at a time.
    """
    _apply_billing()
    # Runs whose worker died: closed as failed with the reason, whoever polls first.
    close_dead_runs()
    push_prune()
    # On, both connections usable, and no pause in force (billing, a rate limit's wait, a
    # person...): see integrations.core.pauses. While push is healthy, polled less often.
    ids = poll_due(list(Integration.objects.filter(runnable()).values_list("pk", flat=True)))
    for integration_id in ids:
        # Published only once the surrounding transaction (if any) has committed.
        transaction.on_commit(functools.partial(sync_integration_task.delay, integration_id))
    # Xero's news that a lost task or a wait left unwritten: written back now.
    for integration_id in writeback_due():
        queue_writeback(integration_id=integration_id, countdown=0.0)
    # Xero's news stored but never matched, its task lost with the broker: matched now.
    webhook_events_requeue_lost()
    return len(ids)


@shared_task(name="integrations.tasks.process_xero_webhook", acks_late=True)
def process_xero_webhook(event_ids: list[int]) -> int:
    """Matches stored Xero webhook events to our documents; returns the integrations queued."""
    return len(webhook_events_process(event_ids=event_ids))


@shared_task(name="integrations.tasks.writeback", **_RETRY_TRANSIENT)
def writeback_task(integration_id: int) -> int:
    """Writes Xero's news onto one integration's opportunities; returns how many it wrote."""
    return integration_writeback(integration_id=integration_id).written


@shared_task(name="integrations.tasks.sync_integration", **_RETRY_TRANSIENT)
def sync_integration_task(integration_id: int, trigger: str = "poll") -> int | None:
    """Runs one sync of one integration; returns the run's id (None: someone else holds it,
    or the account is at its share of the workers and this waits a few seconds)."""
    continuation_starting(integration_id=integration_id)
    try:
        return _sync_then_follow(integration_id, trigger)
    except AccountAtCapacity:
        enqueue_continuation(
            integration_id=integration_id, trigger=trigger, countdown=_share_retry()
        )
        return None


@shared_task(
    name="integrations.tasks.sync_push",
    acks_late=True,
    autoretry_for=(ProviderError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def sync_push(integration_id: int) -> int | None:
    """A push-triggered run of the opportunities Salesforce notified (integrations.sync.push).

    None when there is nothing left to do, the integration may not sync now (the notifications
    wait for its next run), or another run holds it (that run's end queues this one again).
    """
    if not push_run_starting(integration_id=integration_id):
        return None
    if not Integration.objects.filter(runnable(), pk=integration_id).exists():
        return None
    try:
        return _sync_then_follow(integration_id, SyncRun.Trigger.PUSH)
    except AccountAtCapacity:
        # The notifications stay pending (only a run that read them deletes them): the push
        # run is scheduled again, and the poll would find them too.
        push_schedule(integration_id=integration_id, countdown=_share_retry())
        return None


def _share_retry() -> float:
    """Seconds before a claim refused for the account's share is tried again: soon (a run
    of the account ends within SYNC_RUN_MAX_SECONDS), spread so retries do not come in step."""
    return 2.0 + random.uniform(0.0, 3.0)  # noqa: S311 - jitter, not a secret


def _sync_then_follow(integration_id: int, trigger: str) -> int | None:
    """One run; then notifications that arrived while it went on are not left for the poll:
    the next push run is queued at once (one already waiting makes this a no-op).

    Only those newer than the run's start: what a failed or stopped run left pending waits for
    the retry or the poll, so a failing integration cannot loop. When another worker held the
    claim, its run's end does this.
    """
    started = timezone.now()
    ran = False
    try:
        run = sync_integration(integration_id=integration_id, trigger=trigger)
        ran = run is not None
    except AccountAtCapacity:
        raise  # never claimed: nothing ran, nothing to follow
    except BaseException:
        ran = True
        raise
    finally:
        if ran and push_pending(integration_id=integration_id, since=started):
            push_schedule(integration_id=integration_id, immediately=True)
    if run is not None and run.left_more:
        # Bounded runs: the rest at the back of the queue, behind everyone queued meanwhile.
        continued = SyncRun.Trigger.POLL if trigger == SyncRun.Trigger.PUSH else trigger
        enqueue_continuation(integration_id=integration_id, trigger=continued)
    return run.pk if run is not None else None


@shared_task(name="integrations.tasks.check_configurations")
def check_configurations() -> int:
    """Beat: one configuration check per running integration with both connections usable.

    Connections needing re-authorisation are left out: nothing could be read through them.
    """
    ids = list(Integration.objects.filter(runnable()).values_list("pk", flat=True))
    for integration_id in ids:
        transaction.on_commit(functools.partial(check_configuration_task.delay, integration_id))
    return len(ids)


@shared_task(name="integrations.tasks.check_configuration", acks_late=True)
def check_configuration_task(integration_id: int, refresh: bool = False) -> int:
    """Checks one integration's configuration; returns how many problems it has."""
    try:
        problems = integration_check_configuration(integration_id=integration_id, refresh=refresh)
    except Integration.DoesNotExist:
        return 0  # deleted since beat listed it
    return len(problems)


@shared_task(
    name="integrations.tasks.prune_sync_logs",
    # Batches commit one by one: a prune stopped by the limit loses nothing and the next day's
    # carries on. Below the broker's visibility timeout (3600 s), so it is never run twice.
    soft_time_limit=3000,
    time_limit=3300,
)
def prune_sync_logs() -> int:
    """Beat, daily: log entries older than ``LOG_RETENTION_DAYS`` (except open ones), runs left
    empty and processed webhook events; returns how many log entries went."""
    older_than = timezone.now() - dt.timedelta(days=settings.LOG_RETENTION_DAYS)
    return history_prune(older_than=older_than, batch_size=settings.LOG_PRUNE_BATCH_SIZE).entries


def _apply_billing() -> None:
    """Pauses integrations whose subscription does not allow syncing (saying why), and lifts
    that pause once it does again. Pauses of other causes are left alone."""
    # Not the connections' tokens: only their organisations are needed here, and decrypting
    # two tokens per integration on every pass is work for nothing.
    integrations = (
        Integration.objects.filter(is_enabled=True)
        .select_related("account__subscription", "xero_connection", "salesforce_connection")
        .defer("xero_connection__credentials", "salesforce_connection__credentials")
    )
    paused = dict(
        IntegrationPause.objects.filter(cause=PauseCause.BILLING).values_list(
            "integration_id", "message"
        )
    )

    def orgs_of(integration: Integration) -> list[tuple[str, str]]:
        # The organisations it reaches: one that had its free trial under another account
        # needs a subscription (one trial per business).
        return [
            (connection.provider, connection.external_id)
            for connection in (integration.xero_connection, integration.salesforce_connection)
            if connection is not None
        ]

    integrations_ = list(integrations)
    # The trial claims of every organisation in one query, not one per integration in a trial.
    claims = trial_claims(
        org
        for integration in integrations_
        if getattr(integration.account, "subscription", None) is not None
        for org in orgs_of(integration)
    )
    for integration in integrations_:
        subscription = getattr(integration.account, "subscription", None)
        reason = subscription_sync_block(
            subscription=subscription, orgs=orgs_of(integration), claims=claims
        )
        if reason and paused.get(integration.pk) != reason:
            integration_pause(
                integration_id=integration.pk, cause=PauseCause.BILLING, message=reason
            )
        elif not reason and integration.pk in paused:
            integration_resume(integration_id=integration.pk, cause=PauseCause.BILLING)

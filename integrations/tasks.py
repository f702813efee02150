"""Celery tasks of the integrations app: thin, ids in, the service does the work."""

from __future__ import annotations

import functools

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import Connection, Integration
from integrations.providers import ProviderError
from integrations.setup.validation import integration_check_configuration
from integrations.sync.claim import close_dead_runs
from integrations.sync.engine import sync_integration


@shared_task(name="integrations.tasks.poll_integrations")
def poll_integrations() -> int:
    """Beat: one sync task per running integration with both connections; returns how many.

    A second beat doubling this is harmless: the sync's database claim lets one run at a time.
    """
    _apply_billing()
    # Runs whose worker died: closed as failed with the reason, whoever polls first.
    close_dead_runs()
    ids = list(
        Integration.objects.filter(
            is_enabled=True,
            paused_reason="",
            salesforce_connection__isnull=False,
            xero_connection__isnull=False,
        )
        # Xero or Salesforce asked us to wait (Retry-After, a used-up daily allowance).
        .filter(Q(sync_resume_at__isnull=True) | Q(sync_resume_at__lte=timezone.now()))
        .values_list("pk", flat=True)
    )
    for integration_id in ids:
        # Published only once the surrounding transaction (if any) has committed.
        transaction.on_commit(functools.partial(sync_integration_task.delay, integration_id))
    return len(ids)


@shared_task(
    name="integrations.tasks.sync_integration",
    acks_late=True,
    # Only transient provider errors escape the service (it records everything else).
    autoretry_for=(ProviderError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def sync_integration_task(integration_id: int, trigger: str = "poll") -> int | None:
    """Runs one sync of one integration; returns the run's id (None: someone else holds it)."""
    run = sync_integration(integration_id=integration_id, trigger=trigger)
    return run.pk if run is not None else None


@shared_task(name="integrations.tasks.check_configurations")
def check_configurations() -> int:
    """Beat: one configuration check per running integration with both connections usable.

    Connections needing re-authorisation are left out: nothing could be read through them.
    """
    active = Connection.Status.ACTIVE
    ids = list(
        Integration.objects.filter(
            is_enabled=True,
            paused_reason="",
            salesforce_connection__status=active,
            xero_connection__status=active,
        ).values_list("pk", flat=True)
    )
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


def _apply_billing() -> None:
    """Pauses integrations whose subscription does not allow syncing (saying why), and lifts
    such pauses once it does again. Pauses for other reasons are left alone."""
    from billing.services import BILLING_PAUSE_PREFIX, subscription_sync_block

    integrations = Integration.objects.filter(is_enabled=True).select_related(
        "account__subscription"
    )
    for integration in integrations:
        subscription = getattr(integration.account, "subscription", None)
        reason = subscription_sync_block(subscription=subscription)
        current = integration.paused_reason
        if reason and not current:
            Integration.objects.filter(pk=integration.pk, paused_reason="").update(
                paused_reason=reason[:300]
            )
        elif not reason and current.startswith(BILLING_PAUSE_PREFIX):
            Integration.objects.filter(pk=integration.pk, paused_reason=current).update(
                paused_reason=""
            )

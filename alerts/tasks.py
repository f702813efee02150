"""Celery tasks of the alerts: thin, ids in, the services do the work."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from alerts.delivery import DeliveryError, alert_delivery_send
from alerts.digest import alert_digest_queue, digests_due
from alerts.services import (
    alerts_evaluate,
    deliveries_lost,
    enqueue_deliveries,
    integrations_to_evaluate,
)

# Integrations evaluated by one task: a few bounded queries each, so a batch takes well under
# a second, and many accounts spread over the workers.
BATCH = 50
# A Slack outage of up to about an hour is ridden out: 30 s, 1, 2, 4, 8, 16, 32 min.
DELIVERY_RETRIES = 7


@shared_task(name="alerts.tasks.evaluate_alerts")
def evaluate_alerts() -> int:
    """Beat: fans the integrations out in batches; re-queues messages a broker lost."""
    ids = integrations_to_evaluate()
    for start in range(0, len(ids), BATCH):
        evaluate_integrations.delay(ids[start : start + BATCH])
    enqueue_deliveries(delivery_ids=deliveries_lost())
    return len(ids)


@shared_task(name="alerts.tasks.evaluate_integrations", acks_late=True)
def evaluate_integrations(integration_ids: list[int]) -> int:
    """Evaluates each integration; returns how many incidents opened or cleared."""
    changed = 0
    for integration_id in integration_ids:
        result = alerts_evaluate(integration_id=integration_id)
        changed += len(result.opened) + len(result.resolved)
    return changed


@shared_task(name="alerts.tasks.deliver", bind=True, acks_late=True, max_retries=DELIVERY_RETRIES)
def deliver(self: Task[Any, Any], delivery_id: int) -> bool:
    """Sends one message; a failed attempt is recorded, then retried with backoff."""
    try:
        return alert_delivery_send(delivery_id=delivery_id)
    except DeliveryError as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task(name="alerts.tasks.send_digests")
def send_digests() -> int:
    """Beat (hourly): today's digest of each account that chose it, once past the hour."""
    queued = 0
    for account_id in digests_due():
        queued += len(alert_digest_queue(account_id=account_id))
    return queued

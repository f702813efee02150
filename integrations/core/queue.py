"""Work for the Celery workers, queued after the surrounding transaction commits.

By the tasks' names: the layers below the tasks module never import it (the tasks import them).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from carrytheone.celery import app

SYNC_TASK = "integrations.tasks.sync_integration"


def _task(name: str) -> Any:
    """The registered task object, found by name, so its routing and options apply.

    Outside a worker nothing has imported the tasks modules yet (Celery's autodiscovery runs
    when a worker starts): a web process imports them on first use, as the worker does.
    """
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue_sync(*, integration_id: int, trigger: str) -> None:
    """A sync of the integration, once the current transaction (if any) has committed."""
    transaction.on_commit(lambda: _task(SYNC_TASK).delay(integration_id, trigger=trigger))


XERO_WEBHOOK_TASK = "integrations.tasks.process_xero_webhook"
WRITEBACK_TASK = "integrations.tasks.writeback"


def enqueue_xero_webhook(*, event_ids: list[int], countdown: float = 0.0) -> None:
    """Processing of stored webhook events, once they are committed."""
    transaction.on_commit(
        lambda: _task(XERO_WEBHOOK_TASK).apply_async((event_ids,), countdown=countdown)
    )


def enqueue_writeback(*, integration_id: int, countdown: float = 0.0) -> None:
    """A write-back of the integration, ``countdown`` seconds after the transaction commits."""
    transaction.on_commit(
        lambda: _task(WRITEBACK_TASK).apply_async((integration_id,), countdown=countdown)
    )

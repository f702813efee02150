"""Work for the Celery workers, queued after the surrounding transaction commits.

By the tasks' names: the layers below the tasks module never import it (the tasks import them).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
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


# How long the mark of a waiting continuation lives: far longer than a continuation waits at
# the back of a busy ``sync`` queue; should its message be lost, the mark expires and the poll
# (which also runs every integration with work left, ``push._with_open_work``) takes over.
CONTINUATION_TTL = 900.0


def _continuation_key(integration_id: int) -> str:
    return f"sync:continuation:{integration_id}"


def enqueue_continuation(*, integration_id: int, trigger: str, countdown: float = 0.0) -> bool:
    """The integration's next sync at the back of the ``sync`` queue, unless one already waits
    (one mark per integration in the cache); True if queued.

    After a run that read its share (``SyncRun.left_more``), at once: every other account's
    sync queued meanwhile goes first. After a claim refused for the account's share, a few
    seconds later. The mark goes when a sync of the integration starts
    (:func:`continuation_starting`), so the run after it may queue the next one.
    """
    if not cache.add(_continuation_key(integration_id), 1, countdown + CONTINUATION_TTL):
        return False
    transaction.on_commit(
        lambda: _task(SYNC_TASK).apply_async(
            (integration_id,), {"trigger": trigger}, countdown=countdown
        )
    )
    return True


def continuation_starting(*, integration_id: int) -> None:
    """Called by the sync task first: whatever it runs covers what a waiting one would."""
    cache.delete(_continuation_key(integration_id))


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

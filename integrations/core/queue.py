"""Work for the Celery workers, queued after the surrounding transaction commits.

By the tasks' names: the layers below the tasks module never import it (the tasks import them).
"""

from __future__ import annotations

from django.db import transaction

from carrytheone.celery import app

SYNC_TASK = "integrations.tasks.sync_integration"


def enqueue_sync(*, integration_id: int, trigger: str) -> None:
    """A sync of the integration, once the current transaction (if any) has committed."""
    # The registered task object, found by name, so its routing and options apply.
    transaction.on_commit(lambda: app.tasks[SYNC_TASK].delay(integration_id, trigger=trigger))

"""The beat's evaluation and the worker's sending, here and now: what other tests call to see
the messages an incident causes."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.test import TestCase

from alerts.services import Evaluation, alerts_evaluate
from carrytheone.celery import app


@contextlib.contextmanager
def eager_tasks() -> Iterator[None]:
    """Queued tasks (the messages' deliveries) run where they are queued."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def evaluate_and_send(*, integration_id: int, now: dt.datetime | None = None) -> Evaluation:
    # Outside a test transaction the callbacks run at commit anyway; inside one, here.
    with eager_tasks(), TestCase.captureOnCommitCallbacks(execute=True):
        return alerts_evaluate(integration_id=integration_id, now=now)

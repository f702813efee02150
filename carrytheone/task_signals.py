"""Celery signal handlers: the log context of each task, the published-at header, and failure
and retry counts. Connected when the Celery app is created (``carrytheone/celery.py``), so web
processes (which publish) and workers (which run) both have them."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging.config
import time
from contextvars import Token
from typing import Any

from celery import Task
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
)
from django.conf import settings

from carrytheone import logcontext
from carrytheone.task_stats import task_count

# The message header saying when it was published (read by carrytheone.queues): seconds since
# the epoch, as a float.
PUBLISHED_AT_HEADER = "published_at"

# Tokens of the tasks running in this process, to restore the context when each ends (an eager
# task inside a request must leave the request's ids as it found them).
_tokens: dict[str, Token[logcontext.LogIds]] = {}


@setup_logging.connect
def keep_django_logging(**_: Any) -> None:
    """Workers and beat log as the web does (``LOGGING``: JSON lines with the log context)
    instead of Celery's own handlers and format; a receiver here tells Celery to add none."""
    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def stamp_published_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """When the message entered the queue: the health page's "oldest waiting" reads it. A retry
    is published again, and waits again from then."""
    if headers is not None:
        headers[PUBLISHED_AT_HEADER] = time.time()


@functools.cache
def _positional(task_name: str, run: Any) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(run).parameters)
    except (TypeError, ValueError):
        return ()


def _integration_id(task: Task[Any, Any], args: Any, kwargs: Any) -> int | None:
    """The ``integration_id`` argument of tasks that take one, by keyword or by position."""
    if isinstance(kwargs, dict) and "integration_id" in kwargs:
        value = kwargs["integration_id"]
    else:
        names = _positional(task.name, task.run)
        if "integration_id" not in names or not isinstance(args, list | tuple):
            return None
        index = names.index("integration_id")
        if index >= len(args):
            return None
        value = args[index]
    return value if isinstance(value, int) else None


@task_prerun.connect
def bind_task_context(
    task_id: str | None = None,
    task: Task[Any, Any] | None = None,
    args: Any = None,
    kwargs: Any = None,
    **_: Any,
) -> None:
    if task_id is None or task is None:
        return
    _tokens[task_id] = logcontext.begin(
        task_id=task_id, integration_id=_integration_id(task, args, kwargs)
    )


@task_postrun.connect
def unbind_task_context(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        # Ended in another context than it began (a custom pool): nothing of it leaks there,
        # since the context it was set in is gone with its thread.
        with contextlib.suppress(ValueError):
            logcontext.end(token)


@task_failure.connect
def count_failure(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    task_count(kind="failure", task=getattr(sender, "name", None) or "unknown")


@task_retry.connect
def count_retry(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    task_count(kind="retry", task=getattr(sender, "name", None) or "unknown")

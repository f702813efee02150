"""What waits in the Celery queues: how many messages, and since when the oldest has waited.

Read straight from the broker, without a worker: with Redis a queue is a list per priority step
(kombu pushes on the left and workers pop on the right, so the rightmost message is the next
one out and the one that has waited longest); with ``make run``'s filesystem broker a queue is
the files named ``<ms>_<uuid>.<queue>.msg`` in the broker folder, oldest first by name. Each
message's ``published_at`` header is put there when it is published
(``carrytheone.task_signals``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from carrytheone.celery import app
from carrytheone.task_signals import PUBLISHED_AT_HEADER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int | None
    """None: this broker cannot be read."""
    oldest_published_at: dt.datetime | None = None
    error: str = ""

    def oldest_wait_seconds(self, now: dt.datetime) -> float | None:
        if self.oldest_published_at is None:
            return None
        return max(0.0, (now - self.oldest_published_at).total_seconds())


def queue_names() -> list[str]:
    """The default queue and every queue a route or a declared queue names."""
    names = [app.conf.task_default_queue or "celery"]
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.append(str(route["queue"]))
    for queue in app.conf.task_queues or ():
        names.append(str(getattr(queue, "name", queue)))
    return list(dict.fromkeys(names))


def queue_states(names: list[str] | None = None) -> list[QueueState]:
    """Depth and oldest message of each queue (``names``, else :func:`queue_names`)."""
    names = names if names is not None else queue_names()
    try:
        with app.connection_for_read() as conn:
            transport = conn.transport_cls
            if transport in ("redis", "rediss"):
                return [_redis_queue(conn.default_channel, name) for name in names]
            if transport == "filesystem":
                folder = (conn.transport_options or {}).get("data_folder_in", "")
                return [_filesystem_queue(str(folder), name) for name in names]
    except Exception:
        logger.exception("queue states: broker unavailable")
        return [QueueState(name, None, error="broker unavailable") for name in names]
    return [QueueState(name, None, error=f"not readable with {transport}") for name in names]


def _redis_queue(channel: Any, name: str) -> QueueState:
    client = channel.client
    keys = list(dict.fromkeys(channel._q_for_pri(name, pri) for pri in channel.priority_steps))
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
            pipe.lindex(key, -1)
        answers = pipe.execute()
    depth = sum(int(length) for length in answers[0::2])
    published = [_published_at(raw) for raw in answers[1::2] if raw]
    known = [moment for moment in published if moment is not None]
    return QueueState(name, depth, min(known) if known else None)


def _filesystem_queue(folder: str, name: str) -> QueueState:
    try:
        files = sorted(
            entry for entry in os.listdir(folder) if entry.partition(".")[2] == f"{name}.msg"
        )
    except OSError:
        return QueueState(name, None, error="broker folder unreadable")
    # Files written in the same millisecond sort by their random uuid: all of the first
    # millisecond are read.
    first_ms = files[0].partition("_")[0] if files else ""
    stamps: list[dt.datetime | None] = []
    for entry in files:
        if entry.partition("_")[0] != first_ms:
            break
        try:
            with open(os.path.join(folder, entry), "rb") as handle:
                stamps.append(_published_at(handle.read()))
        except OSError:
            continue  # taken by a worker meanwhile
    known = [moment for moment in stamps if moment is not None]
    return QueueState(name, len(files), min(known) if known else None)


def _published_at(raw: bytes | str) -> dt.datetime | None:
    """The ``published_at`` header of a kombu message envelope (JSON), if it has one."""
    try:
        envelope = json.loads(raw)
        stamp = envelope.get("headers", {}).get(PUBLISHED_AT_HEADER)
        return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC) if stamp is not None else None
    except (ValueError, TypeError, AttributeError):
        return None

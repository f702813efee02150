"""The Celery application, configured from Django settings (``CELERY_*``)."""

import contextlib
import os
from queue import Empty
from typing import Any

from celery import Celery
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carrytheone.settings")

app = Celery("carrytheone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The log context, published-at header and failure counts of every task (connects on import).
import carrytheone.task_signals  # noqa: E402, F401

# --- kombu 5.7 / celery 5.7: a worker must survive its Redis broker restarting ---------------
# Closing a Redis channel with a BRPOP in flight first reads that BRPOP's reply, so a popped
# message is not lost (celery/kombu#1733). When the broker is gone the read raises a connection
# error and close() stops before it has closed anything. On losing the connection the worker
# calls connection.collect(), which swallows that error and clears the transport's client, then
# connection.close() (celery/celery#10242), which closes the same channel again: it restores the
# unacked messages (an ETA/countdown task held by the worker) through a new pool built from the
# cleared client, and AttributeError("'NoneType' object has no attribute 'hostname'") ends the
# worker as an "Unrecoverable error" (the class of celery/kombu#582). The connection is broken,
# so that reply is lost with it: a failed read now lets the close finish, and the second close
# finds the channel closed. No kombu or celery release fixes it yet (both 5.7.0; kombu's main
# of 2026-08 neither): drop this once one does, when tests/carrytheone/
# test_celery_broker_restart.py passes without it.
_kombu_redis_channel_close = kombu_redis.Channel.close


def _close_even_if_the_broker_is_gone(channel: Any) -> None:
    if channel._in_poll:
        # _brpop_read resets _in_poll however it ends, so the close below does not read again.
        with contextlib.suppress(Empty, *channel.connection_errors):
            channel._brpop_read()
    _kombu_redis_channel_close(channel)


kombu_redis.Channel.close = _close_even_if_the_broker_is_gone  # type: ignore[method-assign,assignment]

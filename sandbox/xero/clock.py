"""The simulator's clock: wall time plus an offset tests can move (tokens expire, windows roll).

The live test server runs in a thread of the test process, so a module-level offset is seen by
both sides without sleeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    return timezone.now() + _offset


def advance(delta: dt.timedelta) -> None:
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)


@contextmanager
def travel(delta: dt.timedelta) -> Iterator[None]:
    advance(delta)
    try:
        yield
    finally:
        advance(-delta)

"""The ids a log line is about (account, integration, run, task, request), set once per scope.

A request, a Celery task or a sync run binds its ids here (a context variable, so each thread
and each task has its own); :class:`ContextFilter` copies them onto every log record, so a line
logged anywhere below — a client, a step, the write protocol — says which account, integration
and run it belongs to without being passed them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

FIELDS = ("account_id", "integration_id", "run_id", "task_id", "request_id")

LogIds = Mapping[str, int | str]

_EMPTY: LogIds = MappingProxyType({})
_ids: ContextVar[LogIds] = ContextVar("carrytheone_log_ids", default=_EMPTY)


def current() -> dict[str, int | str]:
    """The ids bound now."""
    return dict(_ids.get())


def begin(**ids: int | str | None) -> Token[LogIds]:
    """Adds ``ids`` (``None`` values are left out); :func:`end` with the token undoes it."""
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a log context field: {', '.join(sorted(unknown))}")
    bound = {**_ids.get(), **{key: value for key, value in ids.items() if value is not None}}
    return _ids.set(MappingProxyType(bound))


def end(token: Token[LogIds]) -> None:
    _ids.reset(token)


@contextmanager
def bind(**ids: int | str | None) -> Iterator[None]:
    """``ids`` on every log line inside the block, and the previous ones again after it."""
    token = begin(**ids)
    try:
        yield
    finally:
        end(token)


def add(**ids: int | str | None) -> None:
    """``ids`` for the rest of the enclosing :func:`bind` (the request's, the task's): for a
    value learnt midway, such as the account a view resolves."""
    begin(**ids)


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record (``None`` for those not bound), for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _ids.get()
        for field in FIELDS:
            if getattr(record, field, None) is None:
                setattr(record, field, ids.get(field))
        return True

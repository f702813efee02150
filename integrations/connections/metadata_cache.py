"""A read-through cache of a provider's settings per connection (Xero organisation settings,
Salesforce describe), shared by ``integrations.connections.xero.metadata`` and
``integrations.connections.salesforce.metadata``.

The copy is used while younger than its maximum age; a failed refresh keeps using the last good
copy (however old), records why on it and logs a warning, so rules and forms keep working while
the provider is down; without any copy the provider's error is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from django.utils import timezone

from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.providers import ProviderError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_ERROR_MAX = 2000


class Serialisable(Protocol):
    def to_json(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=Serialisable)


def read_through(
    connection: Connection,
    *,
    max_age: float,
    refresh: bool,
    read: Callable[[], S],
    from_json: Callable[[Mapping[str, Any]], S],
    label: str,
) -> S:
    """The cached copy for ``connection`` (``ProviderSettings``), or ``read()`` stored as the
    new copy."""
    manager = ProviderSettings.objects
    cached = manager.filter(connection=connection).first()
    started = timezone.now()
    if (
        not refresh
        and cached is not None
        and cached.data
        and cached.fetched_at is not None
        and (started - cached.fetched_at).total_seconds() < max_age
    ):
        return from_json(cached.data)
    try:
        fresh = read()
    except ProviderError as exc:
        Connection.objects.filter(pk=connection.pk, failing_since__isnull=True).update(
            failing_since=started
        )
        Connection.objects.filter(pk=connection.pk).update(last_error=str(exc)[:_ERROR_MAX])
        if cached is None or not cached.data:
            raise
        manager.filter(pk=cached.pk).update(last_error=str(exc)[:_ERROR_MAX], last_error_at=started)
        logger.warning(
            "%s: connection %s: refresh failed, using the copy of %s: %s",
            label,
            connection.pk,
            cached.fetched_at.isoformat() if cached.fetched_at else "unknown time",
            exc,
        )
        return from_json(cached.data)
    # A read that worked proves the connection works (the configuration review relies on it).
    Connection.objects.filter(pk=connection.pk).update(
        checked_at=started, failing_since=None, last_error=""
    )
    # The read's start, not its end: a change made during the read is not in this copy.
    manager.update_or_create(
        connection=connection,
        defaults={
            "data": fresh.to_json(),
            "fetched_at": started,
            "last_error": "",
            "last_error_at": None,
        },
    )
    return fresh


def invalidate(connection: Connection) -> None:
    """The next read goes to the provider; the copy stays as the fallback."""
    ProviderSettings.objects.filter(connection=connection).update(fetched_at=None)

"""Small conversions between xero-python's values and ours, shared by the engine's steps."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def text(obj: Any) -> str:
    """An SDK field as text (enums give their code, None gives "")."""
    raw = getattr(obj, "value", obj)
    return "" if raw is None else str(raw)


def decimal(value: Any) -> Decimal:
    """An SDK amount as a Decimal (None is zero); through ``str`` so a float never leaks in."""
    return Decimal(str(value)) if value is not None else Decimal(0)


def ms_date(day: dt.date) -> str:
    """A day as ``/Date(ms+0000)/``: Xero echoes refused elements as sent, and the SDK only
    parses its own date form back."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return f"/Date({int(midnight.timestamp() * 1000)}+0000)/"


def batch_key(integration_id: int, kind: str, parts: Iterable[str]) -> str:
    """One Idempotency-Key for a write: the same content gives the same key."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"cto:{integration_id}:{kind}:{digest}"

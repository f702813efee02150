"""Xero's JSON conventions: ``/Date(ms+0000)/`` dates and money as JSON numbers."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ms_date(value: dt.date | dt.datetime) -> str:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return f"/Date({int(value.timestamp() * 1000)}+0000)/"


def parse_date(value: Any) -> dt.date | None:
    """A write's date: ``/Date(ms)/``, ``2024-01-31`` or ``2024-01-31T00:00:00``; None if bad."""
    if not isinstance(value, str) or not value:
        return None
    match = _MS_DATE.match(value)
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, tz=dt.UTC).date()
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_datetime(value: str) -> dt.datetime | None:
    """``If-Modified-Since``: ISO 8601 (what the SDK sends) or RFC 1123."""
    from email.utils import parsedate_to_datetime

    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def to_decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            # Amounts are already quantised to 2 or 4 places; a float's shortest repr of such
            # a value is the same digits, and Xero sends numbers, not strings.
            return float(o)
        return super().default(o)


def dumps(data: Any) -> bytes:
    return json.dumps(data, cls=_Encoder, separators=(",", ":")).encode()

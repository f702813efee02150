"""Xero's webhook deliveries: the signature check and the payload, as typed records.

Pure (no I/O): the endpoint verifies the signature on the raw bytes before anything is parsed
or stored, then parses the events. Xero signs the exact body with the app's webhook key:
``x-xero-signature`` is base64(HMAC-SHA256(body, key)).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# What the write-back reads again; other categories (CONTACT, SUBSCRIPTION...) are stored and
# ignored.
DOCUMENT_CATEGORIES: Final = frozenset({"INVOICE", "CREDITNOTE"})
MAX_ID_LENGTH: Final = 64
MAX_BODY_BYTES: Final = 1_000_000
"""Far above what Xero sends (a delivery holds a few hundred small events at most)."""


class WebhookPayloadError(ValueError):
    """A correctly signed body that is not a Xero webhook payload; the message says why."""


def signature_valid(body: bytes, signature: str, key: str) -> bool:
    """Whether ``signature`` is Xero's signature of ``body`` with ``key`` (constant time)."""
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


@dataclass(frozen=True)
class WebhookEvent:
    tenant_id: str
    resource_id: str
    category: str
    event_type: str
    event_date: dt.datetime
    sequence: int

    @property
    def key(self) -> str:
        """One event, however often Xero delivers it."""
        raw = "|".join(
            (
                self.tenant_id.lower(),
                self.resource_id.lower(),
                self.category,
                self.event_type,
                self.event_date.isoformat(),
            )
        )
        return hashlib.sha256(raw.encode()).hexdigest()


def _text(raw: Mapping[str, Any], key: str, index: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WebhookPayloadError(f"event {index}: {key} is missing or not text.")
    if not value.strip().isprintable():
        # NUL and lone surrogates cannot be stored (nor hashed as UTF-8); no Xero id has them.
        raise WebhookPayloadError(f"event {index}: {key} holds characters no Xero value has.")
    if len(value.strip()) > MAX_ID_LENGTH:
        raise WebhookPayloadError(f"event {index}: {key} is longer than any Xero value.")
    return value.strip()


def _date(value: str, index: int) -> dt.datetime:
    # Xero writes UTC without an offset ("2026-12-03T16:35:09.123"); an offset is honoured.
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        # OverflowError: an offset moving the first or last day past the calendar.
        return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise WebhookPayloadError(f"event {index}: eventDateUtc {value!r} is not a date.") from exc


def parse_payload(body: bytes) -> list[WebhookEvent]:
    """The events of a delivery (none for the intent-to-receive check).

    Raises :class:`WebhookPayloadError` for anything that is not a payload: not JSON, not an
    object, ``events`` not a list, an event without its ids, type or date.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: nesting deeper than the decoder recurses ("[[[[...").
        raise WebhookPayloadError(f"the body is not JSON ({exc}).") from exc
    if not isinstance(data, Mapping):
        raise WebhookPayloadError("the body is not a JSON object.")
    events = data.get("events")
    if not isinstance(events, list):
        raise WebhookPayloadError("events is missing or not a list.")
    sequence = data.get("lastEventSequence", 0)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence < 2**63:
        sequence = 0  # only an order hint: one past the column's range is as good as none
    parsed: list[WebhookEvent] = []
    for index, raw in enumerate(events):
        if not isinstance(raw, Mapping):
            raise WebhookPayloadError(f"event {index} is not an object.")
        parsed.append(
            WebhookEvent(
                tenant_id=_text(raw, "tenantId", index),
                resource_id=_text(raw, "resourceId", index),
                category=_text(raw, "eventCategory", index).upper()[:16],
                event_type=_text(raw, "eventType", index).upper()[:16],
                event_date=_date(_text(raw, "eventDateUtc", index), index),
                sequence=sequence,
            )
        )
    return parsed

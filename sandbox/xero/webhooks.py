"""Signed webhook events, as Xero sends them, and the "intent to receive" check.

Events of one request go out together in one payload after the transaction commits. Delivery
runs on a short-lived background thread (a slow receiver never delays the API answer); set
``SYNCHRONOUS = True`` (tests do) to deliver inside the on-commit hook instead. The background
thread never touches the database, so it is safe under every test database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.db.models import F

from sandbox.db import on_commit
from sandbox.xero import clock, xjson
from sandbox.xero.models import WebhookDelivery, XeroOrganisation

if TYPE_CHECKING:
    from sandbox.xero.writes import Event

logger = logging.getLogger(__name__)

SYNCHRONOUS = False
TIMEOUT_SECONDS = 5.0
RESOURCE_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def build_payload(org: XeroOrganisation, events: Sequence[Event]) -> dict[str, Any]:
    """One payload for ``events``, numbered from the organisation's event sequence."""
    XeroOrganisation.objects.filter(pk=org.pk).update(
        webhook_sequence=F("webhook_sequence") + len(events)
    )
    last: int = XeroOrganisation.objects.values_list("webhook_sequence", flat=True).get(pk=org.pk)
    first = last - len(events) + 1
    stamp = clock.now().astimezone().replace(tzinfo=None).isoformat(timespec="milliseconds")
    base = f"{settings.SANDBOX_BASE_URL}/sandbox/xero/api.xro/2.0"
    items = []
    for event in events:
        item: dict[str, Any] = {
            "resourceUrl": f"{base}/{RESOURCE_PATHS[event.category]}/{event.resource_id}",
            "resourceId": str(event.resource_id),
            "tenantId": str(org.organisation_id),
            "tenantType": "ORGANISATION",
            "eventCategory": event.category,
            "eventType": event.event_type,
            "eventDateUtc": stamp,
        }
        if event.data:
            item["data"] = dict(event.data)
        items.append(item)
    return {
        "events": items,
        "firstEventSequence": first,
        "lastEventSequence": last,
        "entropy": _entropy(),
    }


def queue_events(org: XeroOrganisation, events: Sequence[Event]) -> None:
    """Deliver ``events`` after the current transaction commits (nothing if it rolls back)."""
    if not events or not org.webhook_url or not org.webhook_key:
        return
    pending = list(events)

    def send() -> None:
        payload = build_payload(org, pending)
        body = xjson.dumps(payload)
        delivery = WebhookDelivery.objects.create(
            organisation=org, created_at=clock.now(), payload=payload
        )
        if SYNCHRONOUS:
            status, error = post(org.webhook_url, body, sign(body, org.webhook_key))
            delivery.status, delivery.error = status, error[:500]
            delivery.save(update_fields=["status", "error"])
        else:
            args = (org.webhook_url, body, sign(body, org.webhook_key))
            threading.Thread(target=post, args=args, daemon=True).start()

    on_commit(send)


def post(url: str, body: bytes, signature: str) -> tuple[int | None, str]:
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "x-xero-signature": signature},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        logger.info("sandbox webhook to %s failed: %s", url, exc)
        return None, str(exc)
    return response.status_code, ""


@dataclass(frozen=True)
class IntentResult:
    good_signature_status: int | None
    bad_signature_status: int | None

    @property
    def ok(self) -> bool:
        """Xero's check: 200 for the good signature and 401 for the bad one."""
        return self.good_signature_status == 200 and self.bad_signature_status == 401


def send_intent_to_receive(org: XeroOrganisation) -> IntentResult:
    """Send an empty, correctly signed payload and a badly signed one, as Xero does."""
    if not org.webhook_url or not org.webhook_key:
        raise ValueError("the organisation has no webhook URL and key")
    payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
    body = xjson.dumps(payload)
    good, _ = post(org.webhook_url, body, sign(body, org.webhook_key))
    bad, _ = post(org.webhook_url, body, sign(body, org.webhook_key + "-wrong"))
    return IntentResult(good, bad)

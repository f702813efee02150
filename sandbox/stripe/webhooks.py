"""Events and their webhooks, signed as Stripe signs them.

Each event is stored (``GET /v1/events/{id}``) and, for every enabled endpoint that wants its
type, one :class:`~sandbox.stripe.models.WebhookDelivery` is queued. Deliveries go out after the
transaction commits, in the order the events were made, on a short-lived background thread (a
slow receiver never delays the API answer); ``SYNCHRONOUS = True`` (tests) delivers inside the
on-commit hook instead. A delivery not answered with a 2xx stays pending for
:func:`retry_pending` (the sandbox page's button and ``manage.py sandbox_stripe retry-webhooks``):
Stripe retries in test mode a few times over hours; here a person or a test decides when.

The signature header is ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with
the endpoint's secret>``; ``t`` is wall time (receivers compare it with their own clock), even
when the account's simulated time has been moved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.db import close_old_connections
from django.utils import timezone

from sandbox.db import on_commit
from sandbox.stripe import clock, objects, store
from sandbox.stripe.models import StripeAccount, StripeObject, WebhookDelivery

logger = logging.getLogger(__name__)

SYNCHRONOUS = False
TIMEOUT_SECONDS = 10
# Attempts after which a delivery is marked failed (the retry button still resends it).
MAX_ATTEMPTS = 3
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass(frozen=True)
class Origin:
    """The API request an event came from (none for the clock's renewals and retries)."""

    request_id: str | None = None
    idempotency_key: str | None = None


AUTOMATIC = Origin()


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _wants(endpoint: dict[str, Any], event_type: str) -> bool:
    if endpoint.get("status") != "enabled":
        return False
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event_type in enabled


def emit(
    account: StripeAccount,
    event_type: str,
    obj: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
    origin: Origin = AUTOMATIC,
    created: int | None = None,
) -> dict[str, Any]:
    """Record an event for ``obj`` (as answers show it) and queue its deliveries."""
    endpoints = [
        row
        for row in StripeObject.objects.filter(account=account, kind="webhook_endpoint").order_by(
            "seq"
        )
        if _wants(row.data, event_type)
    ]
    data = objects.event(
        eid=store.new_id("evt"),
        created=created if created is not None else clock.account_now(account),
        api_version=account.api_version,
        type_=event_type,
        obj=obj,
        previous=previous,
        pending=len(endpoints),
        request_id=origin.request_id,
        idempotency_key=origin.idempotency_key,
    )
    store.create(account, data, customer=_customer_of(obj))
    ids = [
        WebhookDelivery.objects.create(
            account=account,
            event_id=data["id"],
            event_type=event_type,
            endpoint_id=row.id,
            url=row.data["url"],
        ).pk
        for row in endpoints
    ]
    if ids:
        on_commit(lambda: _start(ids))
    return data


def _customer_of(obj: dict[str, Any]) -> str:
    if obj.get("object") == "customer":
        return str(obj["id"])
    customer = obj.get("customer")
    if isinstance(customer, dict):
        return str(customer.get("id", ""))
    return customer if isinstance(customer, str) else ""


def _start(ids: list[int]) -> None:
    if SYNCHRONOUS:
        for pk in ids:
            deliver(pk)
        return
    threading.Thread(target=_deliver_in_thread, args=(ids,), daemon=True).start()


def _deliver_in_thread(ids: list[int]) -> None:
    try:
        for pk in ids:
            deliver(pk)
    except Exception:
        logger.exception("sandbox Stripe webhook deliveries %s crashed", ids)
    finally:
        close_old_connections()


def deliver(delivery_id: int) -> bool:
    """One attempt; True when the endpoint answered 2xx."""
    delivery = WebhookDelivery.objects.select_related("account").get(pk=delivery_id)
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        return True
    event = StripeObject.objects.filter(id=delivery.event_id, kind="event").first()
    endpoint = StripeObject.objects.filter(id=delivery.endpoint_id, kind="webhook_endpoint").first()
    if event is None or endpoint is None:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.last_error = "the event or the endpoint no longer exists"
        delivery.save(update_fields=["status", "last_error"])
        return False
    body = json.dumps(event.data, indent=2).encode()
    header = sign(body, endpoint.data["_secret"], int(time.time()))
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    try:
        response = requests.post(
            delivery.url,
            data=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": USER_AGENT,
            },
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        delivery.response_status = response.status_code
        ok = 200 <= response.status_code < 300
        delivery.last_error = "" if ok else response.text[:500]
    except requests.RequestException as exc:
        ok = False
        delivery.response_status = None
        delivery.last_error = str(exc)[:500]
    if ok:
        delivery.status = WebhookDelivery.Status.DELIVERED
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    delivery.save()
    if ok:
        _settle(event)
    return ok


def _settle(event: StripeObject) -> None:
    remaining = WebhookDelivery.objects.filter(event_id=event.id).exclude(
        status=WebhookDelivery.Status.DELIVERED
    )
    event.data["pending_webhooks"] = remaining.count()
    StripeObject.objects.filter(pk=event.pk).update(data=event.data)


def retry_pending(account: StripeAccount | None = None, *, include_failed: bool = False) -> int:
    """Resend every undelivered delivery once, oldest first; returns how many succeeded."""
    statuses = [WebhookDelivery.Status.PENDING]
    if include_failed:
        statuses.append(WebhookDelivery.Status.FAILED)
    rows = WebhookDelivery.objects.filter(status__in=statuses)
    if account is not None:
        rows = rows.filter(account=account)
    return sum(1 for pk in list(rows.order_by("pk").values_list("pk", flat=True)) if deliver(pk))

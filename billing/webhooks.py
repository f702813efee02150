"""Stripe's webhooks: verified, stored once, processed once.

:func:`event_receive` runs in the request: the signature is checked before anything is
stored, the event is stored under its unique id (a replay or a duplicate finds it and queues
nothing), and its processing is queued after commit. :func:`event_process` runs in a Celery
task and records the outcome on the event's row.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_client
from billing.models import StripeEvent, Subscription
from billing.notices import payment_failed_notify
from billing.stripe_client import BillingError
from billing.subscriptions import checkout_complete, subscription_apply

logger = logging.getLogger(__name__)

Outcome = StripeEvent.Outcome

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"})
HANDLED = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | {"checkout.session.completed"}


def event_receive(*, payload: bytes, signature: str, queue: Callable[[int], Any]) -> StripeEvent:
    """Stores a verified event (raises ``stripe_client.BadSignature`` first otherwise) and
    queues ``queue(event pk)`` on commit, once per event id."""
    event = stripe_client.webhook_event(payload=payload, signature=signature)
    created = dt.datetime.fromtimestamp(int(event.get("created") or 0), tz=dt.UTC)
    try:
        with transaction.atomic():
            row, is_new = StripeEvent.objects.get_or_create(
                event_id=str(event["id"]),
                defaults={"type": str(event.get("type", "")), "created": created, "payload": event},
            )
    except IntegrityError:  # the same event delivered twice at once
        return StripeEvent.objects.get(event_id=str(event["id"]))
    if is_new:
        transaction.on_commit(functools.partial(queue, row.pk))
    else:
        logger.info("stripe event again: %s (%s)", row.event_id, row.outcome)
    return row


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else empty: a signed payload may still hold any type
    anywhere, and an event about nothing we can read is an unknown one, not a crash."""
    return value if isinstance(value, dict) else {}


def _object(event: StripeEvent) -> dict[str, Any]:
    return _dict(_dict(_dict(event.payload).get("data")).get("object"))


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _find(
    *, subscription_id: str = "", customer_id: str = "", account_id: str = ""
) -> Subscription | None:
    """Our subscription by Stripe's ids; an account id from metadata only with its customer."""
    if subscription_id:
        found = Subscription.objects.filter(stripe_subscription_id=subscription_id).first()
        if found is not None:
            return found
    if customer_id:
        found = Subscription.objects.filter(stripe_customer_id=customer_id).first()
        if found is not None:
            return found
    if account_id.isdigit() and not customer_id:
        return Subscription.objects.filter(account_id=int(account_id)).first()
    return None


def _invoice_subscription(obj: dict[str, Any]) -> str:
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    return _id(details.get("subscription") or obj.get("subscription"))


def _handle(event: StripeEvent) -> tuple[str, str, Subscription | None]:
    """(outcome, message, our subscription) of one event."""
    obj = _object(event)
    if event.type not in HANDLED:
        return Outcome.IGNORED, "", None
    if event.type == "checkout.session.completed":
        subscription = _find(
            customer_id=_id(obj.get("customer")),
            account_id=str(obj.get("client_reference_id") or ""),
        )
        if subscription is None:
            return Outcome.UNKNOWN, "no account for this Checkout session", None
        session_id = _id(obj.get("id"))
        if not session_id:
            return Outcome.UNKNOWN, "no Checkout session id in the event", subscription
        done = checkout_complete(subscription=subscription, session_id=session_id)
        return (Outcome.APPLIED if done else Outcome.IGNORED), "", subscription
    if event.type in SUBSCRIPTION_EVENTS:
        stripe_id = _id(obj.get("id"))
    else:
        stripe_id = _invoice_subscription(obj)
    subscription = _find(subscription_id=stripe_id, customer_id=_id(obj.get("customer")))
    if subscription is None or not stripe_id:
        return Outcome.UNKNOWN, f"no subscription of ours for {stripe_id or 'this invoice'}", None
    if (
        event.type in SUBSCRIPTION_EVENTS
        and subscription.last_event_created is not None
        and event.created < subscription.last_event_created
    ):
        return Outcome.STALE, "a newer event was applied already", subscription
    if event.type == "invoice.payment_failed":
        payment_failed_notify(subscription=subscription, invoice_id=_id(obj.get("id")))
    # Stripe's subscription as it is now: the event's snapshot may be older than another
    # event already applied.
    info = stripe_client.subscription_get(subscription_id=stripe_id)
    subscription_apply(subscription=subscription, info=info, event_created=event.created)
    return Outcome.APPLIED, "", subscription


def event_process(*, event_pk: int) -> str:
    """Processes one stored event once; returns its outcome. Stripe being unreachable leaves
    it pending and raises, so the task retries.

    No transaction or lock is held across the Stripe reads: what an event applies is
    idempotent (the subscription re-read from Stripe and applied under its own row lock,
    a Checkout session completed once, one email per failing invoice), and the event is
    marked processed by a conditional update, so a second worker's run changes nothing.
    """
    event = StripeEvent.objects.filter(pk=event_pk, processed_at__isnull=True).first()
    if event is None:
        return "done already"
    try:
        outcome, message, subscription = _handle(event)
    except BillingError as exc:
        if exc.retryable:
            raise
        outcome, message, subscription = Outcome.FAILED, str(exc), None
    marked = StripeEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        outcome=outcome,
        message=message,
        subscription=subscription,
        processed_at=timezone.now(),
    )
    if not marked:
        return "done already"
    log = logger.warning if outcome in (Outcome.UNKNOWN, Outcome.FAILED) else logger.info
    log("stripe event %s %s: %s %s", event.event_id, event.type, outcome, message)
    return str(outcome)


def events_prune(*, older_than: dt.datetime, batch_size: int = 1000) -> int:
    """Deletes settled events received before ``older_than``; returns how many.

    Pending and failed events stay however old: they are work nobody has finished. A deleted
    event cannot be replayed into a duplicate: Stripe signs each delivery with its time, and a
    signature older than the tolerance (minutes) is refused before any lookup by id.
    """
    settled = StripeEvent.objects.filter(received_at__lt=older_than).exclude(
        outcome__in=(StripeEvent.Outcome.PENDING, StripeEvent.Outcome.FAILED)
    )
    deleted = 0
    while ids := list(settled.values_list("pk", flat=True)[:batch_size]):
        deleted += StripeEvent.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        logger.info("stripe events pruned: %d received before %s", deleted, older_than.isoformat())
    return deleted

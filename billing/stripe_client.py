"""Stripe I/O, and nothing else: one ``stripe.StripeClient`` at ``STRIPE_API_BASE`` and typed
wrappers around the calls billing makes.

Every Stripe failure leaves here as :class:`BillingError` with a sentence a person can act on
(the card was declined, Stripe cannot be reached), never as a raw SDK exception, so no page
answers 500 because Stripe did. The same code talks to the simulated Stripe and to the real one:
only the settings differ.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

# Stripe's own default; webhooks signed longer ago than this are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 30


class BillingError(Exception):
    """A Stripe call that did not work, said for people (``str(error)``)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class NotConfigured(BillingError):
    pass


class Missing(BillingError):
    """Stripe has no such object (a deleted customer, a subscription of another account)."""


def _explain(exc: stripe.StripeError) -> BillingError:
    """The SDK's error as one sentence; the details go to the log (no secrets in them)."""
    logger.warning(
        "stripe call failed: %s code=%s status=%s request=%s",
        type(exc).__name__,
        getattr(exc, "code", None),
        getattr(exc, "http_status", None),
        getattr(exc, "request_id", None),
    )
    if isinstance(exc, stripe.CardError):
        return BillingError(f"The card was declined: {exc.user_message or 'try another card'}.")
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return BillingError(
            "Stripe cannot be reached at the moment; nothing was changed. Try again shortly.",
            retryable=True,
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return BillingError("Billing is misconfigured on this server (Stripe refused the key).")
    if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
        return Missing("Stripe has no record of this billing item.")
    if isinstance(exc, stripe.APIError):
        return BillingError(
            "Stripe answered with an error; nothing was changed. Try again shortly.",
            retryable=True,
        )
    return BillingError(f"Stripe refused the request: {exc.user_message or 'unknown error'}.")


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise NotConfigured("Billing is not configured on this server.")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        # The SDK's own retries reuse one idempotency key, so they are safe; two is enough to
        # ride out a blip without holding a page for long.
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def _call(operation: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return operation(*args, **kwargs)
    except stripe.StripeError as exc:
        raise _explain(exc) from exc


def _when(timestamp: int | None) -> dt.datetime | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)


def _money(minor: int | None) -> Decimal:
    return (Decimal(int(minor or 0)) / 100).quantize(Decimal("0.01"))


# --- What billing reads from Stripe --------------------------------------------------------------


@dataclass(frozen=True)
class ItemInfo:
    id: str
    price_id: str
    lookup_key: str
    quantity: int


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    customer_id: str
    status: str
    metadata: Mapping[str, str]
    items: tuple[ItemInfo, ...]
    trial_end: dt.datetime | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    canceled_at: dt.datetime | None
    latest_invoice_id: str


@dataclass(frozen=True)
class CheckoutInfo:
    id: str
    url: str
    status: str
    payment_status: str
    client_reference_id: str
    customer_id: str
    subscription_id: str


@dataclass(frozen=True)
class InvoiceInfo:
    id: str
    number: str
    status: str
    amount_due: Decimal
    amount_paid: Decimal
    currency: str
    created: dt.datetime | None
    hosted_invoice_url: str
    subscription_id: str


@dataclass(frozen=True)
class PreviewInfo:
    amount_due: Decimal
    currency: str
    next_payment_attempt: dt.datetime | None


def _plain(obj: Any) -> dict[str, Any]:
    """The SDK's object as plain dicts and lists (16.x objects are not dicts)."""
    return cast(dict[str, Any], obj.to_dict() if hasattr(obj, "to_dict") else obj)


def _subscription(raw: Any) -> SubscriptionInfo:
    obj = _plain(raw)
    items = []
    period_end: int | None = None
    for item in obj["items"]["data"]:
        price = item["price"]
        items.append(
            ItemInfo(
                id=item["id"],
                price_id=price["id"] if not isinstance(price, str) else price,
                lookup_key=(price.get("lookup_key") or "") if not isinstance(price, str) else "",
                quantity=int(item.get("quantity") or 0),
            )
        )
        # Since API version 2025-03-31 the period lives on the items.
        period_end = period_end or item.get("current_period_end")
    latest = obj.get("latest_invoice") or ""
    return SubscriptionInfo(
        id=obj["id"],
        customer_id=obj["customer"] if isinstance(obj["customer"], str) else obj["customer"]["id"],
        status=obj["status"],
        metadata=dict(obj.get("metadata") or {}),
        items=tuple(items),
        trial_end=_when(obj.get("trial_end")),
        current_period_end=_when(period_end or obj.get("current_period_end")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=_when(obj.get("canceled_at")),
        latest_invoice_id=latest if isinstance(latest, str) else latest["id"],
    )


def _invoice(raw: Any) -> InvoiceInfo:
    obj = _plain(raw)
    parent = obj.get("parent") or {}
    details = (parent.get("subscription_details") or {}) if parent else {}
    subscription = details.get("subscription") or obj.get("subscription") or ""
    return InvoiceInfo(
        id=obj["id"],
        number=obj.get("number") or obj["id"],
        status=obj.get("status") or "",
        amount_due=_money(obj.get("amount_due")),
        amount_paid=_money(obj.get("amount_paid")),
        currency=(obj.get("currency") or "").upper(),
        created=_when(obj.get("created")),
        hosted_invoice_url=obj.get("hosted_invoice_url") or "",
        subscription_id=subscription if isinstance(subscription, str) else subscription["id"],
    )


def _checkout(raw: Any) -> CheckoutInfo:
    obj = _plain(raw)
    subscription = obj.get("subscription") or ""
    customer = obj.get("customer") or ""
    return CheckoutInfo(
        id=obj["id"],
        url=obj.get("url") or "",
        status=obj.get("status") or "",
        payment_status=obj.get("payment_status") or "",
        client_reference_id=obj.get("client_reference_id") or "",
        customer_id=customer if isinstance(customer, str) else customer["id"],
        subscription_id=subscription if isinstance(subscription, str) else subscription["id"],
    )


# --- Products and prices -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A graduated tier in minor units: ``up_to`` None is "and up"."""

    up_to: int | None
    unit_amount: int


def product_ensure(*, product_id: str, name: str) -> str:
    """The product with our own id, created when missing; returns its id."""
    client = _client()
    try:
        return str(client.v1.products.retrieve(product_id).id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise _explain(exc) from exc
    product = _call(client.v1.products.create, params={"id": product_id, "name": name})
    return str(product.id)


def price_find(*, lookup_key: str) -> str | None:
    """The active price with this lookup key, if Stripe has one."""
    found = _call(
        _client().v1.prices.list, params={"lookup_keys": [lookup_key], "active": True, "limit": 1}
    )
    return str(found.data[0].id) if found.data else None


def price_create_tiered(
    *, product_id: str, currency: str, lookup_key: str, tiers: Sequence[Tier], nickname: str
) -> str:
    params: dict[str, Any] = {
        "product": product_id,
        "currency": currency.lower(),
        "recurring": {"interval": "month"},
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [
            {"up_to": "inf" if t.up_to is None else t.up_to, "unit_amount": t.unit_amount}
            for t in tiers
        ],
        "lookup_key": lookup_key,
        "nickname": nickname,
    }
    return str(_call(_client().v1.prices.create, params=params).id)


def price_create_flat(
    *, product_id: str, currency: str, lookup_key: str, unit_amount: int, nickname: str
) -> str:
    params: dict[str, Any] = {
        "product": product_id,
        "currency": currency.lower(),
        "recurring": {"interval": "month"},
        "unit_amount": unit_amount,
        "lookup_key": lookup_key,
        "nickname": nickname,
    }
    return str(_call(_client().v1.prices.create, params=params).id)


# --- Customers, Checkout and the portal ----------------------------------------------------------


def customer_create(*, email: str, name: str, account_id: int) -> str:
    params: dict[str, Any] = {
        "email": email,
        "name": name,
        "metadata": {"account_id": str(account_id)},
    }
    customer = _call(
        _client().v1.customers.create,
        params=params,
        # One customer per account even if the owner double-clicks.
        options={"idempotency_key": f"customer-account-{account_id}"},
    )
    return str(customer.id)


@dataclass(frozen=True)
class LineItem:
    price_id: str
    quantity: int


def checkout_create(
    *,
    customer_id: str,
    account_id: int,
    items: Sequence[LineItem],
    trial_end: dt.datetime | None,
    success_url: str,
    cancel_url: str,
) -> CheckoutInfo:
    subscription_data: dict[str, Any] = {"metadata": {"account_id": str(account_id)}}
    if trial_end is not None:
        subscription_data["trial_end"] = int(trial_end.timestamp())
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": str(account_id),
        "line_items": [{"price": i.price_id, "quantity": i.quantity} for i in items],
        "subscription_data": subscription_data,
        "metadata": {"account_id": str(account_id)},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    return _checkout(_call(_client().v1.checkout.sessions.create, params=params))


def checkout_get(*, session_id: str) -> CheckoutInfo:
    return _checkout(_call(_client().v1.checkout.sessions.retrieve, session_id))


def portal_create(*, customer_id: str, return_url: str) -> str:
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    return str(_call(_client().v1.billing_portal.sessions.create, params=params).url)


# --- Subscriptions -------------------------------------------------------------------------------


def subscription_get(*, subscription_id: str) -> SubscriptionInfo:
    obj = _call(
        _client().v1.subscriptions.retrieve,
        subscription_id,
        params={"expand": ["items.data.price"]},
    )
    return _subscription(obj)


def subscription_update_items(
    *, subscription_id: str, items: Sequence[Mapping[str, Any]]
) -> SubscriptionInfo:
    """Changes items without prorations: a change counts from the next invoice on."""
    params: dict[str, Any] = {
        "items": [dict(i) for i in items],
        "proration_behavior": "none",
        "expand": ["items.data.price"],
    }
    return _subscription(_call(_client().v1.subscriptions.update, subscription_id, params=params))


def subscription_cancel(*, subscription_id: str) -> None:
    """Cancels now (an account being closed is charged nothing more); already gone is fine."""
    try:
        _client().v1.subscriptions.cancel(subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return
        raise _explain(exc) from exc
    except stripe.StripeError as exc:
        raise _explain(exc) from exc


# --- Invoices ------------------------------------------------------------------------------------


def invoices_list(*, customer_id: str, limit: int = 12) -> list[InvoiceInfo]:
    found = _call(_client().v1.invoices.list, params={"customer": customer_id, "limit": limit})
    return [_invoice(obj) for obj in found.data]


def invoice_get(*, invoice_id: str) -> InvoiceInfo:
    return _invoice(_call(_client().v1.invoices.retrieve, invoice_id))


def invoice_preview(*, subscription_id: str) -> PreviewInfo | None:
    """The next invoice as Stripe would make it now; None when none is coming (canceled)."""
    client = _client()
    try:
        raw = client.v1.invoices.create_preview(params={"subscription": subscription_id})
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404 or exc.code == "invoice_upcoming_none":
            return None
        raise _explain(exc) from exc
    except stripe.StripeError as exc:
        raise _explain(exc) from exc
    obj = _plain(raw)
    when = obj.get("next_payment_attempt") or obj.get("period_end")
    return PreviewInfo(
        amount_due=_money(obj.get("amount_due")),
        currency=(obj.get("currency") or "").upper(),
        next_payment_attempt=_when(when),
    )


# --- Webhooks ------------------------------------------------------------------------------------


class BadSignature(Exception):
    pass


class NotAnEvent(BadSignature):
    """Signed, but not an event we can store (the JSON column and our columns refuse it)."""


# The last second a DateTimeField holds (9999-12-31T23:59:59Z).
_LAST_TIMESTAMP = 253_402_300_799


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON PostgreSQL stores")


def _storable(value: Any) -> bool:
    """No NUL or lone surrogate in any string: PostgreSQL's jsonb refuses both. Walked without
    recursion: the decoder allows nesting deeper than a recursive walk would."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and ("\x00" in item or not _utf8(item)):
            return False
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _event_shape(event: Any) -> str:
    """Why a verified body is not an event we store, or "" when it is one."""
    if not isinstance(event, dict):
        return "not a JSON object"
    event_id, event_type, created = event.get("id"), event.get("type", ""), event.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        return "no id of at most 255 characters"
    if not isinstance(event_type, str) or len(event_type) > 100:
        return "a type that is not text of at most 100 characters"
    if created is not None and (
        isinstance(created, bool)
        or not isinstance(created, int)
        or not 0 <= created <= _LAST_TIMESTAMP
    ):
        return "a created time that is not a Unix timestamp"
    if not _storable(event):
        return "text holding NUL or unpaired surrogate characters"
    return ""


def webhook_event(*, payload: bytes, signature: str) -> dict[str, Any]:
    """The event, once its ``Stripe-Signature`` proves Stripe sent it in the last 5 minutes.

    Raises :class:`BadSignature` for a missing or wrong signature, :class:`NotAnEvent` for a
    signed body that cannot be stored as an event (checked here, so nothing half-stored)."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise BadSignature("no webhook secret configured")
    if not signature:
        raise BadSignature("no Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            WEBHOOK_TOLERANCE_SECONDS,
        )
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise BadSignature(str(exc)) from exc
    try:
        # The body as sent (plain JSON, stored as is), not the SDK's object.
        event = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise NotAnEvent(f"not JSON ({type(exc).__name__})") from exc
    problem = _event_shape(event)
    if problem:
        raise NotAnEvent(f"not an event: {problem}")
    return cast(dict[str, Any], event)

"""Stripe's objects in the sandbox database: ids with Stripe's prefixes, loads, saves, lists.

Keys starting with ``_`` in an object's data are the simulator's own notes (a test card's
behaviour, a webhook endpoint's secret); :func:`public` leaves them out of every answer.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from typing import Any

from sandbox.stripe.errors import StripeError, no_such
from sandbox.stripe.models import StripeAccount, StripeObject

_ALPHABET = string.ascii_letters + string.digits
# Stripe's names of objects in "No such ..." errors, by id prefix.
NAMES = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "cs": "checkout.session",
    "bps": "billing_portal.session",
    "sub": "subscription",
    "si": "subscription_item",
    "in": "invoice",
    "evt": "event",
    "pm": "PaymentMethod",
    "we": "webhook_endpoint",
    "clock": "test_clock",
    "mtr": "billing.meter",
}


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def create(
    account: StripeAccount,
    data: dict[str, Any],
    *,
    customer: str = "",
    subscription: str = "",
) -> StripeObject:
    return StripeObject.objects.create(
        account=account,
        id=data["id"],
        kind=data["object"],
        created=int(data.get("created") or 0),
        customer=customer,
        subscription=subscription,
        seq=time.time_ns(),
        data=data,
    )


def get(account: StripeAccount, object_id: str, kind: str, *, param: str = "id") -> StripeObject:
    found = StripeObject.objects.filter(account=account, id=object_id, kind=kind).first()
    if found is None:
        prefix = kind.split(".")[-1]
        raise no_such(NAMES.get(object_id.split("_")[0], prefix), object_id, param)
    return found


def get_for_update(account: StripeAccount, object_id: str, kind: str) -> StripeObject:
    found = (
        StripeObject.objects.select_for_update()
        .filter(account=account, id=object_id, kind=kind)
        .first()
    )
    if found is None:
        return get(account, object_id, kind)
    return found


def find(account: StripeAccount, object_id: str) -> StripeObject | None:
    return StripeObject.objects.filter(account=account, id=object_id).first()


def save(obj: StripeObject) -> None:
    obj.save(update_fields=["data", "customer", "subscription"])


def public(data: Any) -> Any:
    """A deep copy without the simulator's notes."""
    if isinstance(data, dict):
        return {k: public(v) for k, v in data.items() if not str(k).startswith("_")}
    if isinstance(data, list):
        return [public(v) for v in data]
    return copy.copy(data)


def page(
    account: StripeAccount,
    kind: str,
    *,
    url: str,
    limit: int | None,
    starting_after: str | None,
    ending_before: str | None = None,
    **filters: str,
) -> tuple[list[StripeObject], bool, str]:
    """One page of a list, newest first, as Stripe pages (``limit`` 1 to 100, default 10)."""
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise StripeError(
            400, "Limit must be between 1 and 100.", code="parameter_invalid_integer", param="limit"
        )
    rows = StripeObject.objects.filter(account=account, kind=kind, **filters)
    if starting_after:
        cursor = get(account, starting_after, kind, param="starting_after")
        rows = rows.filter(seq__lt=cursor.seq)
    if ending_before:
        cursor = get(account, ending_before, kind, param="ending_before")
        found = list(rows.filter(seq__gt=cursor.seq).order_by("seq")[: limit + 1])
        has_more = len(found) > limit
        return list(reversed(found[:limit])), has_more, url
    found = list(rows.order_by("-seq")[: limit + 1])
    return found[:limit], len(found) > limit, url

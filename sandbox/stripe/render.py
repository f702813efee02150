"""Objects as an answer shows them: subscription items and prices filled in, ``expand[]``
honoured, and the fields that moved between API versions where the caller's version has them.

Since API version 2025-03-31 (basil) a subscription's ``current_period_start``/``_end`` are on
its items, and an invoice names its subscription under ``parent.subscription_details``; callers
pinned to an older version also get the old top-level fields.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe import objects
from sandbox.stripe.errors import StripeError
from sandbox.stripe.models import StripeAccount, StripeObject
from sandbox.stripe.store import public

BASIL = "2025-03-31"
MAX_EXPAND_DEPTH = 4


def item_rows(account: StripeAccount, subscription_id: str) -> list[StripeObject]:
    return list(
        StripeObject.objects.filter(
            account=account, kind="subscription_item", subscription=subscription_id
        ).order_by("seq")
    )


def price_json(
    account: StripeAccount, price_id: str, *, with_tiers: bool = False
) -> dict[str, Any]:
    row = StripeObject.objects.filter(account=account, id=price_id, kind="price").first()
    if row is None:
        return {"id": price_id, "object": "price"}
    data: dict[str, Any] = public(row.data)
    if not with_tiers:
        data.pop("tiers", None)
    return data


def item_json(account: StripeAccount, row: StripeObject) -> dict[str, Any]:
    data: dict[str, Any] = public(row.data)
    price = price_json(account, row.data["price"])
    data["price"] = price
    data["plan"] = objects.plan_of(price)
    return data


def materialize(account: StripeAccount, row: StripeObject) -> dict[str, Any]:
    """The object's JSON with what Stripe always embeds (subscription items, their prices)."""
    data: dict[str, Any] = public(row.data)
    if row.kind == "subscription":
        data["items"]["data"] = [item_json(account, r) for r in item_rows(account, row.id)]
    elif row.kind == "subscription_item":
        data = item_json(account, row)
    elif row.kind == "price":
        data.pop("tiers", None)
    return data


def versioned(data: Any, version: str) -> Any:
    """Adds the pre-basil top-level fields for callers on an older API version."""
    if version >= BASIL:
        return data
    if isinstance(data, list):
        return [versioned(v, version) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: versioned(v, version) for k, v in data.items()}
    if out.get("object") == "subscription":
        items = (out.get("items") or {}).get("data") or []
        if items:
            out["current_period_start"] = items[0].get("current_period_start")
            out["current_period_end"] = items[0].get("current_period_end")
    if out.get("object") == "invoice":
        parent = out.get("parent") or {}
        details = parent.get("subscription_details") or {}
        out["subscription"] = details.get("subscription")
        out["paid"] = out.get("status") == "paid"
    return out


def expand(account: StripeAccount, data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise StripeError(
                400,
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.",
                param="expand",
            )
        _expand_at(account, data, parts, path)
    return data


def _expand_at(account: StripeAccount, node: Any, parts: list[str], path: str) -> None:
    if not parts or not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if node.get("object") == "list" and key == "data":
        for item in node.get("data") or []:
            _expand_at(account, item, rest, path)
        return
    if key not in node:
        raise StripeError(
            400,
            f"This property cannot be expanded ({path}).",
            param="expand",
        )
    value = node[key]
    if isinstance(value, str):
        if node.get("object") == "price" and key == "tiers":
            return
        row = StripeObject.objects.filter(account=account, id=value).first()
        if row is None:
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        value = materialize(account, row)
        node[key] = value
    if node.get("object") == "price" and key == "tiers":
        return
    _expand_at(account, value, rest, path)


def answer(
    account: StripeAccount,
    row: StripeObject,
    *,
    version: str,
    expand_paths: list[str] | None = None,
) -> dict[str, Any]:
    data = materialize(account, row)
    paths = list(expand_paths or [])
    if row.kind == "price" and "tiers" in paths:
        data = price_json(account, row.id, with_tiers=True)
        paths.remove("tiers")
    if row.kind == "checkout.session" and "line_items" in paths:
        data["line_items"] = {
            "object": "list",
            "data": [
                {**li, "price": price_json(account, li["price"])}
                for li in row.data.get("_line_items", [])
            ],
            "has_more": False,
            "url": f"/v1/checkout/sessions/{row.id}/line_items",
        }
        paths.remove("line_items")
    shown: dict[str, Any] = versioned(expand(account, data, paths), version)
    return shown

"""The simulated Stripe API (``/v1/...``): authentication, idempotency, routing and handlers.

Requests are form-encoded as the SDKs send them (:mod:`sandbox.stripe.params`); answers are
JSON with Stripe's error shape. Each request runs in one transaction on the sandbox database;
its events' webhooks go out after it commits.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse

from sandbox.db import atomic
from sandbox.stripe import amounts, billing, clock, objects, params, render, services, store
from sandbox.stripe.errors import StripeError, missing, no_such
from sandbox.stripe.models import IdempotencyRecord, StripeAccount, StripeObject
from sandbox.stripe.webhooks import Origin, emit

CHECKOUT_TTL = 24 * 3600
MIN_TRIAL_SECONDS = 2 * 86400


@dataclass
class Call:
    account: StripeAccount
    method: str
    path: str
    params: dict[str, Any]
    version: str
    origin: Origin
    expand: list[str] = field(default_factory=list)

    def answer(self, row: StripeObject) -> dict[str, Any]:
        return render.answer(self.account, row, version=self.version, expand_paths=self.expand)

    def required(self, name: str) -> Any:
        value = self.params.get(name)
        if value in (None, ""):
            raise missing(name)
        return value

    def listing(self, kind: str, **filters: str) -> dict[str, Any]:
        rows, has_more, _url = store.page(
            self.account,
            kind,
            url=self.path,
            limit=params.as_int(self.params, "limit"),
            starting_after=self.params.get("starting_after") or None,
            ending_before=self.params.get("ending_before") or None,
            **filters,
        )
        return self.list_of([self.answer_in_list(r) for r in rows], has_more)

    def answer_in_list(self, row: StripeObject) -> dict[str, Any]:
        paths = [p.removeprefix("data.") for p in self.expand if p.startswith("data.")]
        return render.answer(self.account, row, version=self.version, expand_paths=paths)

    def list_of(self, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
        return {"object": "list", "data": data, "has_more": has_more, "url": self.path}


Handler = Callable[[Call, re.Match[str]], dict[str, Any]]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


def _json(status: int, body: dict[str, Any], request_id: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, indent=2), status=status, content_type="application/json"
    )
    response["Request-Id"] = request_id
    return response


def _authenticate(request: HttpRequest) -> StripeAccount:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "basic":
        import base64

        key = base64.b64decode(key).decode(errors="replace").split(":")[0]
    elif scheme.lower() != "bearer":
        key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    account = StripeAccount.objects.filter(secret_key=key).first()
    if account is None:
        masked = f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:]}"
        raise StripeError(401, f"Invalid API Key provided: {masked}")
    return account


def serve(request: HttpRequest, subpath: str) -> HttpResponse:
    request_id = store.new_id("req", 14)
    path = f"/v1/{subpath}"
    method = request.method or "GET"
    try:
        account = _authenticate(request)
        pairs = list((request.GET if method in ("GET", "DELETE") else request.POST).lists())
        if method not in ("GET", "DELETE"):
            pairs += list(request.GET.lists())
        parsed = params.parse((key, value) for key, values in pairs for value in values)
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        call = Call(
            account=account,
            method=method,
            path=path,
            params=parsed,
            version=request.headers.get("Stripe-Version") or account.api_version,
            origin=Origin(request_id=request_id, idempotency_key=key),
            expand=[str(e) for e in params.as_list(parsed.pop("expand", None))],
        )
        if key:
            replay = _replay(account, key, method, path, parsed)
            if replay is not None:
                response = _json(replay.status, replay.body, request_id)
                response["Idempotent-Replayed"] = "true"
                return response
        status, body = _dispatch(call)
        if key:
            try:
                with atomic():
                    IdempotencyRecord.objects.create(
                        account=account,
                        key=key,
                        method=method,
                        path=path,
                        params=parsed,
                        status=status,
                        body=body,
                    )
            except IntegrityError:
                pass  # a concurrent request with the same key stored its answer first
        response = _json(status, body, request_id)
    except StripeError as exc:
        response = _json(exc.status, exc.body(), request_id)
    response["Stripe-Version"] = (
        request.headers.get("Stripe-Version") or services.DEFAULT_API_VERSION
    )
    return response


def _replay(
    account: StripeAccount, key: str, method: str, path: str, parsed: dict[str, Any]
) -> IdempotencyRecord | None:
    record = IdempotencyRecord.objects.filter(account=account, key=key).first()
    if record is None:
        return None
    if record.method != method or record.path != path or record.params != parsed:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with. Try using a key other than "
            f"'{key}' if you meant to execute a different request.",
            type="idempotency_error",
        )
    return record


def _dispatch(call: Call) -> tuple[int, dict[str, Any]]:
    known_path = False
    for method, pattern, handler in _ROUTES:
        match = pattern.match(call.path)
        if not match:
            continue
        known_path = True
        if method != call.method:
            continue
        try:
            with atomic():
                return 200, handler(call, match)
        except StripeError as exc:
            return exc.status, exc.body()
    message = f"Unrecognized request URL ({call.method}: {call.path})."
    if not known_path:
        message += (
            " Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
    raise StripeError(404, message)


def _now(call: Call, customer: StripeObject | None = None) -> int:
    return clock.customer_now(call.account, customer)


# --- customers ----------------------------------------------------------------------------------


@route("POST", r"/v1/customers")
def customer_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = billing.customer_create(
        call.account,
        email=call.params.get("email") or None,
        name=call.params.get("name") or None,
        metadata=params.metadata({}, call.params.get("metadata")),
        test_clock=call.params.get("test_clock") or None,
        origin=call.origin,
    )
    if call.params.get("description"):
        row.data["description"] = call.params["description"]
        store.save(row)
    return call.answer(row)


@route("GET", r"/v1/customers")
def customer_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    if call.params.get("email"):
        rows = StripeObject.objects.filter(account=call.account, kind="customer").order_by("-seq")
        found = [
            call.answer_in_list(r) for r in rows if r.data.get("email") == call.params["email"]
        ]
        return call.list_of(found[: params.as_int(call.params, "limit", default=10) or 10])
    return call.listing("customer")


@route("GET", r"/v1/customers/(?P<id>[^/]+)")
def customer_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "customer"))


@route("POST", r"/v1/customers/(?P<id>[^/]+)")
def customer_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "customer")
    data, p = row.data, call.params
    previous: dict[str, Any] = {}
    for name in ("email", "name", "description", "phone"):
        if name in p:
            previous[name] = data.get(name)
            data[name] = p[name] or None
    if "metadata" in p:
        previous["metadata"] = data["metadata"]
        data["metadata"] = params.metadata(data["metadata"], p["metadata"])
    settings_update = p.get("invoice_settings") or {}
    if "default_payment_method" in settings_update:
        pm_id = settings_update["default_payment_method"] or None
        if pm_id:
            store.get(call.account, pm_id, "payment_method", param="default_payment_method")
        previous["invoice_settings"] = {
            "default_payment_method": data["invoice_settings"]["default_payment_method"]
        }
        data["invoice_settings"]["default_payment_method"] = pm_id
    store.save(row)
    if previous:
        emit(
            call.account,
            "customer.updated",
            billing.snapshot(call.account, row),
            previous=previous,
            origin=call.origin,
            created=_now(call, row),
        )
    return call.answer(row)


@route("DELETE", r"/v1/customers/(?P<id>[^/]+)")
def customer_delete(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get(call.account, match["id"], "customer")
    now = _now(call, row)
    for sub in StripeObject.objects.filter(
        account=call.account, kind="subscription", customer=row.id
    ):
        billing.subscription_cancel(call.account, sub, now=now, origin=call.origin)
    emit(call.account, "customer.deleted", billing.snapshot(call.account, row), origin=call.origin)
    row.delete()
    return {"id": match["id"], "object": "customer", "deleted": True}


@route("GET", r"/v1/customers/(?P<id>[^/]+)/payment_methods")
def customer_payment_methods(call: Call, match: re.Match[str]) -> dict[str, Any]:
    store.get(call.account, match["id"], "customer")
    return call.listing("payment_method", customer=match["id"])


@route("GET", r"/v1/payment_methods")
def payment_method_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.listing("payment_method", customer=call.required("customer"))


@route("GET", r"/v1/payment_methods/(?P<id>[^/]+)")
def payment_method_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "payment_method"))


# --- products and prices ------------------------------------------------------------------------


@route("POST", r"/v1/products")
def product_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    data = objects.product(
        pid=p.get("id") or store.new_id("prod", 14),
        created=clock.account_now(call.account),
        name=call.required("name"),
    )
    if store.find(call.account, data["id"]):
        raise StripeError(
            400, "Product already exists.", code="resource_already_exists", param="id"
        )
    data["description"] = p.get("description") or None
    data["metadata"] = params.metadata({}, p.get("metadata"))
    if p.get("active") is not None:
        data["active"] = params.as_bool(p, "active")
    row = store.create(call.account, data)
    emit(call.account, "product.created", billing.snapshot(call.account, row), origin=call.origin)
    return call.answer(row)


@route("GET", r"/v1/products")
def product_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.listing("product")


@route("GET", r"/v1/products/(?P<id>[^/]+)")
def product_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "product"))


@route("POST", r"/v1/products/(?P<id>[^/]+)")
def product_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "product")
    p = call.params
    for name in ("name", "description"):
        if name in p:
            row.data[name] = p[name] or None
    if "active" in p:
        row.data["active"] = bool(params.as_bool(p, "active"))
    if "metadata" in p:
        row.data["metadata"] = params.metadata(row.data["metadata"], p["metadata"])
    if p.get("default_price"):
        store.get(call.account, p["default_price"], "price", param="default_price")
        row.data["default_price"] = p["default_price"]
    row.data["updated"] = clock.account_now(call.account)
    store.save(row)
    return call.answer(row)


def _tiers(raw: Any) -> list[dict[str, Any]]:
    tiers = []
    for index, tier in enumerate(params.as_list(raw)):
        up_to = tier.get("up_to")
        if up_to in (None, ""):
            raise missing(f"tiers[{index}][up_to]")
        tiers.append(
            {
                "flat_amount": params.as_int(tier, "flat_amount"),
                "flat_amount_decimal": tier.get("flat_amount_decimal")
                or (str(tier["flat_amount"]) if tier.get("flat_amount") else None),
                "unit_amount": params.as_int(tier, "unit_amount"),
                "unit_amount_decimal": tier.get("unit_amount_decimal")
                or (str(tier["unit_amount"]) if tier.get("unit_amount") else None),
                "up_to": None if up_to == "inf" else int(up_to),
            }
        )
    if not tiers or tiers[-1]["up_to"] is not None:
        raise StripeError(400, "The last tier must have `up_to` set to `inf`.", param="tiers")
    return tiers


@route("POST", r"/v1/prices")
def price_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    product_id = p.get("product")
    if not product_id and isinstance(p.get("product_data"), dict):
        product = store.create(
            call.account,
            objects.product(
                pid=store.new_id("prod", 14),
                created=clock.account_now(call.account),
                name=p["product_data"].get("name") or "",
            ),
        )
        product_id = product.id
    if not product_id:
        raise missing("product")
    store.get(call.account, product_id, "product", param="product")
    currency = str(call.required("currency")).lower()
    data = objects.price(
        pid=store.new_id("price"),
        created=clock.account_now(call.account),
        product_id=product_id,
        currency=currency,
    )
    data["nickname"] = p.get("nickname") or None
    data["metadata"] = params.metadata({}, p.get("metadata"))
    if p.get("lookup_key"):
        clash = [
            r
            for r in StripeObject.objects.filter(account=call.account, kind="price")
            if r.data.get("lookup_key") == p["lookup_key"]
        ]
        if clash and not params.as_bool(p, "transfer_lookup_key"):
            raise StripeError(
                400,
                f"A price (`{clash[0].id}`) already uses that lookup key.",
                code="lookup_key_already_exists" if False else None,
                param="lookup_key",
            )
        for other in clash:
            other.data["lookup_key"] = None
            store.save(other)
        data["lookup_key"] = p["lookup_key"]
    scheme = p.get("billing_scheme") or "per_unit"
    data["billing_scheme"] = scheme
    if scheme == "tiered":
        data["tiers_mode"] = call.required("tiers_mode")
        data["tiers"] = _tiers(p.get("tiers"))
    else:
        if p.get("unit_amount") in (None, "") and p.get("unit_amount_decimal") in (None, ""):
            raise missing("unit_amount")
        if p.get("unit_amount") not in (None, ""):
            data["unit_amount"] = params.as_int(p, "unit_amount")
            data["unit_amount_decimal"] = str(data["unit_amount"])
        else:
            data["unit_amount_decimal"] = str(p["unit_amount_decimal"])
    recurring = p.get("recurring")
    if isinstance(recurring, dict):
        interval = recurring.get("interval")
        if interval not in ("day", "week", "month", "year"):
            raise (
                missing("recurring[interval]")
                if not interval
                else StripeError(
                    400, f"Invalid recurring[interval]: {interval}", param="recurring[interval]"
                )
            )
        meter = recurring.get("meter") or None
        if meter:
            store.get(call.account, meter, "billing.meter", param="recurring[meter]")
        data["type"] = "recurring"
        data["recurring"] = {
            "interval": interval,
            "interval_count": params.as_int(recurring, "interval_count", default=1),
            "meter": meter,
            "trial_period_days": None,
            "usage_type": recurring.get("usage_type") or ("metered" if meter else "licensed"),
        }
    row = store.create(call.account, data)
    emit(call.account, "price.created", billing.snapshot(call.account, row), origin=call.origin)
    return call.answer(row)


@route("GET", r"/v1/prices")
def price_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    keys = [str(k) for k in params.as_list(p.get("lookup_keys"))]
    filters = {}
    if p.get("product"):
        filters["product"] = p["product"]
    if keys or filters or p.get("active") not in (None, ""):
        active = params.as_bool(p, "active")
        rows = StripeObject.objects.filter(account=call.account, kind="price").order_by("-seq")
        found = [
            call.answer_in_list(r)
            for r in rows
            if (not keys or r.data.get("lookup_key") in keys)
            and (not filters or r.data["product"] == filters["product"])
            and (active is None or r.data["active"] == active)
        ]
        return call.list_of(found[: params.as_int(p, "limit", default=10) or 10])
    return call.listing("price")


@route("GET", r"/v1/prices/(?P<id>[^/]+)")
def price_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "price"))


@route("POST", r"/v1/prices/(?P<id>[^/]+)")
def price_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "price")
    p = call.params
    if "active" in p:
        row.data["active"] = bool(params.as_bool(p, "active"))
    if "nickname" in p:
        row.data["nickname"] = p["nickname"] or None
    if "lookup_key" in p:
        row.data["lookup_key"] = p["lookup_key"] or None
    if "metadata" in p:
        row.data["metadata"] = params.metadata(row.data["metadata"], p["metadata"])
    store.save(row)
    return call.answer(row)


# --- Checkout and the portal --------------------------------------------------------------------


def _site(path: str) -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/stripe/{path}"


@route("POST", r"/v1/checkout/sessions")
def checkout_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    mode = call.required("mode")
    if mode != "subscription":
        raise StripeError(
            400,
            "The sandbox's Checkout supports mode=subscription only.",
            param="mode",
        )
    call.required("success_url")
    customer = None
    if p.get("customer"):
        customer = store.get(call.account, p["customer"], "customer", param="customer")
    raw_items = params.as_list(p.get("line_items"))
    if not raw_items:
        raise missing("line_items")
    now = _now(call, customer)
    sid = store.new_id("cs_test", 58)
    line_items = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict) or not raw.get("price"):
            raise missing(f"line_items[{index}][price]")
        price_row = store.get(
            call.account, raw["price"], "price", param=f"line_items[{index}][price]"
        )
        price = price_row.data
        if not price.get("recurring"):
            raise StripeError(
                400,
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                param=f"line_items[{index}][price]",
            )
        metered = price["recurring"].get("usage_type") == "metered"
        quantity = None if metered else params.as_int(raw, "quantity", default=1)
        if quantity is not None and quantity < 1:
            raise StripeError(
                400, "Quantity must be at least 1.", param=f"line_items[{index}][quantity]"
            )
        amount = 0 if metered else amounts.amount_for(price, quantity or 0)
        line_items.append(
            objects.checkout_item(
                iid=store.new_id("li"),
                price_data=price,
                product_name=billing._product_name(call.account, price["product"]),
                quantity=quantity,
                amount=amount,
            )
        )
    sub_params = p.get("subscription_data") or {}
    trial_end = params.as_int(sub_params, "trial_end")
    trial_days = params.as_int(sub_params, "trial_period_days")
    if trial_days is not None:
        if trial_days < 1:
            raise StripeError(
                400,
                "trial_period_days must be at least 1.",
                param="subscription_data[trial_period_days]",
            )
        trial_end = now + trial_days * 86400
    elif trial_end is not None and trial_end < now + MIN_TRIAL_SECONDS:
        raise StripeError(
            400,
            "The `trial_end` date has to be at least 2 days in the future.",
            param="subscription_data[trial_end]",
        )
    data = objects.checkout_session(
        sid=sid,
        created=now,
        expires_at=params.as_int(p, "expires_at") or now + CHECKOUT_TTL,
        url=_site(f"checkout/{sid}/"),
        params=p,
    )
    data["metadata"] = params.metadata({}, p.get("metadata"))
    data["currency"] = line_items[0]["currency"]
    total = 0 if trial_end else sum(int(li["amount_total"]) for li in line_items)
    data["amount_subtotal"] = data["amount_total"] = total
    data["_line_items"] = line_items
    data["_subscription_data"] = {
        "trial_end": trial_end,
        "metadata": params.metadata({}, sub_params.get("metadata")),
    }
    row = store.create(call.account, data, customer=customer.id if customer else "")
    return call.answer(row)


@route("GET", r"/v1/checkout/sessions")
def checkout_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    filters = {}
    if call.params.get("customer"):
        filters["customer"] = call.params["customer"]
    if call.params.get("subscription"):
        filters["subscription"] = call.params["subscription"]
    return call.listing("checkout.session", **filters)


@route("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)")
def checkout_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "checkout.session"))


@route("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items")
def checkout_line_items(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get(call.account, match["id"], "checkout.session")
    items = [
        {**li, "price": render.price_json(call.account, li["price"])}
        for li in row.data.get("_line_items", [])
    ]
    return call.list_of(items)


@route("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire")
def checkout_expire(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "checkout.session")
    if row.data["status"] != "open":
        raise StripeError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
    row.data["status"] = "expired"
    row.data["url"] = None
    store.save(row)
    emit(
        call.account,
        "checkout.session.expired",
        billing.snapshot(call.account, row),
        origin=call.origin,
    )
    return call.answer(row)


@route("POST", r"/v1/billing_portal/sessions")
def portal_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    customer = store.get(call.account, call.required("customer"), "customer", param="customer")
    sid = store.new_id("bps")
    data = objects.portal_session(
        sid=sid,
        created=_now(call, customer),
        customer_id=customer.id,
        return_url=call.params.get("return_url") or None,
        url=_site(f"portal/{sid}/"),
    )
    return call.answer(store.create(call.account, data, customer=customer.id))


# --- subscriptions ------------------------------------------------------------------------------


@route("POST", r"/v1/subscriptions")
def subscription_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    customer = store.get(call.account, call.required("customer"), "customer", param="customer")
    raw_items = params.as_list(p.get("items"))
    if not raw_items:
        raise missing("items")
    items = [
        billing.NewItem(str(i.get("price") or ""), params.as_int(i, "quantity")) for i in raw_items
    ]
    for index, item in enumerate(items):
        if not item.price_id:
            raise missing(f"items[{index}][price]")
    now = _now(call, customer)
    trial_end = params.as_int(p, "trial_end") if p.get("trial_end") != "now" else None
    if params.as_int(p, "trial_period_days"):
        trial_end = now + int(p["trial_period_days"]) * 86400
    pm = None
    if p.get("default_payment_method"):
        pm = store.get(
            call.account,
            p["default_payment_method"],
            "payment_method",
            param="default_payment_method",
        )
    row = billing.subscription_create(
        call.account,
        customer,
        items=items,
        trial_end=trial_end,
        metadata=params.metadata({}, p.get("metadata")),
        payment_method=pm,
        origin=call.origin,
    )
    return call.answer(row)


@route("GET", r"/v1/subscriptions")
def subscription_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    status = p.get("status") or None
    filters = {"customer": p["customer"]} if p.get("customer") else {}
    if status in (None, "all") and not p.get("price"):
        result = call.listing("subscription", **filters)
        if status is None:
            result["data"] = [s for s in result["data"] if s["status"] != "canceled"]
        return result
    rows = StripeObject.objects.filter(account=call.account, kind="subscription", **filters)
    found = []
    for row in rows.order_by("-seq"):
        if status not in (None, "all") and row.data["status"] != status:
            continue
        if p.get("price") and not any(
            i.data["price"] == p["price"] for i in render.item_rows(call.account, row.id)
        ):
            continue
        found.append(call.answer_in_list(row))
    return call.list_of(found[: params.as_int(p, "limit", default=10) or 10])


@route("GET", r"/v1/subscriptions/(?P<id>[^/]+)")
def subscription_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "subscription"))


PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")


def _change_items(
    call: Call, subscription: StripeObject, raw_items: list[Any], behaviour: str
) -> dict[str, Any] | None:
    """Applies ``items[...]`` changes; returns the previous items for the event, if any."""
    account = call.account
    if behaviour not in PRORATION_BEHAVIORS:
        raise StripeError(
            400, f"Invalid proration_behavior: {behaviour}", param="proration_behavior"
        )
    if subscription.data["status"] == "canceled":
        raise StripeError(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    before = billing.snapshot(account, subscription)["items"]
    now = _now(call, store.find(account, subscription.data["customer"]))
    start, end = billing._period(account, subscription)
    changes: list[tuple[billing.ItemPlan, billing.ItemPlan]] = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise StripeError(400, "Invalid items", param=f"items[{index}]")
        if raw.get("id"):
            item = store.get(account, raw["id"], "subscription_item", param=f"items[{index}][id]")
            if item.subscription != subscription.id:
                raise no_such("subscription_item", raw["id"], f"items[{index}][id]")
            old = billing.ItemPlan(
                item.id, billing._price(account, item.data["price"]), item.data.get("quantity")
            )
            if raw.get("deleted") in ("true", True):
                changes.append((old, billing.ItemPlan(item.id, old.price, 0)))
                item.delete()
                continue
            if raw.get("price"):
                store.get(account, raw["price"], "price", param=f"items[{index}][price]")
                item.data["price"] = raw["price"]
            if raw.get("quantity") not in (None, ""):
                quantity = params.as_int(raw, "quantity")
                if quantity is None or quantity < 0:
                    raise StripeError(400, "Invalid quantity", param=f"items[{index}][quantity]")
                item.data["quantity"] = quantity
            if "metadata" in raw:
                item.data["metadata"] = params.metadata(item.data["metadata"], raw["metadata"])
            store.save(item)
            new = billing.ItemPlan(
                item.id, billing._price(account, item.data["price"]), item.data.get("quantity")
            )
            changes.append((old, new))
        else:
            if not raw.get("price"):
                raise missing(f"items[{index}][price]")
            price = store.get(account, raw["price"], "price", param=f"items[{index}][price]").data
            metered = (price.get("recurring") or {}).get("usage_type") == "metered"
            item_data = objects.subscription_item(
                iid=store.new_id("si", 14),
                created=now,
                subscription_id=subscription.id,
                price_id=raw["price"],
                quantity=None if metered else params.as_int(raw, "quantity", default=1),
            )
            item_data["current_period_start"], item_data["current_period_end"] = start, end
            store.create(
                account, item_data, customer=subscription.customer, subscription=subscription.id
            )
            changes.append(
                (
                    billing.ItemPlan(None, price, 0),
                    billing.ItemPlan(item_data["id"], price, item_data["quantity"]),
                )
            )
    if not changes:
        return None
    lines = (
        []
        if behaviour == "none"
        else billing.proration_lines(account, subscription, changes, now=now)
    )
    if lines and behaviour == "always_invoice":
        invoice = billing.invoice_create(
            account,
            subscription,
            reason="subscription_update",
            period=(now, end),
            usage_period=None,
            now=now,
            origin=call.origin,
            prorations_only=lines,
        )
        subscription.refresh_from_db()
        billing.invoice_pay(account, invoice, now=now, origin=call.origin)
        subscription.refresh_from_db()
    elif lines:
        subscription.data.setdefault("_pending_prorations", []).extend(lines)
        store.save(subscription)
    return {"items": before}


def _update_subscription(call: Call, subscription: StripeObject, p: dict[str, Any]) -> None:
    previous: dict[str, Any] = {}
    if p.get("items"):
        changed = _change_items(
            call,
            subscription,
            params.as_list(p["items"]),
            p.get("proration_behavior") or "create_prorations",
        )
        if changed:
            previous.update(changed)
    data = subscription.data
    if "metadata" in p:
        previous["metadata"] = data["metadata"]
        data["metadata"] = params.metadata(data["metadata"], p["metadata"])
    if "default_payment_method" in p:
        if p["default_payment_method"]:
            store.get(
                call.account,
                p["default_payment_method"],
                "payment_method",
                param="default_payment_method",
            )
        previous["default_payment_method"] = data["default_payment_method"]
        data["default_payment_method"] = p["default_payment_method"] or None
    store.save(subscription)
    if "cancel_at_period_end" in p:
        services.set_cancel_at_period_end(
            call.account,
            subscription,
            cancel=bool(params.as_bool(p, "cancel_at_period_end")),
            origin=call.origin,
        )
    if previous:
        emit(
            call.account,
            "customer.subscription.updated",
            billing.snapshot(call.account, subscription),
            previous=previous,
            origin=call.origin,
            created=_now(call, store.find(call.account, subscription.data["customer"])),
        )


@route("POST", r"/v1/subscriptions/(?P<id>[^/]+)")
def subscription_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "subscription")
    _update_subscription(call, row, call.params)
    row.refresh_from_db()
    return call.answer(row)


@route("DELETE", r"/v1/subscriptions/(?P<id>[^/]+)")
def subscription_delete(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "subscription")
    if row.data["status"] == "canceled":
        raise StripeError(
            404,
            f"No such subscription: '{row.id}'",
            code="resource_missing",
            param="id",
        )
    billing.subscription_cancel(
        call.account,
        row,
        now=_now(call, store.find(call.account, row.customer)),
        origin=call.origin,
    )
    return call.answer(row)


@route("GET", r"/v1/subscription_items")
def subscription_item_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    subscription = call.required("subscription")
    store.get(call.account, subscription, "subscription", param="subscription")
    return call.listing("subscription_item", subscription=subscription)


@route("GET", r"/v1/subscription_items/(?P<id>[^/]+)")
def subscription_item_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "subscription_item"))


@route("POST", r"/v1/subscription_items/(?P<id>[^/]+)")
def subscription_item_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    item = store.get(call.account, match["id"], "subscription_item")
    subscription = store.get_for_update(call.account, item.subscription, "subscription")
    change = {k: v for k, v in call.params.items() if k in ("price", "quantity", "metadata")}
    update: dict[str, Any] = {"items": [{"id": item.id, **change}]}
    if call.params.get("proration_behavior"):
        update["proration_behavior"] = call.params["proration_behavior"]
    _update_subscription(call, subscription, update)
    return call.answer(store.get(call.account, item.id, "subscription_item"))


# --- invoices -----------------------------------------------------------------------------------


@route("GET", r"/v1/invoices")
def invoice_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    filters = {k: p[k] for k in ("customer", "subscription") if p.get(k)}
    if p.get("status"):
        rows = StripeObject.objects.filter(account=call.account, kind="invoice", **filters)
        found = [
            call.answer_in_list(r) for r in rows.order_by("-seq") if r.data["status"] == p["status"]
        ]
        return call.list_of(found[: params.as_int(p, "limit", default=10) or 10])
    return call.listing("invoice", **filters)


def _preview(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    customer_id = p.get("customer")
    subscription_id = p.get("subscription")
    if not subscription_id and customer_id:
        live = [
            r
            for r in StripeObject.objects.filter(
                account=call.account, kind="subscription", customer=customer_id
            )
            if r.data["status"] in billing.LIVE_STATUSES
        ]
        subscription_id = live[0].id if live else None
    if not subscription_id:
        if not customer_id:
            raise missing("customer")
        raise StripeError(
            404,
            f"No upcoming invoices for customer: {customer_id}",
            code="invoice_upcoming_none",
        )
    subscription = store.get(call.account, subscription_id, "subscription", param="subscription")
    if subscription.data["status"] == "canceled" or subscription.data["cancel_at_period_end"]:
        raise StripeError(
            404,
            f"No upcoming invoices for customer: {subscription.customer}",
            code="invoice_upcoming_none",
        )
    details = p.get("subscription_details") or {}
    overrides = params.as_list(details.get("items") or p.get("subscription_items"))
    preview = billing.preview_invoice(call.account, subscription, overrides=overrides)
    shown: dict[str, Any] = render.versioned(
        render.expand(call.account, preview, call.expand), call.version
    )
    return shown


@route("POST", r"/v1/invoices/create_preview")
def invoice_create_preview(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return _preview(call, call.params)


@route("GET", r"/v1/invoices/upcoming")
def invoice_upcoming(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return _preview(call, call.params)


@route("GET", r"/v1/invoices/(?P<id>in_[^/]+)")
def invoice_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "invoice"))


@route("GET", r"/v1/invoices/(?P<id>in_[^/]+)/lines")
def invoice_lines(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get(call.account, match["id"], "invoice")
    return call.list_of(store.public(row.data["lines"]["data"]))


@route("POST", r"/v1/invoices/(?P<id>in_[^/]+)/pay")
def invoice_pay(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "invoice")
    if row.data["status"] != "open":
        raise StripeError(
            400,
            "Invoice is already paid"
            if row.data["status"] == "paid"
            else "This invoice can no longer be paid.",
            code="invoice_not_editable" if False else None,
        )
    pm = None
    if call.params.get("payment_method"):
        pm = store.get(
            call.account, call.params["payment_method"], "payment_method", param="payment_method"
        )
    customer = store.find(call.account, row.customer)
    if not billing.invoice_pay(
        call.account, row, now=_now(call, customer), origin=call.origin, payment_method=pm
    ):
        raise billing.CardError("Your card was declined.")
    return call.answer(row)


# --- usage --------------------------------------------------------------------------------------


@route("POST", r"/v1/billing/meters")
def meter_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    call.required("display_name")
    event_name = call.required("event_name")
    if any(
        r.data["event_name"] == event_name
        for r in StripeObject.objects.filter(account=call.account, kind="billing.meter")
    ):
        raise StripeError(
            400, f"A meter with event_name {event_name} already exists.", param="event_name"
        )
    data = objects.meter(
        mid=store.new_id("mtr"), created=clock.account_now(call.account), params=call.params
    )
    return call.answer(store.create(call.account, data))


@route("GET", r"/v1/billing/meters")
def meter_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.listing("billing.meter")


@route("GET", r"/v1/billing/meters/(?P<id>[^/]+)")
def meter_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "billing.meter"))


@route("POST", r"/v1/billing/meter_events")
def meter_event_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    event_name = call.required("event_name")
    payload = call.params.get("payload")
    if not isinstance(payload, dict):
        raise missing("payload")
    meters = [
        r
        for r in StripeObject.objects.filter(account=call.account, kind="billing.meter")
        if r.data["event_name"] == event_name
    ]
    key_name = (
        meters[0].data["customer_mapping"]["event_payload_key"] if meters else "stripe_customer_id"
    )
    value_name = meters[0].data["value_settings"]["event_payload_key"] if meters else "value"
    customer_id = payload.get(key_name)
    if not customer_id:
        raise missing(f"payload[{key_name}]")
    customer = store.get(call.account, customer_id, "customer", param=f"payload[{key_name}]")
    try:
        int(float(payload.get(value_name, "")))
    except ValueError:
        raise StripeError(
            400, f"payload[{value_name}] must be a number.", param=f"payload[{value_name}]"
        ) from None
    identifier = call.params.get("identifier") or store.new_id("mev", 20)[4:]
    row_id = f"mev_{call.account.pk}_{identifier}"
    if store.find(call.account, row_id):
        raise StripeError(
            400, f"An event already exists with identifier {identifier}.", param="identifier"
        )
    now = _now(call, customer)
    data = objects.meter_event(
        created=now,
        event_name=event_name,
        identifier=identifier,
        payload={str(k): str(v) for k, v in payload.items()},
        timestamp=params.as_int(call.params, "timestamp", default=now) or now,
    )
    StripeObject.objects.create(
        account=call.account,
        id=row_id,
        kind="billing.meter_event",
        created=now,
        customer=customer.id,
        seq=time.time_ns(),
        data=data,
    )
    return data


# --- webhook endpoints, events, test clocks -----------------------------------------------------


@route("POST", r"/v1/webhook_endpoints")
def webhook_endpoint_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    url = call.required("url")
    events = [str(e) for e in params.as_list(call.params.get("enabled_events"))]
    if not events:
        raise missing("enabled_events")
    row, secret = services.webhook_endpoint_create(
        call.account,
        url=url,
        events=events,
        api_version=call.params.get("api_version") or None,
        description=call.params.get("description") or None,
    )
    return {**call.answer(row), "secret": secret}


@route("GET", r"/v1/webhook_endpoints")
def webhook_endpoint_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.listing("webhook_endpoint")


@route("GET", r"/v1/webhook_endpoints/(?P<id>[^/]+)")
def webhook_endpoint_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "webhook_endpoint"))


@route("POST", r"/v1/webhook_endpoints/(?P<id>[^/]+)")
def webhook_endpoint_update(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "webhook_endpoint")
    p = call.params
    if p.get("url"):
        row.data["url"] = p["url"]
    if p.get("enabled_events"):
        row.data["enabled_events"] = [str(e) for e in params.as_list(p["enabled_events"])]
    if "disabled" in p:
        row.data["status"] = "disabled" if params.as_bool(p, "disabled") else "enabled"
    if "description" in p:
        row.data["description"] = p["description"] or None
    store.save(row)
    return call.answer(row)


@route("DELETE", r"/v1/webhook_endpoints/(?P<id>[^/]+)")
def webhook_endpoint_delete(call: Call, match: re.Match[str]) -> dict[str, Any]:
    store.get(call.account, match["id"], "webhook_endpoint").delete()
    return {"id": match["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", r"/v1/events")
def event_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    p = call.params
    types = [str(t) for t in params.as_list(p.get("types"))] + (
        [p["type"]] if p.get("type") else []
    )
    if types:
        rows = StripeObject.objects.filter(account=call.account, kind="event").order_by("-seq")
        found = [store.public(r.data) for r in rows if _type_matches(r.data["type"], types)]
        return call.list_of(found[: params.as_int(p, "limit", default=10) or 10])
    return call.listing("event")


def _type_matches(event_type: str, patterns: list[str]) -> bool:
    return any(
        event_type == pattern or (pattern.endswith("*") and event_type.startswith(pattern[:-1]))
        for pattern in patterns
    )


@route("GET", r"/v1/events/(?P<id>[^/]+)")
def event_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "event"))


@route("POST", r"/v1/test_helpers/test_clocks")
def test_clock_create(call: Call, match: re.Match[str]) -> dict[str, Any]:
    frozen = params.as_int(call.params, "frozen_time")
    if frozen is None:
        raise missing("frozen_time")
    data = objects.test_clock(
        cid=store.new_id("clock"),
        created=clock.account_now(call.account),
        frozen_time=frozen,
        name=call.params.get("name") or None,
    )
    return call.answer(store.create(call.account, data))


@route("GET", r"/v1/test_helpers/test_clocks")
def test_clock_list(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.listing("test_helpers.test_clock")


@route("GET", r"/v1/test_helpers/test_clocks/(?P<id>[^/]+)")
def test_clock_get(call: Call, match: re.Match[str]) -> dict[str, Any]:
    return call.answer(store.get(call.account, match["id"], "test_helpers.test_clock"))


@route("DELETE", r"/v1/test_helpers/test_clocks/(?P<id>[^/]+)")
def test_clock_delete(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get(call.account, match["id"], "test_helpers.test_clock")
    for customer in StripeObject.objects.filter(account=call.account, kind="customer"):
        if customer.data.get("test_clock") == row.id:
            StripeObject.objects.filter(account=call.account, customer=customer.id).delete()
    row.delete()
    return {"id": match["id"], "object": "test_helpers.test_clock", "deleted": True}


@route("POST", r"/v1/test_helpers/test_clocks/(?P<id>[^/]+)/advance")
def test_clock_advance(call: Call, match: re.Match[str]) -> dict[str, Any]:
    row = store.get_for_update(call.account, match["id"], "test_helpers.test_clock")
    frozen = params.as_int(call.params, "frozen_time")
    if frozen is None:
        raise missing("frozen_time")
    if frozen <= int(row.data["frozen_time"]):
        raise StripeError(
            400,
            "The test clock can only be advanced to a time later than its current frozen time.",
            param="frozen_time",
        )
    # Stripe advances asynchronously ("advancing", then "ready"); here it is done on return.
    billing.advance(call.account, clock_id=row.id, until=frozen)
    row.data["frozen_time"] = frozen
    row.data["status"] = "ready"
    store.save(row)
    return call.answer(row)

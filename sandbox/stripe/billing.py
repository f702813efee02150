"""Stripe Billing's rules, simulated: customers' cards, subscriptions, invoices, payments, renewals.

Rules taken from Stripe's documentation, simplified where the product cannot tell:

* A subscription's first invoice is finalized and charged at once; its status follows the
  payment (``active``), or ``trialing`` with a paid zero invoice while a trial runs.
* At each period's end (and at a trial's end) a renewal invoice is created, finalized and
  charged straight away (Stripe leaves it a draft for about an hour first). A paid invoice sends
  ``invoice.paid`` and ``invoice.payment_succeeded``; a failed one ``invoice.payment_failed``,
  the subscription becomes ``past_due`` and the charge is retried on :data:`RETRY_DAYS` (days
  after the first failure: Smart Retries' recommended default of 8 tries within 2 weeks, at
  fixed days here). When every try has failed the account's setting decides
  (``after_retries``: cancel the subscription, Stripe's default, or mark it ``unpaid``, or leave
  it ``past_due``). A payment that succeeds (a new card, the hosted invoice page) makes the
  subscription ``active`` again.
* ``invoice.upcoming`` goes out :data:`UPCOMING_DAYS` before a renewal and
  ``customer.subscription.trial_will_end`` three days before a trial ends.
* Quantity or price changes prorate (``proration_behavior=create_prorations``, the default) as
  pending lines on the next invoice, invoice them now (``always_invoice``) or not (``none``).
* Metered prices (``recurring[meter]``) bill in arrears: the renewal invoice charges the meter
  events' sum over the period that just ended.

Test cards (numbers without spaces): 4242 4242 4242 4242 and 5555 5555 5555 4444 succeed;
4000 0000 0000 0002 is declined when entered; 4000 0000 0000 0341 is accepted and pays now, but
every later charge of it fails.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sandbox.stripe import amounts, clock, objects, render, store
from sandbox.stripe.errors import StripeError
from sandbox.stripe.models import StripeAccount, StripeObject
from sandbox.stripe.webhooks import AUTOMATIC, Origin, emit

DAY = 86400
RETRY_DAYS = (1, 3, 5, 7, 9, 11, 14)
UPCOMING_DAYS = 7
TRIAL_WILL_END_DAYS = 3
CARDS = {
    "4242424242424242": "ok",
    "5555555555554444": "ok",
    "4000000000000002": "declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000341": "fails_later",
}
LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid", "incomplete")


class CardError(StripeError):
    def __init__(self, message: str, decline_code: str = "generic_decline") -> None:
        super().__init__(
            402,
            message,
            type="card_error",
            code="card_declined",
            decline_code=decline_code,
        )


def snapshot(account: StripeAccount, row: StripeObject) -> dict[str, Any]:
    """The object as events carry it (the account's API version)."""
    data: dict[str, Any] = render.versioned(render.materialize(account, row), account.api_version)
    return data


def add_months(anchor: int, months: int) -> int:
    start = dt.datetime.fromtimestamp(anchor, tz=dt.UTC)
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _luhn(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


# --- customers and cards ------------------------------------------------------------------------


def customer_create(
    account: StripeAccount,
    *,
    email: str | None,
    name: str | None,
    metadata: dict[str, str],
    test_clock: str | None,
    origin: Origin,
) -> StripeObject:
    if test_clock:
        store.get(account, test_clock, "test_helpers.test_clock", param="test_clock")
    created = clock.clock_time(account, test_clock)
    data = objects.customer(
        cid=store.new_id("cus", 14),
        created=created,
        email=email,
        name=name,
        prefix=store.new_id("x", 8)[2:].upper(),
    )
    data["metadata"] = metadata
    data["test_clock"] = test_clock
    row = store.create(account, data, customer=data["id"])
    emit(account, "customer.created", snapshot(account, row), origin=origin, created=created)
    return row


def card_behaviour(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    if digits in CARDS:
        return CARDS[digits]
    if len(digits) < 13 or not _luhn(digits):
        return "invalid"
    return "ok"


def card_attach(
    account: StripeAccount,
    customer: StripeObject,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    name: str | None,
    origin: Origin,
) -> StripeObject:
    """A card entered on a hosted page, attached to the customer and made its default."""
    now = clock.customer_now(account, customer)
    behaviour = card_check(number, exp_month=exp_month, exp_year=exp_year, now=now)
    digits = "".join(c for c in number if c.isdigit())
    data = objects.payment_method(
        pid=store.new_id("pm"),
        created=now,
        number=digits,
        exp_month=exp_month,
        exp_year=exp_year,
        name=name,
    )
    data["customer"] = customer.id
    data["_behaviour"] = behaviour
    row = store.create(account, data, customer=customer.id)
    emit(account, "payment_method.attached", snapshot(account, row), origin=origin, created=now)
    previous = customer.data["invoice_settings"]["default_payment_method"]
    customer.data["invoice_settings"]["default_payment_method"] = row.id
    store.save(customer)
    emit(
        account,
        "customer.updated",
        snapshot(account, customer),
        previous={"invoice_settings": {"default_payment_method": previous}},
        origin=origin,
        created=now,
    )
    return row


def card_check(number: str, *, exp_month: int, exp_year: int, now: int) -> str:
    """The test card's behaviour once accepted; raises the card error a bad one gets."""
    behaviour = card_behaviour(number)
    if behaviour == "invalid":
        raise StripeError(
            402,
            "Your card number is incorrect.",
            type="card_error",
            code="incorrect_number",
            param="number",
        )
    if behaviour == "declined":
        raise CardError("Your card was declined.")
    if behaviour == "insufficient_funds":
        raise CardError("Your card has insufficient funds.", "insufficient_funds")
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    if not 1 <= exp_month <= 12 or (exp_year, exp_month) < (today.year, today.month):
        raise StripeError(
            402,
            "Your card's expiration date is incorrect or in the past.",
            type="card_error",
            code="invalid_expiry_month",
            param="exp_month",
        )
    return behaviour


def _payment_method(account: StripeAccount, subscription: StripeObject) -> StripeObject | None:
    pm_id = subscription.data.get("default_payment_method")
    if not pm_id:
        customer = store.find(account, subscription.data["customer"])
        pm_id = customer.data["invoice_settings"]["default_payment_method"] if customer else None
    return store.find(account, pm_id) if pm_id else None


# --- prices and invoices ------------------------------------------------------------------------


def _price(account: StripeAccount, price_id: str) -> dict[str, Any]:
    return dict(store.get(account, price_id, "price", param="price").data)


def _product_name(account: StripeAccount, product_id: str) -> str:
    row = store.find(account, product_id)
    return str(row.data.get("name")) if row else product_id


def _money(amount: int, currency: str) -> str:
    symbol = {"gbp": "£", "usd": "$", "eur": "€"}.get(currency, "")
    return f"{symbol}{amount / 100:,.2f}" if symbol else f"{amount / 100:,.2f} {currency.upper()}"


def describe(account: StripeAccount, price: dict[str, Any], quantity: int | None) -> str:
    name = _product_name(account, price["product"])
    if price.get("billing_scheme") == "tiered" or price.get("unit_amount") is None:
        return f"{quantity or 0} x {name} (tiered)"
    interval = (price.get("recurring") or {}).get("interval", "month")
    unit = _money(int(price["unit_amount"]), price["currency"])
    return f"{quantity or 0} x {name} (at {unit} / {interval})"


def usage(
    account: StripeAccount, price: dict[str, Any], customer_id: str, start: int, end: int
) -> int:
    """The meter's sum for the customer over ``[start, end)``."""
    meter_id = (price.get("recurring") or {}).get("meter")
    meter = store.find(account, meter_id) if meter_id else None
    if meter is None:
        return 0
    total = 0
    events = StripeObject.objects.filter(
        account=account, kind="billing.meter_event", customer=customer_id
    )
    for row in events:
        data = row.data
        if data["event_name"] == meter.data["event_name"] and start <= data["timestamp"] < end:
            key = meter.data["value_settings"]["event_payload_key"]
            total += int(float(data["payload"].get(key) or 0))
    return total


def _is_metered(price: dict[str, Any]) -> bool:
    return (price.get("recurring") or {}).get("usage_type") == "metered"


@dataclass(frozen=True)
class ItemPlan:
    """A subscription item as an invoice sees it (a preview may override quantity or price)."""

    item_id: str | None
    price: dict[str, Any]
    quantity: int | None


def item_plans(account: StripeAccount, subscription: StripeObject) -> list[ItemPlan]:
    return [
        ItemPlan(row.id, _price(account, row.data["price"]), row.data.get("quantity"))
        for row in render.item_rows(account, subscription.id)
    ]


def invoice_lines(
    account: StripeAccount,
    subscription: StripeObject,
    plans: list[ItemPlan],
    *,
    period: tuple[int, int],
    usage_period: tuple[int, int] | None,
    invoice_id: str | None,
    line_prefix: str = "il",
) -> list[dict[str, Any]]:
    customer_id = subscription.data["customer"]
    lines = []
    for plan in plans:
        price = plan.price
        if _is_metered(price):
            if usage_period is None:
                continue
            quantity = usage(account, price, customer_id, *usage_period)
            line_period = usage_period
        else:
            quantity = plan.quantity or 0
            line_period = period
        amount = amounts.amount_for(price, quantity)
        lines.append(
            objects.invoice_line(
                lid=store.new_id(line_prefix),
                invoice_id=invoice_id,
                amount=amount,
                currency=price["currency"],
                description=describe(account, price, quantity),
                period=line_period,
                quantity=quantity,
                price_data=price,
                subscription_id=subscription.id,
                item_id=plan.item_id,
                proration=False,
            )
        )
    for pending in subscription.data.get("_pending_prorations", []):
        lines.append({**pending, "invoice": invoice_id})
    return lines


def _set_totals(data: dict[str, Any]) -> None:
    total = sum(int(line["amount"]) for line in data["lines"]["data"])
    data["subtotal"] = data["subtotal_excluding_tax"] = total
    data["total"] = data["total_excluding_tax"] = total
    data["amount_due"] = total
    data["amount_remaining"] = total - int(data["amount_paid"])


def _hosted_url(invoice_id: str) -> str:
    from django.conf import settings

    return f"{settings.SANDBOX_BASE_URL}/sandbox/stripe/invoices/{invoice_id}/"


def invoice_create(
    account: StripeAccount,
    subscription: StripeObject,
    *,
    reason: str,
    period: tuple[int, int],
    usage_period: tuple[int, int] | None,
    now: int,
    origin: Origin,
    plans: list[ItemPlan] | None = None,
    prorations_only: list[dict[str, Any]] | None = None,
) -> StripeObject:
    """A finalized invoice for the subscription (``invoice.created``, ``invoice.finalized``)."""
    customer = store.get(account, subscription.data["customer"], "customer")
    invoice_id = store.new_id("in")
    data = objects.invoice(
        iid=invoice_id,
        created=now,
        customer_data=customer.data,
        subscription_id=subscription.id,
        currency=subscription.data["currency"],
        billing_reason=reason,
        period_start=period[0],
        period_end=period[1],
        hosted_url=None,
    )
    data["parent"]["subscription_details"]["metadata"] = dict(subscription.data["metadata"])
    if prorations_only is not None:
        lines = [{**line, "invoice": invoice_id} for line in prorations_only]
    else:
        lines = invoice_lines(
            account,
            subscription,
            plans if plans is not None else item_plans(account, subscription),
            period=period,
            usage_period=usage_period,
            invoice_id=invoice_id,
        )
        subscription.data["_pending_prorations"] = []
    data["lines"]["data"] = lines
    _set_totals(data)
    row = store.create(account, data, customer=customer.id, subscription=subscription.id)
    emit(account, "invoice.created", snapshot(account, row), origin=origin, created=now)
    sequence = int(customer.data["next_invoice_sequence"])
    customer.data["next_invoice_sequence"] = sequence + 1
    store.save(customer)
    data["number"] = f"{customer.data['invoice_prefix']}-{sequence:04d}"
    data["status"] = "open"
    data["effective_at"] = now
    data["status_transitions"]["finalized_at"] = now
    data["hosted_invoice_url"] = _hosted_url(invoice_id)
    store.save(row)
    emit(account, "invoice.finalized", snapshot(account, row), origin=origin, created=now)
    previous = subscription.data.get("latest_invoice")
    subscription.data["latest_invoice"] = invoice_id
    store.save(subscription)
    if previous != invoice_id and reason != "subscription_create":
        _subscription_updated(
            account, subscription, {"latest_invoice": previous}, origin=origin, now=now
        )
    return row


def _subscription_updated(
    account: StripeAccount,
    subscription: StripeObject,
    previous: dict[str, Any],
    *,
    origin: Origin,
    now: int,
) -> None:
    emit(
        account,
        "customer.subscription.updated",
        snapshot(account, subscription),
        previous=previous,
        origin=origin,
        created=now,
    )


def _set_status(
    account: StripeAccount, subscription: StripeObject, status: str, *, origin: Origin, now: int
) -> None:
    previous = subscription.data["status"]
    if previous == status:
        return
    subscription.data["status"] = status
    store.save(subscription)
    _subscription_updated(account, subscription, {"status": previous}, origin=origin, now=now)


def invoice_pay(
    account: StripeAccount,
    invoice: StripeObject,
    *,
    now: int,
    origin: Origin,
    payment_method: StripeObject | None = None,
    first: bool = False,
) -> bool:
    """One payment attempt of an open invoice; the subscription's status follows."""
    data = invoice.data
    if data["status"] != "open":
        return bool(data["status"] == "paid")
    subscription = store.find(account, invoice.subscription) if invoice.subscription else None
    if payment_method is None and subscription is not None:
        payment_method = _payment_method(account, subscription)
    behaviour = payment_method.data.get("_behaviour") if payment_method else None
    amount = int(data["amount_remaining"])
    succeeded = amount <= 0 or behaviour == "ok" or (first and behaviour == "fails_later")
    data["attempted"] = amount > 0 or data["attempted"]
    if amount > 0:
        data["attempt_count"] = int(data["attempt_count"]) + 1
    customer = store.get(account, data["customer"], "customer")
    if succeeded:
        data["status"] = "paid"
        data["amount_paid"] = int(data["amount_paid"]) + max(amount, 0)
        data["amount_remaining"] = 0
        data["next_payment_attempt"] = None
        data["status_transitions"]["paid_at"] = now
        data["auto_advance"] = False
        if payment_method is not None:
            data["default_payment_method"] = None
        store.save(invoice)
        emit(account, "invoice.paid", snapshot(account, invoice), origin=origin, created=now)
        emit(
            account,
            "invoice.payment_succeeded",
            snapshot(account, invoice),
            origin=origin,
            created=now,
        )
        if customer.data["delinquent"]:
            customer.data["delinquent"] = False
            store.save(customer)
        if subscription is not None and subscription.data["status"] in (
            "past_due",
            "unpaid",
            "incomplete",
        ):
            _set_status(account, subscription, "active", origin=origin, now=now)
        return True
    tries = int(data["attempt_count"])
    if tries == 1:
        data["_first_failure"] = now
    first_failure = int(data.get("_first_failure") or now)
    data["next_payment_attempt"] = (
        first_failure + RETRY_DAYS[tries - 1] * DAY if tries - 1 < len(RETRY_DAYS) else None
    )
    store.save(invoice)
    emit(account, "invoice.payment_failed", snapshot(account, invoice), origin=origin, created=now)
    if not customer.data["delinquent"]:
        customer.data["delinquent"] = True
        store.save(customer)
    if subscription is None:
        return False
    if subscription.data["status"] in ("active", "trialing"):
        _set_status(account, subscription, "past_due", origin=origin, now=now)
    if data["next_payment_attempt"] is None and subscription.data["status"] == "past_due":
        if account.after_retries == StripeAccount.AfterRetries.CANCEL:
            subscription_cancel(
                account, subscription, now=now, origin=origin, reason="payment_failed"
            )
        elif account.after_retries == StripeAccount.AfterRetries.UNPAID:
            _set_status(account, subscription, "unpaid", origin=origin, now=now)
    return False


def pay_open_invoices(
    account: StripeAccount, customer_id: str, *, now: int, origin: Origin
) -> None:
    """After a new card: open invoices of the customer are charged again at once."""
    rows = StripeObject.objects.filter(account=account, kind="invoice", customer=customer_id)
    for row in rows.order_by("seq"):
        if row.data["status"] == "open":
            invoice_pay(account, row, now=now, origin=origin)


# --- subscriptions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    price_id: str
    quantity: int | None


def _set_item_periods(
    account: StripeAccount, subscription: StripeObject, start: int, end: int
) -> None:
    for row in render.item_rows(account, subscription.id):
        row.data["current_period_start"] = start
        row.data["current_period_end"] = end
        store.save(row)


def subscription_create(
    account: StripeAccount,
    customer: StripeObject,
    *,
    items: list[NewItem],
    trial_end: int | None,
    metadata: dict[str, str],
    payment_method: StripeObject | None,
    origin: Origin,
) -> StripeObject:
    now = clock.customer_now(account, customer)
    currencies = {_price(account, item.price_id)["currency"] for item in items}
    if len(currencies) != 1:
        raise StripeError(400, "All prices on a subscription must have the same currency.")
    data = objects.subscription(
        sid=store.new_id("sub"),
        created=now,
        customer_id=customer.id,
        currency=currencies.pop(),
        anchor=trial_end or now,
    )
    data["metadata"] = metadata
    data["test_clock"] = customer.data.get("test_clock")
    data["default_payment_method"] = payment_method.id if payment_method else None
    # Periods since the anchor: the first one ends a month after it (or when the trial ends).
    data["_period_index"] = 0 if trial_end else 1
    end = trial_end if trial_end else add_months(now, 1)
    if trial_end:
        data["status"] = "trialing"
        data["trial_start"] = now
        data["trial_end"] = trial_end
    row = store.create(account, data, customer=customer.id, subscription=data["id"])
    for item in items:
        price = _price(account, item.price_id)
        if not price.get("recurring"):
            raise StripeError(
                400,
                "The price specified is set to `type=one_time` but this field only accepts "
                "prices with `type=recurring`.",
                param="price",
            )
        item_data = objects.subscription_item(
            iid=store.new_id("si", 14),
            created=now,
            subscription_id=row.id,
            price_id=item.price_id,
            quantity=None if _is_metered(price) else (item.quantity or 1),
        )
        store.create(account, item_data, customer=customer.id, subscription=row.id)
    _set_item_periods(account, row, now, end)
    emit(
        account, "customer.subscription.created", snapshot(account, row), origin=origin, created=now
    )
    invoice = invoice_create(
        account,
        row,
        reason="subscription_create",
        period=(now, end),
        usage_period=None,
        now=now,
        origin=origin,
        plans=(
            [ItemPlan(p.item_id, p.price, 0) for p in item_plans(account, row)]
            if trial_end
            else None
        ),
    )
    paid = invoice_pay(account, invoice, now=now, origin=origin, first=True)
    row.refresh_from_db()
    if not trial_end:
        _set_status(account, row, "active" if paid else "incomplete", origin=origin, now=now)
    return row


def subscription_cancel(
    account: StripeAccount,
    subscription: StripeObject,
    *,
    now: int,
    origin: Origin,
    reason: str = "cancellation_requested",
) -> None:
    data = subscription.data
    if data["status"] == "canceled":
        return
    data["status"] = "canceled"
    data["canceled_at"] = data.get("canceled_at") or now
    data["ended_at"] = now
    data["cancel_at_period_end"] = False
    data["cancellation_details"]["reason"] = reason
    store.save(subscription)
    emit(
        account,
        "customer.subscription.deleted",
        snapshot(account, subscription),
        origin=origin,
        created=now,
    )


def proration_lines(
    account: StripeAccount,
    subscription: StripeObject,
    changes: list[tuple[ItemPlan, ItemPlan]],
    *,
    now: int,
) -> list[dict[str, Any]]:
    """Credit for the old item's unused time and a charge for the new one's, per change."""
    items = render.item_rows(account, subscription.id)
    if not items or subscription.data["status"] == "trialing":
        return []
    start = int(items[0].data["current_period_start"])
    end = int(items[0].data["current_period_end"])
    remaining, period = max(end - now, 0), end - start
    lines = []
    for old, new in changes:
        for plan, sign, word in ((old, -1, "Unused time on"), (new, 1, "Remaining time on")):
            if _is_metered(plan.price):
                continue
            full = amounts.amount_for(plan.price, plan.quantity or 0)
            amount = sign * amounts.prorate(full, remaining=remaining, period=period)
            if amount == 0:
                continue
            line = objects.invoice_line(
                lid=store.new_id("il"),
                invoice_id=None,
                amount=amount,
                currency=plan.price["currency"],
                description=f"{word} {describe(account, plan.price, plan.quantity)}",
                period=(now, end),
                quantity=plan.quantity,
                price_data=plan.price,
                subscription_id=subscription.id,
                item_id=plan.item_id,
                proration=True,
            )
            lines.append(line)
    return lines


# --- time ---------------------------------------------------------------------------------------


def _period(account: StripeAccount, subscription: StripeObject) -> tuple[int, int]:
    items = render.item_rows(account, subscription.id)
    if not items:
        return int(subscription.data["created"]), int(subscription.data["created"])
    return int(items[0].data["current_period_start"]), int(items[0].data["current_period_end"])


def _next_moment(account: StripeAccount, subscription: StripeObject) -> tuple[int, str] | None:
    data = subscription.data
    if data["status"] not in LIVE_STATUSES:
        return None
    start, end = _period(account, subscription)
    moments: list[tuple[int, str]] = [(end, "renew")]
    if data["status"] == "trialing" and not data.get("_trial_will_end_sent"):
        moments.append((end - TRIAL_WILL_END_DAYS * DAY, "trial_will_end"))
    if (
        data.get("_upcoming_sent_for") != end
        and data["status"] != "trialing"
        and not data["cancel_at_period_end"]
    ):
        moments.append((max(end - UPCOMING_DAYS * DAY, start), "upcoming"))
    invoices = StripeObject.objects.filter(
        account=account, kind="invoice", subscription=subscription.id
    )
    for row in invoices:
        retry = row.data.get("next_payment_attempt")
        if row.data["status"] == "open" and retry:
            moments.append((int(retry), f"retry:{row.id}"))
    return min(moments)


def _customers_on(account: StripeAccount, clock_id: str | None) -> list[str]:
    rows = StripeObject.objects.filter(account=account, kind="customer")
    return [row.id for row in rows if row.data.get("test_clock") == clock_id]


def advance(account: StripeAccount, *, clock_id: str | None, until: int) -> int:
    """Run every renewal, retry and notice due up to ``until`` for the customers on the clock
    (``None``: customers without a test clock), in time order. Returns how many ran."""
    customers = _customers_on(account, clock_id)
    for done in range(10_000):
        due: list[tuple[int, str, StripeObject]] = []
        subscriptions = StripeObject.objects.filter(
            account=account, kind="subscription", customer__in=customers
        )
        for subscription in subscriptions:
            moment = _next_moment(account, subscription)
            if moment and moment[0] <= until:
                due.append((moment[0], moment[1], subscription))
        if not due:
            return done
        when, action, subscription = min(due, key=lambda d: (d[0], d[2].seq))
        _run(account, subscription, when, action)
    raise RuntimeError("sandbox Stripe: too many renewals in one advance")


def _run(account: StripeAccount, subscription: StripeObject, when: int, action: str) -> None:
    data = subscription.data
    if action == "trial_will_end":
        data["_trial_will_end_sent"] = True
        store.save(subscription)
        emit(
            account,
            "customer.subscription.trial_will_end",
            snapshot(account, subscription),
            created=when,
        )
    elif action == "upcoming":
        data["_upcoming_sent_for"] = _period(account, subscription)[1]
        store.save(subscription)
        preview = preview_invoice(account, subscription, overrides=None)
        emit(account, "invoice.upcoming", preview, created=when)
    elif action.startswith("retry:"):
        invoice = store.get(account, action.split(":", 1)[1], "invoice")
        invoice_pay(account, invoice, now=when, origin=AUTOMATIC)
    else:
        _renew(account, subscription, when)


def _renew(account: StripeAccount, subscription: StripeObject, when: int) -> None:
    data = subscription.data
    if data["cancel_at_period_end"]:
        subscription_cancel(account, subscription, now=when, origin=AUTOMATIC)
        return
    old_start, old_end = _period(account, subscription)
    trial_ending = data["status"] == "trialing"
    if trial_ending:
        data["billing_cycle_anchor"] = when
        data["_period_index"] = 0
    data["_period_index"] = int(data["_period_index"]) + 1
    end = add_months(int(data["billing_cycle_anchor"]), int(data["_period_index"]))
    store.save(subscription)
    _set_item_periods(account, subscription, when, end)
    if trial_ending:
        data["status"] = "active"
        store.save(subscription)
        _subscription_updated(
            account, subscription, {"status": "trialing"}, origin=AUTOMATIC, now=when
        )
    invoice = invoice_create(
        account,
        subscription,
        reason="subscription_cycle",
        period=(when, end),
        usage_period=None if trial_ending else (old_start, old_end),
        now=when,
        origin=AUTOMATIC,
    )
    subscription.refresh_from_db()
    if subscription.data["status"] == "unpaid":
        return  # Stripe finalizes unpaid subscriptions' invoices but does not charge them.
    invoice_pay(account, invoice, now=when, origin=AUTOMATIC)


# --- previews -----------------------------------------------------------------------------------


def preview_invoice(
    account: StripeAccount,
    subscription: StripeObject,
    *,
    overrides: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The next renewal's invoice, as ``create_preview`` shows it (nothing is stored)."""
    plans = item_plans(account, subscription)
    for override in overrides or []:
        item_id = override.get("id")
        match = next((p for p in plans if item_id and p.item_id == item_id), None)
        if override.get("deleted") in ("true", True) and match:
            plans.remove(match)
            continue
        price = _price(account, override["price"]) if override.get("price") else None
        quantity = int(override["quantity"]) if override.get("quantity") not in (None, "") else None
        if match:
            plans[plans.index(match)] = ItemPlan(
                match.item_id,
                price or match.price,
                quantity if quantity is not None else match.quantity,
            )
        elif price:
            plans.append(ItemPlan(None, price, quantity or 1))
    start, end = _period(account, subscription)
    trialing = subscription.data["status"] == "trialing"
    next_end = add_months(end, 1)
    customer = store.get(account, subscription.data["customer"], "customer")
    preview_id = f"upcoming_{store.new_id('in')}"
    data = objects.invoice(
        iid=preview_id,
        created=end,
        customer_data=customer.data,
        subscription_id=subscription.id,
        currency=subscription.data["currency"],
        billing_reason="upcoming",
        period_start=end,
        period_end=next_end,
        hosted_url=None,
    )
    data["lines"]["data"] = invoice_lines(
        account,
        subscription,
        plans,
        period=(end, next_end),
        usage_period=None if trialing else (start, end),
        invoice_id=preview_id,
        line_prefix="il_tmp",
    )
    data["next_payment_attempt"] = end
    data["lines"]["url"] = f"/v1/invoices/{preview_id}/lines"
    _set_totals(data)
    preview: dict[str, Any] = render.versioned(store.public(data), account.api_version)
    return preview

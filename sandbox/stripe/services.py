"""Service functions other code (the API, the hosted pages, commands, tests) drives Stripe with."""

from __future__ import annotations

from typing import Any

from sandbox.stripe import billing, clock, objects, render, store
from sandbox.stripe.errors import StripeError
from sandbox.stripe.models import StripeAccount, StripeObject
from sandbox.stripe.webhooks import AUTOMATIC, Origin, emit

DEMO_ACCOUNT_NAME = "CarryTheOne (sandbox)"
# Public sandbox credentials, documented in the README: never valid at Stripe.
DEMO_SECRET_KEY = "sk_test_sandbox_carrytheone_0000000000000000"  # noqa: S105
DEMO_WEBHOOK_SECRET = "whsec_sandbox_carrytheone_0000000000000000"  # noqa: S105
# The version events are rendered at (the one stripe-python 16 pins).
DEFAULT_API_VERSION = "2026-10-28.endive"


def demo_account() -> StripeAccount | None:
    return StripeAccount.objects.filter(secret_key=DEMO_SECRET_KEY).first()


def webhook_endpoint_create(
    account: StripeAccount,
    *,
    url: str,
    events: list[str],
    api_version: str | None,
    secret: str | None = None,
    description: str | None = None,
) -> tuple[StripeObject, str]:
    """An endpoint and its signing secret (shown once, on creation, as Stripe does)."""
    data = objects.webhook_endpoint(
        wid=store.new_id("we"),
        created=clock.account_now(account),
        url=url,
        events=events,
        api_version=api_version,
    )
    data["description"] = description
    signing_secret = secret or store.new_id("whsec", 32)
    data["_secret"] = signing_secret
    return store.create(account, data), signing_secret


def checkout_total(session: StripeObject) -> int:
    return int(sum(int(item["amount_total"]) for item in session.data.get("_line_items", [])))


def checkout_complete(
    account: StripeAccount,
    session: StripeObject,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    name: str,
    email: str,
) -> None:
    """The hosted Checkout form's submission: card, customer, subscription, completed event."""
    data = session.data
    if data["status"] != "open":
        raise StripeError(400, "This Checkout Session is no longer active.")
    # A declined card creates nothing: the page shows the error and the session stays open.
    billing.card_check(
        number, exp_month=exp_month, exp_year=exp_year, now=clock.account_now(account)
    )
    customer = (
        store.get(account, data["customer"], "customer")
        if data.get("customer")
        else billing.customer_create(
            account,
            email=email or data.get("customer_email"),
            name=name or None,
            metadata={},
            test_clock=None,
            origin=AUTOMATIC,
        )
    )
    pm = billing.card_attach(
        account,
        customer,
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        name=name or None,
        origin=AUTOMATIC,
    )
    customer.refresh_from_db()
    sub_data = data.get("_subscription_data") or {}
    items = [billing.NewItem(item["price"], item.get("quantity")) for item in data["_line_items"]]
    subscription = billing.subscription_create(
        account,
        customer,
        items=items,
        trial_end=sub_data.get("trial_end"),
        metadata=dict(sub_data.get("metadata") or {}),
        payment_method=pm,
        origin=AUTOMATIC,
    )
    now = clock.customer_now(account, customer)
    data["status"] = "complete"
    data["payment_status"] = "no_payment_required" if sub_data.get("trial_end") else "paid"
    data["customer"] = customer.id
    data["subscription"] = subscription.id
    data["customer_details"] = {
        "address": dict(objects.ADDRESS_NULL),
        "business_name": None,
        "email": customer.data.get("email"),
        "individual_name": None,
        "name": name or customer.data.get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    data["url"] = None
    session.customer = customer.id
    session.subscription = subscription.id
    store.save(session)
    emit(
        account,
        "checkout.session.completed",
        render.versioned(store.public(data), account.api_version),
        created=now,
    )


def portal_change_card(
    account: StripeAccount,
    customer: StripeObject,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    name: str,
) -> StripeObject:
    """A new default card from the portal; open invoices are charged with it straight away."""
    pm = billing.card_attach(
        account,
        customer,
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        name=name or None,
        origin=AUTOMATIC,
    )
    now = clock.customer_now(account, customer)
    for subscription in StripeObject.objects.filter(
        account=account, kind="subscription", customer=customer.id
    ):
        if subscription.data["status"] == "canceled":
            continue
        previous = subscription.data.get("default_payment_method")
        subscription.data["default_payment_method"] = pm.id
        store.save(subscription)
        emit(
            account,
            "customer.subscription.updated",
            billing.snapshot(account, subscription),
            previous={"default_payment_method": previous},
            created=now,
        )
    billing.pay_open_invoices(account, customer.id, now=now, origin=AUTOMATIC)
    return pm


def set_cancel_at_period_end(
    account: StripeAccount, subscription: StripeObject, *, cancel: bool, origin: Origin
) -> None:
    data = subscription.data
    if data["cancel_at_period_end"] == cancel or data["status"] == "canceled":
        return
    now = clock.customer_now(account, store.find(account, data["customer"]))
    previous: dict[str, Any] = {
        "cancel_at_period_end": data["cancel_at_period_end"],
        "cancel_at": data["cancel_at"],
        "canceled_at": data["canceled_at"],
    }
    data["cancel_at_period_end"] = cancel
    period_end = render.item_rows(account, subscription.id)[0].data["current_period_end"]
    data["cancel_at"] = period_end if cancel else None
    data["canceled_at"] = now if cancel else None
    data["cancellation_details"]["reason"] = "cancellation_requested" if cancel else None
    store.save(subscription)
    emit(
        account,
        "customer.subscription.updated",
        billing.snapshot(account, subscription),
        previous=previous,
        origin=origin,
        created=now,
    )


def advance_account(account: StripeAccount, *, days: float) -> int:
    """Moves the account's own clock (customers without a test clock) and runs what fell due."""
    account.clock_offset += int(days * billing.DAY)
    account.save(update_fields=["clock_offset"])
    return billing.advance(account, clock_id=None, until=clock.account_now(account))

"""Subscriptions through Stripe: prices from the plan data, Checkout, the portal, what Stripe
bills kept in step with our own counts, and our state from Stripe's subscription.

Stripe calls go through :mod:`billing.stripe_client`; no database row is locked while one is in
flight (the simulated Stripe, like the real one, may call our webhook before it answers).

The state machine (:func:`subscription_apply`) always takes Stripe's subscription as it is now
(re-read, never the event's snapshot), so events arriving twice or out of order cannot move an
account backwards.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from billing import stripe_client
from billing.models import PaymentFailure, Plan, Subscription
from billing.pricing import band_reached, minor_units, tiers_version
from billing.services import plan_offered
from billing.stripe_client import BillingError, InvoiceInfo, LineItem, SubscriptionInfo
from billing.usage import account_usage

if TYPE_CHECKING:
    from accounts.models import Account

logger = logging.getLogger(__name__)

# Stripe refuses a trial that ends sooner than 48 hours from now; a shorter rest of the trial
# is charged straight away instead (Checkout says so).
MIN_TRIAL_LEFT = dt.timedelta(hours=49)

# Stripe's statuses, as ours. ``incomplete`` (a first payment not made yet) changes nothing.
_STATUSES = {
    "trialing": Subscription.Status.TRIALING,
    "active": Subscription.Status.ACTIVE,
    "past_due": Subscription.Status.PAST_DUE,
    "unpaid": Subscription.Status.UNPAID,
    "paused": Subscription.Status.UNPAID,
    "canceled": Subscription.Status.CANCELED,
    "incomplete_expired": Subscription.Status.CANCELED,
}
FAILING = frozenset(
    {Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.CANCELED}
)


# --- Prices from the plan data -------------------------------------------------------------------


def _product_id(plan: Plan) -> str:
    return f"carrytheone-{plan.code}"


def seats_lookup_key(plan: Plan) -> str:
    return f"{plan.code}-integrations-{tiers_version(plan.prices())}"


def _volume_prefix(plan: Plan) -> str:
    return f"{plan.code}-volume-"


def volume_lookup_key(plan: Plan, *, above: int, monthly_amount: Any) -> str:
    return f"{_volume_prefix(plan)}{above}-{minor_units(monthly_amount)}"


def _band_of(plan: Plan, lookup_key: str) -> int | None:
    """The band's threshold from its price's lookup key (``standard-volume-500-1000``)."""
    if not lookup_key.startswith(_volume_prefix(plan)):
        return None
    above, _, _ = lookup_key.removeprefix(_volume_prefix(plan)).partition("-")
    return int(above) if above.isdigit() else None


def _price_ensure(lookup_key: str, create: Any) -> str:
    return stripe_client.price_find(lookup_key=lookup_key) or create()


def seats_price_ensure(*, plan: Plan) -> str:
    """The plan's tiered, graduated monthly price of integrations, created when missing.

    Its lookup key carries a digest of the tiers: editing them in the admin makes a new price
    (Stripe prices cannot change), used from then on by new subscriptions.
    """
    prices = plan.prices()
    tiers = [
        stripe_client.Tier(up_to=tier.last, unit_amount=minor_units(tier.unit_amount))
        for tier in sorted(prices.tiers, key=lambda t: t.first)
    ]
    key = seats_lookup_key(plan)

    def create() -> str:
        product = stripe_client.product_ensure(product_id=_product_id(plan), name=plan.name)
        return stripe_client.price_create_tiered(
            product_id=product,
            currency=plan.currency,
            lookup_key=key,
            tiers=tiers,
            nickname=f"{plan.name}: integrations",
        )

    return _price_ensure(key, create)


def volume_price_ensure(*, plan: Plan, above: int) -> str:
    band = next(b for b in plan.prices().bands if b.above == above)
    key = volume_lookup_key(plan, above=above, monthly_amount=band.monthly_amount)

    def create() -> str:
        product = stripe_client.product_ensure(product_id=_product_id(plan), name=plan.name)
        return stripe_client.price_create_flat(
            product_id=product,
            currency=plan.currency,
            lookup_key=key,
            unit_amount=minor_units(band.monthly_amount),
            nickname=f"{plan.name}: over {above:,} invoices in 30 days",
        )

    return _price_ensure(key, create)


def _plan_of(subscription: Subscription) -> Plan:
    plan = subscription.plan or plan_offered()
    if plan is None:
        raise BillingError("No plan is on offer at the moment.")
    return plan


def _wanted(account: Account, plan: Plan) -> tuple[int, int | None]:
    """(integrations billed, the volume band's threshold or None), from our own counts."""
    usage = account_usage(account=account)
    band = band_reached(plan.prices(), invoices_30d=usage.invoices_30d)
    return max(1, usage.integrations), (band.above if band else None)


# --- Checkout and the portal ---------------------------------------------------------------------


def _customer_ensure(*, subscription: Subscription, email: str) -> str:
    if subscription.stripe_customer_id:
        return subscription.stripe_customer_id
    account = subscription.account
    customer_id = stripe_client.customer_create(
        email=email, name=account.name, account_id=account.pk
    )
    Subscription.objects.filter(pk=subscription.pk).update(stripe_customer_id=customer_id)
    subscription.stripe_customer_id = customer_id
    return customer_id


def checkout_start(
    *, subscription: Subscription, email: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout session for this account's subscription; returns the URL to send it to.

    The rest of a running trial is kept (Stripe starts charging when it ends).
    """
    plan = _plan_of(subscription)
    quantity, band = _wanted(subscription.account, plan)
    items = [LineItem(seats_price_ensure(plan=plan), quantity)]
    if band is not None:
        items.append(LineItem(volume_price_ensure(plan=plan, above=band), 1))
    trial_end = None
    if subscription.in_trial and subscription.trial_ends_at - timezone.now() >= MIN_TRIAL_LEFT:
        trial_end = subscription.trial_ends_at
    session = stripe_client.checkout_create(
        customer_id=_customer_ensure(subscription=subscription, email=email),
        account_id=subscription.account_id,
        items=items,
        trial_end=trial_end,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    if subscription.plan_id is None:
        Subscription.objects.filter(pk=subscription.pk).update(plan=plan)
    logger.info("checkout started: account=%s session=%s", subscription.account_id, session.id)
    return session.url


def checkout_complete(*, subscription: Subscription, session_id: str) -> bool:
    """Whether the Checkout session (re-read from Stripe, never trusted from a URL) completed
    for this account; if so, our subscription takes Stripe's state. Idempotent: the return URL
    and the webhook may both get here."""
    session = stripe_client.checkout_get(session_id=session_id)
    if session.client_reference_id != str(subscription.account_id):
        logger.warning(
            "checkout session of another account: account=%s session=%s",
            subscription.account_id,
            session_id,
        )
        return False
    if session.status != "complete" or not session.subscription_id:
        return False
    if session.payment_status not in ("paid", "no_payment_required"):
        return False
    info = stripe_client.subscription_get(subscription_id=session.subscription_id)
    subscription_apply(subscription=subscription, info=info)
    return True


def portal_url(*, subscription: Subscription, return_url: str) -> str:
    if not subscription.stripe_customer_id:
        raise BillingError("Subscribe first: there is nothing to manage yet.")
    return stripe_client.portal_create(
        customer_id=subscription.stripe_customer_id, return_url=return_url
    )


# --- Our state from Stripe's -------------------------------------------------------------------


def subscription_apply(
    *, subscription: Subscription, info: SubscriptionInfo, event_created: dt.datetime | None = None
) -> Subscription:
    """Our subscription takes Stripe's state (re-read by the caller). The same state applied
    twice changes nothing."""
    with transaction.atomic():
        row = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if (
            row.stripe_subscription_id
            and row.stripe_subscription_id != info.id
            and info.status == "canceled"
        ):
            # An old subscription's end, after the account subscribed again: not ours now.
            return row
        status = _STATUSES.get(info.status)
        now = timezone.now()
        if status is not None:
            if status in FAILING and row.status not in FAILING:
                row.past_due_since = now
            elif status not in FAILING:
                row.past_due_since = None
                PaymentFailure.objects.filter(subscription=row, resolved_at__isnull=True).update(
                    resolved_at=now
                )
            if status == Subscription.Status.CANCELED:
                row.canceled_at = row.canceled_at or info.canceled_at or now
            else:
                row.canceled_at = None
            if status == Subscription.Status.TRIALING and info.trial_end is not None:
                row.trial_ends_at = info.trial_end
            row.status = status
        row.stripe_subscription_id = info.id
        row.stripe_customer_id = info.customer_id
        row.current_period_end = info.current_period_end
        plan = row.plan or plan_offered()
        row.plan = plan
        if plan is not None:
            seats = next(
                (i for i in info.items if i.lookup_key.startswith(f"{plan.code}-integrations-")),
                info.items[0] if info.items else None,
            )
            volume = next((i for i in info.items if _band_of(plan, i.lookup_key) is not None), None)
            row.stripe_seats_item_id = seats.id if seats else ""
            row.quantity = seats.quantity if seats else 0
            row.stripe_volume_item_id = volume.id if volume else ""
            row.volume_band_above = _band_of(plan, volume.lookup_key) if volume else None
        if event_created is not None:
            row.last_event_created = max(filter(None, (row.last_event_created, event_created)))
        row.save()
    logger.info(
        "subscription applied: account=%s stripe=%s status=%s", row.account_id, info.id, row.status
    )
    subscription.refresh_from_db()
    return row


def subscription_items_sync(*, account_id: int) -> bool:
    """Makes what Stripe bills follow our counts: the integrations switched on (the tiered
    item's quantity) and the volume band (a second item). Calls Stripe only when one differs
    from what it bills; no prorations, a change counts from the next invoice. True if changed."""
    subscription = (
        Subscription.objects.select_related("account", "plan")
        .filter(account_id=account_id)
        .exclude(stripe_subscription_id="")
        .first()
    )
    if subscription is None or subscription.status == Subscription.Status.CANCELED:
        return False
    if not subscription.stripe_seats_item_id:
        return False
    plan = _plan_of(subscription)
    quantity, band = _wanted(subscription.account, plan)
    changes: list[dict[str, Any]] = []
    if quantity != subscription.quantity:
        changes.append({"id": subscription.stripe_seats_item_id, "quantity": quantity})
    if band != subscription.volume_band_above:
        if band is None:
            changes.append({"id": subscription.stripe_volume_item_id, "deleted": True})
        elif subscription.stripe_volume_item_id:
            changes.append(
                {
                    "id": subscription.stripe_volume_item_id,
                    "price": volume_price_ensure(plan=plan, above=band),
                }
            )
        else:
            changes.append({"price": volume_price_ensure(plan=plan, above=band), "quantity": 1})
    if not changes:
        return False
    info = stripe_client.subscription_update_items(
        subscription_id=subscription.stripe_subscription_id, items=changes
    )
    subscription_apply(subscription=subscription, info=info)
    logger.info(
        "subscription items updated: account=%s quantity=%s band=%s", account_id, quantity, band
    )
    return True


def subscriptions_to_sync() -> list[int]:
    """Accounts whose Stripe subscription bills by our counts (for the hourly volume check)."""
    return list(
        Subscription.objects.exclude(stripe_subscription_id="")
        .exclude(status=Subscription.Status.CANCELED)
        .values_list("account_id", flat=True)
    )


# --- What the billing page shows ---------------------------------------------------------------


@dataclass
class Overview:
    next_invoice_at: dt.datetime | None = None
    next_invoice_amount: Any = None
    currency: str = ""
    invoices: list[InvoiceInfo] = field(default_factory=list)
    error: str = ""


def overview(*, subscription: Subscription) -> Overview:
    """The next invoice (Stripe's preview) and past invoices; Stripe being down is a sentence."""
    result = Overview()
    if not subscription.stripe_customer_id:
        return result
    try:
        if (
            subscription.stripe_subscription_id
            and subscription.status != Subscription.Status.CANCELED
        ):
            preview = stripe_client.invoice_preview(
                subscription_id=subscription.stripe_subscription_id
            )
            if preview is not None:
                result.next_invoice_at = preview.next_payment_attempt
                result.next_invoice_amount = preview.amount_due
                result.currency = preview.currency
        result.invoices = stripe_client.invoices_list(customer_id=subscription.stripe_customer_id)
    except BillingError as exc:
        result.error = str(exc)
    return result

"""Billing's rules: the trial, whether syncing is allowed, one trial per business, prices.

Keyword-only service functions. Nothing here imports ``accounts`` at run time
(``accounts.services`` imports this module); accounts are passed in, or named by id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from billing import stripe_client
from billing.models import Plan, PlanTier, Subscription, TrialClaim, VolumeBand
from billing.pricing import Breakdown, breakdown

if TYPE_CHECKING:
    from accounts.models import Account

logger = logging.getLogger(__name__)

# (provider, external id) → the accounts it had a trial under (None: an account deleted since).
TrialClaims = dict[tuple[str, str], set[int | None]]

# What a business's organisation is called, in the messages about its trial.
_ORG_NAMES = {
    TrialClaim.Provider.XERO: "Xero organisation",
    TrialClaim.Provider.SALESFORCE: "Salesforce org",
}


# --- Plans and prices ------------------------------------------------------------------------


def plan_offered() -> Plan | None:
    """The plan on the pricing page and for new subscriptions: the first active one."""
    return (
        Plan.objects.filter(is_active=True)
        .prefetch_related(
            Prefetch("tiers", queryset=PlanTier.objects.order_by("first_integration")),
            Prefetch("volume_bands", queryset=VolumeBand.objects.order_by("above_invoices")),
        )
        .order_by("code")
        .first()
    )


def plan_price(*, plan: Plan, integrations: int, invoices_30d: int) -> Breakdown:
    """The month's price of ``plan`` for this many switched-on integrations and invoices."""
    return breakdown(plan.prices(), integrations=integrations, invoices_30d=invoices_30d)


# --- The trial -------------------------------------------------------------------------------


def subscription_start_trial(*, account: Account) -> Subscription:
    """Starts the free trial of a new account (``TRIAL_DAYS``, 30 by default)."""
    subscription, _ = Subscription.objects.get_or_create(
        account=account,
        defaults={
            "status": Subscription.Status.TRIALING,
            "trial_ends_at": timezone.now() + timedelta(days=settings.TRIAL_DAYS),
            "plan": plan_offered(),
        },
    )
    return subscription


def trial_claim(*, account_id: int, provider: str, external_id: str) -> TrialClaim | None:
    """Records that this account's trial covers the organisation it just connected.

    Only an account in its trial claims: a paying account uses no trial. The first account
    wins; a later one gets the existing claim back (see :func:`subscription_sync_block`).
    """
    if provider not in TrialClaim.Provider.values:
        return None
    subscription = Subscription.objects.filter(account_id=account_id).first()
    if subscription is None or not subscription.in_trial:
        return None
    claim, created = TrialClaim.objects.get_or_create(
        provider=provider, external_id=external_id, defaults={"account_id": account_id}
    )
    if created:
        logger.info("trial claimed: account=%s provider=%s", account_id, provider)
    elif claim.account_id != account_id:
        logger.info(
            "trial already claimed: account=%s provider=%s by=%s",
            account_id,
            provider,
            claim.account_id,
        )
    return claim


def trial_claims(orgs: Iterable[tuple[str, str]]) -> TrialClaims:
    """The accounts (None: deleted since) under which each of ``orgs`` had its trial, in one
    query: beat checks every integration in a trial, and must not ask once per integration."""
    wanted = {(provider, external_id) for provider, external_id in orgs if external_id}
    claims: TrialClaims = {}
    if not wanted:
        return claims
    for provider, external_id, account_id in TrialClaim.objects.filter(
        provider__in={p for p, _ in wanted}, external_id__in={e for _, e in wanted}
    ).values_list("provider", "external_id", "account_id"):
        claims.setdefault((provider, external_id), set()).add(account_id)
    return claims


def _claimed_elsewhere(
    *, account_id: int, orgs: Iterable[tuple[str, str]], claims: TrialClaims | None = None
) -> list[str]:
    """The providers among ``orgs`` whose organisation had its trial under another account
    (or under one deleted since). ``claims``: :func:`trial_claims` of at least these orgs."""
    wanted = {(provider, external_id) for provider, external_id in orgs if external_id}
    if not wanted:
        return []
    if claims is None:
        claims = trial_claims(wanted)
    found = {org for org in wanted if any(a != account_id for a in claims.get(org, ()))}
    return sorted({provider for provider, _external_id in found})


# The panel's one button for a billing pause, by the pause's reason (see health).
SUBSCRIBE = "Subscribe"
UPDATE_CARD = "Update card"
_UPDATE_CARD_HINT = "update the card"


def sync_block_action(*, reason: str) -> str:
    """The button that fixes a billing pause with this reason."""
    return UPDATE_CARD if _UPDATE_CARD_HINT in reason.lower() else SUBSCRIBE


def _day(value: dt.datetime) -> str:
    return value.date().isoformat()


def _trial_ended(subscription: Subscription) -> str:
    return (
        f"The free trial ended on {_day(subscription.trial_ends_at)}; syncing is paused since "
        "then. Subscribe to resume: nothing is lost."
    )


def subscription_sync_block(
    *,
    subscription: Subscription | None,
    orgs: Iterable[tuple[str, str]] = (),
    claims: TrialClaims | None = None,
) -> str:
    """Why the subscription does not allow an integration to sync, for people; empty when it
    does. ``orgs`` are the integration's (provider, external id) pairs: in a trial, an
    organisation that had its free trial under another account needs a subscription;
    ``claims`` are :func:`trial_claims` of them when the caller has them already (beat).

    A failed payment or a cancellation keeps syncing for ``BILLING_GRACE_DAYS`` after it
    happened (``past_due_since``); the text stays the same from poll to poll (no "now" in it).
    """
    if subscription is None:
        return ""  # accounts made before billing existed keep syncing
    status = subscription.status
    if status == Subscription.Status.ACTIVE:
        return ""
    if status == Subscription.Status.TRIALING:
        # With a Stripe subscription, Stripe ends the trial (charging, or failing to) and
        # tells us; until then the subscription stands.
        if subscription.trial_ends_at <= timezone.now() and not subscription.stripe_subscription_id:
            return _trial_ended(subscription)
        elsewhere = _claimed_elsewhere(account_id=subscription.account_id, orgs=orgs, claims=claims)
        return " ".join(
            f"This {_ORG_NAMES[TrialClaim.Provider(provider)]} already had a free trial under "
            "another account; subscribe to sync it."
            for provider in elsewhere
        )
    if status == Subscription.Status.EXPIRED:
        return _trial_ended(subscription)
    since = subscription.past_due_since or subscription.canceled_at
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    if since is not None and timezone.now() < since + grace:
        return ""
    paused = _day(since + grace) if since is not None else "now"
    if status == Subscription.Status.CANCELED:
        ended = subscription.canceled_at or since
        when = _day(ended) if ended is not None else ""
        return (
            f"The subscription was canceled{f' on {when}' if when else ''}; syncing is paused "
            f"since {paused}. Subscribe to resume: nothing is lost."
        )
    failed = f" on {_day(since)}" if since is not None else ""
    return (
        f"The subscription is {subscription.get_status_display().lower()}: the renewal payment "
        f"failed{failed}; syncing is paused since {paused}. Update the card to resume: nothing "
        "is lost."
    )


# --- Closing an account ----------------------------------------------------------------------


def subscription_cancel_for_close(*, account: Account) -> Subscription | None:
    """Ends the account's subscription because the account is being closed.

    The Stripe subscription is canceled now (not at the period's end), so nothing is charged
    again; our row is marked canceled.
    """
    subscription = Subscription.objects.filter(account=account).first()
    if subscription is None:
        return None
    if subscription.stripe_subscription_id and subscription.status != Subscription.Status.CANCELED:
        # Raises BillingError when Stripe cannot be reached: the closing says so and can be
        # tried again, rather than leaving a subscription that keeps charging.
        stripe_client.subscription_cancel(subscription_id=subscription.stripe_subscription_id)
    subscription.status = Subscription.Status.CANCELED
    subscription.canceled_at = timezone.now()
    subscription.save(update_fields=["status", "canceled_at"])
    logger.info("subscription canceled for closing: account=%s", account.pk)
    return subscription

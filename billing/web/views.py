"""Billing pages. HTTP only: prices come from ``billing.services``, counts from ``usage``."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from billing import services, subscriptions, webhooks
from billing.models import Subscription
from billing.pricing import PricingError
from billing.stripe_client import BadSignature, BillingError, NotAnEvent
from billing.tasks import process_stripe_event
from billing.usage import account_usage
from integrations.setup.help import help_for
from integrations.setup.steps import STEPS

logger = logging.getLogger(__name__)

# The worked examples on the pricing page.
EXAMPLE_INTEGRATIONS = (1, 3, 6)


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    plan = services.plan_offered()
    examples = []
    if plan is not None:
        try:
            examples = [
                services.plan_price(plan=plan, integrations=n, invoices_30d=0)
                for n in EXAMPLE_INTEGRATIONS
            ]
        except PricingError:
            examples = []  # a gap in the admin's tiers: the table still shows what is there
    context = {"plan": plan, "examples": examples, "trial_days": settings.TRIAL_DAYS}
    return render(request, "billing/pricing.html", context)


@require_GET
def how_it_works(request: HttpRequest) -> HttpResponse:
    steps = [
        {
            "step": step,
            "options": [help_for(key) for key in step.keys],
        }
        for step in STEPS
    ]
    return render(
        request, "billing/how_it_works.html", {"steps": steps, "trial_days": settings.TRIAL_DAYS}
    )


@require_GET
def faq(request: HttpRequest) -> HttpResponse:
    context = {
        "plan": services.plan_offered(),
        "trial_days": settings.TRIAL_DAYS,
        "retention_days": settings.ACCOUNT_RETENTION_DAYS,
        "reminder_days": settings.TRIAL_REMINDER_DAYS,
    }
    return render(request, "billing/faq.html", context)


def _page_url(request: AccountRequest) -> str:
    return request.build_absolute_uri(
        reverse("billing:page", kwargs={"account_slug": request.account.slug})
    )


def _back(request: AccountRequest) -> HttpResponse:
    return redirect("billing:page", account_slug=request.account.slug)


def _checkout_returned(request: AccountRequest, subscription: Subscription | None) -> None:
    """The Checkout return URL: only the session as Stripe holds it counts, never the URL."""
    session_id = request.GET.get("checkout", "")
    if not session_id or subscription is None:
        return
    try:
        done = subscriptions.checkout_complete(subscription=subscription, session_id=session_id)
    except BillingError as exc:
        messages.error(request, f"The subscription could not be checked: {exc}")
        return
    if done:
        messages.success(request, "Thank you: your subscription is set up.")
    else:
        messages.warning(request, "Checkout was not completed; nothing was charged.")


def _can_subscribe(subscription: Subscription | None) -> bool:
    """Subscribe is offered while nothing is paid for (and no Stripe trial is running)."""
    if subscription is None:
        return True
    if subscription.status in (
        Subscription.Status.ACTIVE,
        Subscription.Status.PAST_DUE,
        Subscription.Status.UNPAID,
    ):
        return False
    return not (subscription.stripe_subscription_id and subscription.in_trial)


@account_view(Role.OWNER)
@require_GET
def billing_page(request: AccountRequest) -> HttpResponse:
    subscription = Subscription.objects.filter(account=request.account).first()
    if "checkout" in request.GET:
        _checkout_returned(request, subscription)
        # The session id is not kept in the address bar (nor in a reload).
        return _back(request)
    plan = (subscription.plan if subscription else None) or services.plan_offered()
    usage = account_usage(account=request.account)
    price = None
    if plan is not None:
        try:
            price = services.plan_price(
                plan=plan, integrations=usage.integrations, invoices_30d=usage.invoices_30d
            )
        except PricingError:
            price = None
    overview = (
        subscriptions.overview(subscription=subscription)
        if subscription is not None and settings.STRIPE_SECRET_KEY
        else subscriptions.Overview()
    )
    failing = subscription is not None and subscription.status in (
        Subscription.Status.PAST_DUE,
        Subscription.Status.UNPAID,
    )
    context = {
        "subscription": subscription,
        "plan": plan,
        "usage": usage,
        "price": price,
        "overview": overview,
        "can_subscribe": _can_subscribe(subscription),
        "can_manage": bool(subscription and subscription.stripe_customer_id),
        "failing": failing,
        "grace_days": settings.BILLING_GRACE_DAYS,
        "sync_block": services.subscription_sync_block(subscription=subscription),
    }
    return render(request, "billing/billing.html", context)


@account_view(Role.OWNER)
@require_POST
def checkout(request: AccountRequest) -> HttpResponse:
    """Sends the owner to Stripe Checkout (303: the browser GETs Stripe's page)."""
    if not settings.STRIPE_SECRET_KEY:
        messages.error(request, "Billing is not configured on this server.")
        return _back(request)
    subscription = services.subscription_start_trial(account=request.account)
    if subscription.is_paid or (subscription.stripe_subscription_id and subscription.in_trial):
        messages.info(request, "This account is subscribed already; manage it under Billing.")
        return _back(request)
    page = _page_url(request)
    try:
        url = subscriptions.checkout_start(
            subscription=subscription,
            email=request.user.email,
            success_url=f"{page}?checkout={{CHECKOUT_SESSION_ID}}",
            cancel_url=page,
        )
    except BillingError as exc:
        messages.error(request, str(exc))
        return _back(request)
    return HttpResponseRedirect(url, status=303)


@account_view(Role.OWNER)
@require_POST
def portal(request: AccountRequest) -> HttpResponse:
    """Stripe's billing portal: the card, invoices, cancelling."""
    subscription = Subscription.objects.filter(account=request.account).first()
    if subscription is None:
        messages.error(request, "Subscribe first: there is nothing to manage yet.")
        return _back(request)
    try:
        url = subscriptions.portal_url(subscription=subscription, return_url=_page_url(request))
    except BillingError as exc:
        messages.error(request, str(exc))
        return _back(request)
    return HttpResponseRedirect(url, status=303)


@csrf_exempt  # Stripe signs the request instead (verified before anything is stored)
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        webhooks.event_receive(
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
            queue=process_stripe_event.delay,
        )
    except NotAnEvent as exc:
        logger.warning("stripe webhook refused: %s", exc)
        return HttpResponse(f"Signed, but {exc}.", status=400, content_type="text/plain")
    except BadSignature as exc:
        logger.warning("stripe webhook refused: %s", exc)
        return HttpResponse("Bad signature.", status=400, content_type="text/plain")
    return HttpResponse("OK", content_type="text/plain")

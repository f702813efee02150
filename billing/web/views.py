"""Billing pages. HTTP only: prices come from ``billing.services``, counts from ``usage``."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from billing import services
from billing.models import Subscription
from billing.pricing import PricingError
from billing.web.usage import account_usage
from integrations.setup.help import help_for
from integrations.setup.steps import STEPS

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


@account_view(Role.OWNER)
@require_GET
def billing_page(request: AccountRequest) -> HttpResponse:
    subscription = Subscription.objects.filter(account=request.account).first()
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
    context = {
        "subscription": subscription,
        "plan": plan,
        "usage": usage,
        "price": price,
        "can_subscribe": subscription is None or not subscription.is_paid,
    }
    return render(request, "billing/billing.html", context)


@account_view(Role.OWNER)
@require_POST
def checkout(request: AccountRequest) -> HttpResponse:
    """Starts a subscription. The Stripe work sends the owner to Stripe Checkout from here."""
    if not settings.STRIPE_SECRET_KEY:
        messages.error(request, "Billing is not configured on this server.")
        return redirect("billing:page", account_slug=request.account.slug)
    messages.error(request, "Subscribing through Stripe is not available yet.")
    return redirect("billing:page", account_slug=request.account.slug)

"""HTTP entry points of the simulated Stripe: the API and the pages a person clicks through
(hosted Checkout, the customer portal, hosted invoices, the sandbox's own dashboard)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sandbox.db import atomic
from sandbox.stripe import api, billing, clock, services, store, webhooks
from sandbox.stripe import render as stripe_render
from sandbox.stripe.errors import StripeError
from sandbox.stripe.forms import AdvanceForm, CardForm, CheckoutForm
from sandbox.stripe.models import StripeAccount, StripeObject, WebhookDelivery


@csrf_exempt
def api_v1(request: HttpRequest, subpath: str) -> HttpResponse:
    return api.serve(request, subpath)


def _object(object_id: str, kind: str) -> StripeObject:
    row = StripeObject.objects.select_related("account").filter(id=object_id, kind=kind).first()
    if row is None:
        raise Http404("No such object")
    return row


def _money(amount: int, currency: str) -> str:
    return billing._money(int(amount), currency)


def _line_rows(account: StripeAccount, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        price = stripe_render.price_json(account, item["price"])
        rows.append(
            {
                "description": item["description"],
                "quantity": item["quantity"],
                "amount": _money(item["amount_total"], item["currency"]),
                "price": billing.describe(account, price, item["quantity"]),
            }
        )
    return rows


@csrf_exempt  # the URL's unguessable id is the capability, as at Stripe
def checkout(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _object(session_id, "checkout.session")
    account, data = session.account, session.data
    form = CheckoutForm(request.POST or None, initial={"email": data.get("customer_email") or ""})
    error = ""
    if request.method == "POST" and data["status"] == "open" and form.is_valid():
        try:
            with atomic():
                locked = store.get_for_update(account, session.id, "checkout.session")
                services.checkout_complete(
                    account, locked, email=form.cleaned_data.get("email") or "", **form.card()
                )
        except StripeError as exc:
            error = exc.message
        else:
            session.refresh_from_db()
            target = str(session.data["success_url"]).replace("{CHECKOUT_SESSION_ID}", session.id)
            return HttpResponseRedirect(target)
    trial_end = (data.get("_subscription_data") or {}).get("trial_end")
    context = {
        "session": data,
        "account": account,
        "lines": _line_rows(account, data.get("_line_items", [])),
        "total": _money(services.checkout_total(session), data["currency"] or "gbp"),
        "due_today": _money(data["amount_total"], data["currency"] or "gbp"),
        "trial_end": trial_end,
        "form": form,
        "error": error,
        "customer": store.find(account, data["customer"]) if data.get("customer") else None,
    }
    status = (
        402 if error else (400 if request.method == "POST" and data["status"] == "open" else 200)
    )
    return render(request, "sandbox_stripe/checkout.html", context, status=status)


def _portal_context(account: StripeAccount, customer: StripeObject) -> dict[str, Any]:
    subscriptions = []
    for row in StripeObject.objects.filter(
        account=account, kind="subscription", customer=customer.id
    ).order_by("-seq"):
        items = stripe_render.item_rows(account, row.id)
        subscriptions.append(
            {
                "data": row.data,
                "items": [
                    {
                        "price": billing.describe(
                            account,
                            stripe_render.price_json(account, i.data["price"]),
                            i.data.get("quantity"),
                        ),
                        "quantity": i.data.get("quantity"),
                    }
                    for i in items
                ],
                "period_end": items[0].data["current_period_end"] if items else None,
            }
        )
    pm_id = customer.data["invoice_settings"]["default_payment_method"]
    pm = store.find(account, pm_id) if pm_id else None
    invoices = [
        {"data": r.data, "amount": _money(r.data["amount_due"], r.data["currency"])}
        for r in StripeObject.objects.filter(
            account=account, kind="invoice", customer=customer.id
        ).order_by("-seq")
    ]
    return {
        "customer": customer.data,
        "subscriptions": subscriptions,
        "card": pm.data["card"] if pm else None,
        "invoices": invoices,
        "now": clock.customer_now(account, customer),
    }


@csrf_exempt  # the URL's unguessable id is the capability, as at Stripe
def portal(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _object(session_id, "billing_portal.session")
    account = session.account
    customer = store.get(account, session.data["customer"], "customer")
    form = CardForm(request.POST if request.POST.get("action") == "card" else None)
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            with atomic():
                if action == "card" and form.is_valid():
                    services.portal_change_card(account, customer, **form.card())
                    messages.success(request, "Your card was updated.")
                elif action in ("cancel", "renew"):
                    subscription = store.get_for_update(
                        account, request.POST.get("subscription", ""), "subscription"
                    )
                    if subscription.customer != customer.id:
                        raise Http404("No such subscription")
                    services.set_cancel_at_period_end(
                        account, subscription, cancel=action == "cancel", origin=webhooks.AUTOMATIC
                    )
                    messages.success(
                        request,
                        "Your subscription will be canceled at the end of the period."
                        if action == "cancel"
                        else "Your subscription will continue.",
                    )
        except StripeError as exc:
            error = exc.message
        else:
            if action != "card" or form.is_valid():
                return redirect("sandbox_stripe:portal", session_id=session_id)
    customer.refresh_from_db()
    context = {
        **_portal_context(account, customer),
        "session": session.data,
        "form": form,
        "error": error,
    }
    return render(request, "sandbox_stripe/portal.html", context, status=402 if error else 200)


@csrf_exempt  # the URL's unguessable id is the capability, as at Stripe
def invoice(request: HttpRequest, invoice_id: str) -> HttpResponse:
    row = _object(invoice_id, "invoice")
    account, data = row.account, row.data
    form = CardForm(request.POST or None)
    error = ""
    if request.method == "POST" and data["status"] == "open" and form.is_valid():
        try:
            with atomic():
                customer = store.get(account, data["customer"], "customer")
                pm = billing.card_attach(
                    account, customer, origin=webhooks.AUTOMATIC, **form.card()
                )
                locked = store.get_for_update(account, row.id, "invoice")
                if not billing.invoice_pay(
                    account,
                    locked,
                    now=clock.customer_now(account, customer),
                    origin=webhooks.AUTOMATIC,
                    payment_method=pm,
                ):
                    raise billing.CardError("Your card was declined.")
        except StripeError as exc:
            error = exc.message
        else:
            return redirect("sandbox_stripe:invoice", invoice_id=invoice_id)
    lines = [
        {
            "description": line["description"],
            "period": line["period"],
            "amount": _money(line["amount"], line["currency"]),
        }
        for line in data["lines"]["data"]
    ]
    context = {
        "invoice": data,
        "lines": lines,
        "total": _money(data["total"], data["currency"]),
        "paid": _money(data["amount_paid"], data["currency"]),
        "due": _money(data["amount_remaining"], data["currency"]),
        "form": form,
        "error": error,
    }
    return render(request, "sandbox_stripe/invoice.html", context, status=402 if error else 200)


def dashboard(request: HttpRequest) -> HttpResponse:
    accounts = []
    for account in StripeAccount.objects.order_by("pk"):
        subs = StripeObject.objects.filter(account=account, kind="subscription").order_by("-seq")[
            :50
        ]
        accounts.append(
            {
                "account": account,
                "now": clock.account_now(account),
                "customers": StripeObject.objects.filter(account=account, kind="customer").order_by(
                    "-seq"
                )[:50],
                "subscriptions": subs,
                "invoices": StripeObject.objects.filter(account=account, kind="invoice").order_by(
                    "-seq"
                )[:50],
                "endpoints": StripeObject.objects.filter(
                    account=account, kind="webhook_endpoint"
                ).order_by("seq"),
                "deliveries": WebhookDelivery.objects.filter(account=account).order_by("-pk")[:50],
            }
        )
    return render(
        request,
        "sandbox_stripe/dashboard.html",
        {
            "accounts": accounts,
            "advance_form": AdvanceForm(),
            "after_retries": StripeAccount.AfterRetries.choices,
        },
    )


@require_POST
def advance(request: HttpRequest) -> HttpResponse:
    account_id = request.POST.get("account", "")
    account = (
        StripeAccount.objects.filter(pk=int(account_id)).first() if account_id.isdigit() else None
    )
    form = AdvanceForm(request.POST)
    if account is None or not form.is_valid():
        messages.error(request, "Choose an account and a number of days.")
        return redirect("sandbox_stripe:dashboard")
    with atomic():
        if request.POST.get("after_retries") in StripeAccount.AfterRetries.values:
            account.after_retries = request.POST["after_retries"]
            account.save(update_fields=["after_retries"])
        ran = services.advance_account(account, days=form.cleaned_data["days"])
    messages.success(
        request,
        f"{account.name}: time moved {form.cleaned_data['days']:g} days; "
        f"{ran} renewals, retries and notices ran.",
    )
    return redirect("sandbox_stripe:dashboard")


@require_POST
def retry_webhooks(request: HttpRequest) -> HttpResponse:
    sent = webhooks.retry_pending(include_failed=True)
    messages.success(request, f"{sent} webhook deliveries succeeded.")
    return redirect("sandbox_stripe:dashboard")

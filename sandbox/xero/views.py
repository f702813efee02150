"""HTTP entry points of the simulated Xero. Thin: the work is in api, oauth and services."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from sandbox.db import atomic
from sandbox.faults import Faults
from sandbox.xero import api, clock, oauth, serialize, webhooks, writes
from sandbox.xero.models import (
    Account,
    Connection,
    Contact,
    CreditNote,
    Invoice,
    Item,
    Payment,
    XeroOrganisation,
)

# --- APIs ------------------------------------------------------------------------------------


@csrf_exempt
def accounting(request: HttpRequest, subpath: str) -> HttpResponse:
    return api.serve(request, subpath)


@csrf_exempt
@require_http_methods(["GET"])
def connections(request: HttpRequest) -> HttpResponse:
    grant = oauth.authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    rows = Connection.objects.filter(grant=grant).select_related("organisation", "grant")
    return JsonResponse([oauth.connection_json(c) for c in rows.order_by("pk")], safe=False)


@csrf_exempt
@require_http_methods(["DELETE"])
def connection_detail(request: HttpRequest, connection_id: uuid.UUID) -> HttpResponse:
    grant = oauth.authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    deleted, _ = Connection.objects.filter(grant=grant, connection_id=connection_id).delete()
    return HttpResponse(status=204 if deleted else 404)


def _oauth_error(exc: oauth.OAuthError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


# Exempt because tests and scripts drive consent with plain HTTP clients, and with DEBUG off the
# CSRF cookie is Secure, which such clients never send back over http. Nothing here is worth
# forging: the simulator has no users, and a forged consent only reaches the simulator.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """The consent page: pick organisations, then allow (code) or deny (access_denied)."""
    params = request.GET if request.method == "GET" else request.POST
    try:
        auth = oauth.check_authorize({k: params.get(k, "") for k in params})
    except oauth.OAuthError as exc:
        return render(request, "sandbox_xero/authorize_error.html", {"error": exc}, status=400)
    organisations = XeroOrganisation.objects.order_by("name")
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "deny":
            return _back(auth, {"error": "access_denied"})
        chosen = list(organisations.filter(pk__in=request.POST.getlist("organisations")))
        if chosen:
            return _back(auth, {"code": oauth.issue_code(auth, chosen)})
        error = "Choose at least one organisation."
    hidden = {
        k: params.get(k, "")
        for k in (
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        )
    }
    context = {
        "auth": auth,
        "organisations": organisations,
        "hidden": hidden,
        "error": error,
        "scopes": auth.scope.split(),
    }
    return render(request, "sandbox_xero/authorize.html", context)


def _back(auth: oauth.AuthorizeRequest, params: dict[str, str]) -> HttpResponseRedirect:
    if auth.state:
        params["state"] = auth.state
    separator = "&" if "?" in auth.redirect_uri else "?"
    return HttpResponseRedirect(f"{auth.redirect_uri}{separator}{urlencode(params)}")


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    try:
        app = oauth.client_from_request(request)
        form = {k: request.POST.get(k, "") for k in request.POST}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return JsonResponse(oauth.exchange_code(app, form))
        if grant_type == "refresh_token":
            return JsonResponse(oauth.refresh(app, form.get("refresh_token", "")))
        raise oauth.OAuthError("unsupported_grant_type")
    except oauth.OAuthError as exc:
        return _oauth_error(exc)


@csrf_exempt
@require_POST
def revocation(request: HttpRequest) -> HttpResponse:
    try:
        app = oauth.client_from_request(request)
    except oauth.OAuthError as exc:
        return _oauth_error(exc)
    oauth.revoke(app, request.POST.get("token", ""))
    return HttpResponse(status=200)


# --- Pages -----------------------------------------------------------------------------------


def _page(
    request: HttpRequest,
    org: XeroOrganisation,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    return render(request, f"sandbox_xero/{template}", {"org": org, **context}, status=status)


def org(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    counts = {
        "contacts": Contact.objects.filter(organisation=organisation).count(),
        "items": Item.objects.filter(organisation=organisation).count(),
        "invoices": Invoice.objects.filter(organisation=organisation).count(),
        "payments": Payment.objects.filter(organisation=organisation).count(),
        "credit_notes": CreditNote.objects.filter(organisation=organisation).count(),
    }
    return _page(
        request,
        organisation,
        "org.html",
        counts=counts,
        faults=Faults.from_json(organisation.faults),
    )


def contacts(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    rows = Contact.objects.filter(organisation=organisation).order_by("name")
    return _page(request, organisation, "contacts.html", contacts=rows)


def items(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    rows = Item.objects.filter(organisation=organisation).order_by("code")
    return _page(request, organisation, "items.html", items=rows)


def invoices(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    rows = (
        Invoice.objects.filter(organisation=organisation)
        .select_related("contact")
        .order_by("-created_at", "-pk")[:500]
    )
    return _page(request, organisation, "invoices.html", invoices=rows)


class PaymentForm(forms.Form):
    """A payment as a person records it on the invoice in Xero (Pay this invoice)."""

    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    date = forms.DateField()
    account = forms.ChoiceField(label="Paid to")
    reference = forms.CharField(required=False, max_length=255)

    def __init__(self, *args: Any, organisation: XeroOrganisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = Account.objects.filter(organisation=organisation, status="ACTIVE").exclude(
            code=""
        )
        field = self.fields["account"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(a.code, f"{a.code} {a.name}") for a in accounts if a.accepts_payments]


def invoice_link(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    """An invoice by its id alone, as Xero's deep links are: to its organisation's page."""
    found = get_object_or_404(Invoice, invoice_id=invoice_id)
    return redirect("sandbox_xero:invoice", org_id=found.organisation_id, invoice_id=invoice_id)


def invoice(request: HttpRequest, org_id: int, invoice_id: uuid.UUID) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    found = get_object_or_404(
        Invoice.objects.select_related("contact"),
        organisation=organisation,
        invoice_id=invoice_id,
    )
    payable = found.type == "ACCREC" and found.status == "AUTHORISED" and found.amount_due > 0
    form = PaymentForm(
        initial={"amount": found.amount_due, "date": clock.now().date()},
        organisation=organisation,
    )
    return _page(
        request,
        organisation,
        "invoice.html",
        invoice=found,
        data=serialize.invoice(found, unitdp=4),
        payment_form=form if payable else None,
        payments=Payment.objects.filter(invoice=found).select_related("account").order_by("pk"),
    )


@require_POST
def invoice_pay(request: HttpRequest, org_id: int, invoice_id: uuid.UUID) -> HttpResponse:
    """Records a payment as the Xero web app does: the same rules as the API, and the webhook
    (an INVOICE UPDATE) sent after commit."""
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    found = get_object_or_404(Invoice, organisation=organisation, invoice_id=invoice_id)
    form = PaymentForm(request.POST, organisation=organisation)
    if form.is_valid():
        ctx = writes.Context(org=organisation)
        try:
            with atomic():
                writes.write_payment(
                    ctx,
                    {
                        "Invoice": {"InvoiceID": str(found.invoice_id)},
                        "Account": {"Code": form.cleaned_data["account"]},
                        "Date": form.cleaned_data["date"].isoformat(),
                        "Amount": str(form.cleaned_data["amount"]),
                        "Reference": form.cleaned_data["reference"],
                    },
                )
                webhooks.queue_events(organisation, ctx.events)
        except writes.ElementError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"Payment of {form.cleaned_data['amount']} recorded.")
            return redirect("sandbox_xero:invoice", org_id=org_id, invoice_id=invoice_id)
    found = Invoice.objects.select_related("contact").get(pk=found.pk)
    return _page(
        request,
        organisation,
        "invoice.html",
        invoice=found,
        data=serialize.invoice(found, unitdp=4),
        payment_form=form,
        payments=Payment.objects.filter(invoice=found).select_related("account").order_by("pk"),
        status=400,
    )


def payments(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    rows = (
        Payment.objects.filter(organisation=organisation)
        .select_related("invoice", "account")
        .order_by("-date", "-pk")[:500]
    )
    return _page(request, organisation, "payments.html", payments=rows)


def credit_notes(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    rows = (
        CreditNote.objects.filter(organisation=organisation)
        .select_related("contact")
        .order_by("-created_at", "-pk")[:500]
    )
    return _page(request, organisation, "credit_notes.html", credit_notes=rows)


class SettingsForm(forms.Form):
    limits_enabled = forms.BooleanField(required=False)
    concurrent_limit = forms.IntegerField(min_value=1)
    minute_limit = forms.IntegerField(min_value=1)
    day_limit = forms.IntegerField(min_value=1)
    latency_ms = forms.IntegerField(min_value=0)
    error_every = forms.IntegerField(min_value=0)
    error_status = forms.IntegerField(min_value=500, max_value=599)
    force_429 = forms.IntegerField(min_value=0)
    timeout_every = forms.IntegerField(min_value=0)
    timeout_seconds = forms.FloatField(min_value=0)
    expire_tokens = forms.BooleanField(required=False)
    lose_answer_every = forms.IntegerField(min_value=0)
    webhook_url = forms.URLField(required=False, assume_scheme="https")
    webhook_key = forms.CharField(required=False, max_length=200)


LIMIT_FIELDS = (
    "limits_enabled",
    "concurrent_limit",
    "minute_limit",
    "day_limit",
    "webhook_url",
    "webhook_key",
)


def settings_view(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = get_object_or_404(XeroOrganisation, pk=org_id)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            for name in LIMIT_FIELDS:
                setattr(organisation, name, data[name])
            fault_names = set(Faults.__dataclass_fields__)
            organisation.faults = Faults.from_json(
                {k: v for k, v in data.items() if k in fault_names}
            ).to_json()
            # Saving also frees concurrent slots a killed process may have left taken.
            organisation.in_flight = 0
            organisation.save()
            return redirect("sandbox_xero:settings", org_id=organisation.pk)
    else:
        initial: dict[str, Any] = {name: getattr(organisation, name) for name in LIMIT_FIELDS}
        initial.update(Faults.from_json(organisation.faults).__dict__)
        form = SettingsForm(initial=initial)
    return _page(request, organisation, "settings.html", form=form)

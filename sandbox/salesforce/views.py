"""Sandbox pages: browse and change the simulated org (sandbox-only, not tenant-scoped)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from sandbox.salesforce import forms, outbound, services
from sandbox.salesforce.describe import STAGE_NAMES
from sandbox.salesforce.models import (
    Account,
    ConnectedApp,
    Opportunity,
    OpportunityContactRole,
    OpportunityLineItem,
    OutboundDelivery,
    Product2,
    SalesforceOrg,
)

PAGE_ROWS = 200


def _org(org_id: int) -> SalesforceOrg:
    return get_object_or_404(SalesforceOrg, pk=org_id)


def _errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def org(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = _org(org_id)
    opportunities = Opportunity.objects.filter(org=organisation, is_deleted=False)
    context = {
        "org": organisation,
        "counts": {
            "accounts": Account.objects.filter(org=organisation, is_deleted=False).count(),
            "products": Product2.objects.filter(org=organisation, is_deleted=False).count(),
            "opportunities": opportunities.count(),
            "won": opportunities.filter(is_won=True).count(),
        },
        "recent": opportunities.select_related("account").order_by("-system_modstamp")[:10],
        "deliveries": OutboundDelivery.objects.filter(org=organisation)[:10],
        "apps": ConnectedApp.objects.order_by("name"),
    }
    return render(request, "sandbox_salesforce/org.html", context)


def org_settings(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = _org(org_id)
    form = forms.OrgSettingsForm(
        request.POST or None, initial=forms.OrgSettingsForm.initial_for(organisation)
    )
    if request.method == "POST" and form.is_valid():
        for name in form.ORG_FIELDS:
            setattr(organisation, name, form.cleaned_data[name])
        organisation.faults = form.faults().to_json()
        organisation.save()
        messages.success(request, "Settings saved.")
        return redirect("sandbox_salesforce:org_settings", org_id=org_id)
    return render(request, "sandbox_salesforce/settings.html", {"org": organisation, "form": form})


@require_POST
def outbound_retry(request: HttpRequest, org_id: int) -> HttpResponse:
    delivered = outbound.retry_pending_outbound()
    messages.info(request, f"Retried pending outbound messages: {delivered} delivered.")
    return redirect("sandbox_salesforce:org", org_id=org_id)


def account_list(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = _org(org_id)
    accounts = (
        Account.objects.filter(org=organisation, is_deleted=False)
        .annotate(n_opps=Count("opportunity", filter=Q(opportunity__is_deleted=False)))
        .order_by("name")
    )
    return render(
        request, "sandbox_salesforce/accounts.html", {"org": organisation, "accounts": accounts}
    )


def account_edit(request: HttpRequest, org_id: int, pk: int | None = None) -> HttpResponse:
    organisation = _org(org_id)
    account = get_object_or_404(Account, org=organisation, pk=pk) if pk else None
    initial = {f: getattr(account, f) for f in forms.AccountForm.base_fields} if account else {}
    form = forms.AccountForm(request.POST or None, initial=initial, org=organisation)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if account is None:
                account = services.account_create(org=organisation, **data)
            else:
                services.account_update(account=account, **data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Saved account {account.name}.")
            return redirect("sandbox_salesforce:account_list", org_id=org_id)
    context = {"org": organisation, "form": form, "account": account}
    return render(request, "sandbox_salesforce/account_form.html", context)


def product_list(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = _org(org_id)
    products = (
        Product2.objects.filter(org=organisation, is_deleted=False)
        .prefetch_related("pricebookentry_set")
        .order_by("product_code", "name")
    )
    return render(
        request, "sandbox_salesforce/products.html", {"org": organisation, "products": products}
    )


def product_edit(request: HttpRequest, org_id: int, pk: int | None = None) -> HttpResponse:
    organisation = _org(org_id)
    product = get_object_or_404(Product2, org=organisation, pk=pk) if pk else None
    initial: dict[str, Any] = {}
    if product:
        initial = {f: getattr(product, f) for f in forms.ProductForm.base_fields}
        for entry in product.pricebookentry_set.filter(pricebook__is_standard=True):
            code = entry.currency_iso_code or organisation.corporate_currency
            initial[f"price_{code}"] = entry.unit_price
    form = forms.ProductForm(request.POST or None, initial=initial, org=organisation)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if not k.startswith("price_")}
        try:
            if product is None:
                product = services.product_create(org=organisation, prices=form.prices(), **data)
            else:
                services.product_update(product=product, prices=form.prices(), **data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Saved product {product.name}.")
            return redirect("sandbox_salesforce:product_list", org_id=org_id)
    context = {"org": organisation, "form": form, "product": product}
    return render(request, "sandbox_salesforce/product_form.html", context)


def opportunity_list(request: HttpRequest, org_id: int) -> HttpResponse:
    organisation = _org(org_id)
    stage = request.GET.get("stage", "")
    opportunities = (
        Opportunity.objects.filter(org=organisation, is_deleted=False)
        .select_related("account")
        .order_by("-close_date", "name")
    )
    if stage:
        opportunities = opportunities.filter(stage_name=stage)
    context = {
        "org": organisation,
        "opportunities": opportunities[:PAGE_ROWS],
        "total": opportunities.count(),
        "stages": STAGE_NAMES,
        "stage": stage,
    }
    return render(request, "sandbox_salesforce/opportunities.html", context)


def _opportunity(organisation: SalesforceOrg, pk: int) -> Opportunity:
    return get_object_or_404(
        Opportunity.objects.select_related("account", "org"), org=organisation, pk=pk
    )


def opportunity_detail(request: HttpRequest, org_id: int, pk: int) -> HttpResponse:
    organisation = _org(org_id)
    opportunity = _opportunity(organisation, pk)
    context = {
        "org": organisation,
        "opp": opportunity,
        "line_items": opportunity.opportunitylineitem_set.filter(is_deleted=False)
        .select_related("product")
        .order_by("sort_order", "pk"),
        "contact_roles": opportunity.opportunitycontactrole_set.filter(
            is_deleted=False
        ).select_related("contact"),
        "stage_form": forms.StageForm(initial={"stage_name": opportunity.stage_name}),
        "line_form": forms.LineItemForm(org=organisation),
        "role_form": forms.ContactRoleForm(org=organisation),
    }
    return render(request, "sandbox_salesforce/opportunity.html", context)


def opportunity_edit(request: HttpRequest, org_id: int, pk: int | None = None) -> HttpResponse:
    organisation = _org(org_id)
    opportunity = _opportunity(organisation, pk) if pk else None
    initial: dict[str, Any] = {}
    if opportunity:
        initial = {f: getattr(opportunity, f) for f in forms.OpportunityForm.base_fields}
    form = forms.OpportunityForm(request.POST or None, initial=initial, org=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            opportunity = services.opportunity_save(
                org=organisation, opportunity=opportunity, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Saved opportunity {opportunity.name}.")
            return redirect("sandbox_salesforce:opportunity", org_id=org_id, pk=opportunity.pk)
    context = {"org": organisation, "form": form, "opp": opportunity}
    return render(request, "sandbox_salesforce/opportunity_form.html", context)


@require_POST
def opportunity_action(request: HttpRequest, org_id: int, pk: int, action: str) -> HttpResponse:
    """The small POST forms of the opportunity page: stage, line items, roles, delete."""
    organisation = _org(org_id)
    opportunity = _opportunity(organisation, pk)
    try:
        _run_action(request, organisation, opportunity, action)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("sandbox_salesforce:opportunity", org_id=org_id, pk=pk)


def _run_action(
    request: HttpRequest, organisation: SalesforceOrg, opportunity: Opportunity, action: str
) -> None:
    if action == "stage":
        stage_form = forms.StageForm(request.POST)
        if not stage_form.is_valid():
            raise ValidationError("Choose a stage.")
        services.opportunity_set_stage(
            opportunity=opportunity, stage_name=stage_form.cleaned_data["stage_name"]
        )
        messages.success(request, f"Moved to {opportunity.stage_name}.")
    elif action == "line-item":
        line_form = forms.LineItemForm(request.POST, org=organisation)
        if not line_form.is_valid():
            raise ValidationError(_flatten(line_form))
        services.line_item_add(opportunity=opportunity, **line_form.cleaned_data)
        messages.success(request, "Line item added.")
    elif action == "delete-line-item":
        line_item = get_object_or_404(
            OpportunityLineItem, opportunity=opportunity, pk=request.POST.get("line_item")
        )
        services.line_item_delete(line_item=line_item)
        messages.success(request, "Line item removed.")
    elif action == "contact-role":
        role_form = forms.ContactRoleForm(request.POST, org=organisation)
        if not role_form.is_valid():
            raise ValidationError(_flatten(role_form))
        services.contact_role_add(opportunity=opportunity, **role_form.cleaned_data)
        messages.success(request, "Contact role added.")
    elif action == "delete-contact-role":
        role = get_object_or_404(
            OpportunityContactRole, opportunity=opportunity, pk=request.POST.get("contact_role")
        )
        services.contact_role_delete(contact_role=role)
        messages.success(request, "Contact role removed.")
    elif action == "delete":
        services.opportunity_delete(opportunity=opportunity)
        messages.success(request, "Opportunity moved to the recycle bin.")
    elif action == "undelete":
        services.opportunity_undelete(opportunity=opportunity)
        messages.success(request, "Opportunity restored.")
    else:
        raise Http404("unknown action")


def _flatten(form: Any) -> list[str]:
    return [f"{field}: {error}" for field, errors in form.errors.items() for error in errors]

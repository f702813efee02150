"""Integration pages: list, create (then the provider connect steps), detail, disconnect."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations import services
from integrations.forms import IntegrationCreateForm
from integrations.models import Connection, Integration


@account_view(Role.SUPPORT)
def integration_list(request: AccountRequest) -> HttpResponse:
    integrations = Integration.objects.filter(account=request.account).select_related(
        "xero_connection", "salesforce_connection"
    )
    return render(request, "integrations/list.html", {"integrations": integrations})


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def integration_create(request: AccountRequest) -> HttpResponse:
    form = IntegrationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        integration = Integration.objects.create(
            account=request.account, name=form.cleaned_data["name"], created_by=request.user
        )
        # First step: Xero, the target; its callback then leads on to Salesforce.
        return redirect(
            "xero:connect", account_slug=request.account.slug, integration_id=integration.pk
        )
    return render(request, "integrations/create.html", {"form": form})


@account_view(Role.SUPPORT)
def integration_detail(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(
        Integration.objects.select_related(
            "xero_connection__connected_by", "salesforce_connection__connected_by"
        ),
        request.account,
        pk=integration_id,
    )
    steps = [
        ("xero", "Xero", "target: where invoices are created", integration.xero_connection),
        (
            "salesforce",
            "Salesforce",
            "source: where won opportunities are read",
            integration.salesforce_connection,
        ),
    ]
    return render(request, "integrations/detail.html", {"integration": integration, "steps": steps})


@account_view(Role.ADMIN)
@require_POST
def connection_disconnect(
    request: AccountRequest, integration_id: int, connection_id: int
) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    connection = get_for_account(Connection, request.account, pk=connection_id)
    name = connection.get_provider_display_name()
    services.connection_disconnect(connection=connection)
    messages.success(
        request,
        f"Disconnected {name} ({connection.display_name}). Syncing through it has stopped.",
    )
    return redirect(
        "integrations:detail", account_slug=request.account.slug, integration_id=integration.pk
    )

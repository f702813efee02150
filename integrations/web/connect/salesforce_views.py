"""Connecting Salesforce: choose the login server, authorise there, come back to the callback."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AccountRequest, account_view, get_for_account, get_membership
from accounts.models import Role, User
from integrations.connections import oauth as authorization
from integrations.connections import services
from integrations.connections.oauth import ConnectError
from integrations.connections.salesforce.oauth import authorization_complete, authorization_url
from integrations.core.models import Integration
from integrations.core.services import integration_attach
from integrations.web.connect.salesforce_forms import ConnectForm

logger = logging.getLogger(__name__)

# What Salesforce's own errors mean for the person who just came back from it.
OAUTH_ERRORS = {
    "access_denied": (
        "Salesforce access was not allowed",
        "You (or Salesforce) declined the request to allow CarryTheOne access. Nothing was "
        "connected. Connect again and choose “Allow” when you are ready.",
    ),
}


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connect(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    form = ConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        flow = authorization.begin(
            request,
            provider="salesforce",
            account_slug=request.account.slug,
            integration_id=integration.pk,
            extra={"login_url": form.cleaned_data["login_url"]},
        )
        return HttpResponseRedirect(authorization_url(flow))
    return render(request, "salesforce/connect.html", {"form": form, "integration": integration})


def _failed(
    request: HttpRequest, title: str, message: str, *, status: int, retry_url: str = ""
) -> HttpResponse:
    context = {"title": title, "message": message, "retry_url": retry_url}
    return render(request, "salesforce/callback_error.html", context, status=status)


@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Salesforce's redirect back. One fixed URL for every tenant: the flow says whose it is."""
    flow = authorization.take(request, provider="salesforce", state=request.GET.get("state"))
    if flow is None:
        return _failed(
            request,
            "This Salesforce sign-in is no longer valid",
            "The link was already used, has expired (after 15 minutes), or was started in "
            "another browser or session. Nothing was connected. Go back to your integration "
            "and choose “Connect Salesforce” again.",
            status=400,
        )
    assert isinstance(request.user, User)
    # Membership and role are checked again: they may have changed while the user was away.
    membership = get_membership(request.user, flow.account_slug)
    if not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Connecting Salesforce needs the Admin role.")
    account = membership.account
    integration = get_for_account(Integration, account, pk=flow.integration_id)
    retry_url = reverse("salesforce:connect", args=[account.slug, integration.pk])

    error = request.GET.get("error")
    if error:
        logger.info("salesforce: authorisation returned error=%s", error[:100])
        title, message = OAUTH_ERRORS.get(
            error,
            (
                "Salesforce did not authorise the connection",
                f"Salesforce answered “{error}”"
                + (
                    f": {request.GET['error_description']}"
                    if request.GET.get("error_description")
                    else ""
                )
                + ". Nothing was connected; try again, and check the connected app's "
                "settings in Salesforce if it happens again.",
            ),
        )
        return _failed(request, title, message, status=400, retry_url=retry_url)
    code = request.GET.get("code")
    if not code:
        return _failed(
            request,
            "Salesforce sent no authorisation",
            "The answer from Salesforce carried no authorisation code. Nothing was connected; "
            "start again.",
            status=400,
            retry_url=retry_url,
        )
    try:
        authorised = authorization_complete(flow=flow, code=code)
    except ConnectError as exc:
        return _failed(request, exc.title, exc.message, status=exc.status, retry_url=retry_url)

    with transaction.atomic():
        connection = services.connection_store(
            account=account,
            provider="salesforce",
            external_id=authorised.org_id,
            display_name=authorised.display_name,
            tokens=authorised.tokens,
            user=request.user,
        )
        integration_attach(integration=integration, connection=connection)
    messages.success(request, f"Salesforce connected: {connection.display_name}.")
    return redirect("integrations:detail", account_slug=account.slug, integration_id=integration.pk)

"""Connecting Xero: explain, send the admin to Xero, take the callback, choose the organisation.

Nothing is stored until the flow has succeeded: a failed or cancelled step shows what happened
and how to start again, and leaves the integration as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AccountRequest, account_view, get_for_account, get_membership
from accounts.models import Account, Role, User
from integrations.connections import oauth as authorization
from integrations.connections import services
from integrations.connections.crypto import DecryptionError, decrypt_str, encrypt_str
from integrations.connections.oauth import ConnectError
from integrations.connections.providers import ProviderError, TokenSet
from integrations.connections.xero import oauth as xero_oauth
from integrations.connections.xero.client import fetch_organisation
from integrations.connections.xero.oauth import Tenant
from integrations.core.models import Integration
from integrations.core.services import integration_attach

# The grant waiting for the organisation choice, encrypted: the session store is not a vault.
PENDING_KEY = "xero_pending_grant"

# What each scope lets CarryTheOne do, for the page shown before Xero's consent screen.
SCOPE_HELP = {
    "offline_access": "keep syncing while you are signed out (a refresh token)",
    "accounting.invoices": "create and read invoices and credit notes",
    "accounting.payments": "record payments against those invoices",
    "accounting.contacts": "find or create the customer as a contact",
    "accounting.settings": "read accounts, tax rates, items and tracking categories",
    "accounting.transactions": "create and read invoices, credit notes and payments",
}


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connect(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    if request.method == "POST":
        flow = authorization.begin(
            request,
            provider="xero",
            account_slug=request.account.slug,
            integration_id=integration.pk,
        )
        return redirect(xero_oauth.authorize_url(flow))
    scopes = [(scope, SCOPE_HELP.get(scope, "")) for scope in settings.XERO_SCOPES]
    return render(request, "xero/connect.html", {"integration": integration, "scopes": scopes})


def _failure(
    request: HttpRequest,
    error: ConnectError,
    *,
    account: Account | None = None,
    integration: Integration | None = None,
) -> HttpResponse:
    context = {"error": error, "account": account, "integration": integration}
    return render(request, "xero/failed.html", context, status=error.status)


@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    flow = authorization.take(request, provider="xero", state=request.GET.get("state"))
    if flow is None:
        # Missing, forged, expired or already used (a reload or a replayed link).
        return _failure(
            request,
            ConnectError(
                "This Xero sign-in is no longer valid",
                "The link back from Xero did not match a connection you started in the last "
                "15 minutes, or it was already used. Nothing was connected. Open the "
                "integration and choose Connect Xero again.",
            ),
        )
    user = request.user
    assert isinstance(user, User)
    membership = get_membership(user, flow.account_slug)  # 404 when no longer a member
    if not membership.has_role(Role.ADMIN):
        raise Http404("No such account.")
    account = membership.account
    integration = get_for_account(Integration, account, pk=flow.integration_id)

    error = request.GET.get("error")
    if error:
        if error == "access_denied":
            problem = ConnectError(
                "Xero access was not allowed",
                "You cancelled at Xero, so nothing was connected. Connect again when you are "
                "ready; Xero will ask you to choose the organisation.",
            )
        else:
            problem = ConnectError(
                "Xero could not start the connection",
                f"Xero answered “{error[:100]}”. Nothing was connected. Try again; if it "
                "keeps failing, contact support.",
            )
        return _failure(request, problem, account=account, integration=integration)
    code = request.GET.get("code")
    if not code:
        return _failure(
            request,
            ConnectError(
                "Xero sent no authorisation",
                "The link back from Xero carried no authorisation code. Nothing was "
                "connected. Start the connection again.",
            ),
            account=account,
            integration=integration,
        )
    try:
        tokens = xero_oauth.exchange_code(code=code, flow=flow)
        tenants = xero_oauth.list_organisations(tokens)
    except ConnectError as exc:
        return _failure(request, exc, account=account, integration=integration)
    if not tenants:
        # A grant we will not use must not stay alive at Xero.
        xero_oauth.revoke_grant(tokens.refresh_token)
        return _failure(
            request,
            ConnectError(
                "No Xero organisation was chosen",
                "Xero connected no organisation (only organisations can receive invoices, "
                "not practices). Connect again and tick the organisation on Xero's page.",
            ),
            account=account,
            integration=integration,
        )
    if len(tenants) == 1:
        return _store(request, account, integration, tokens, tenants[0], tenants)
    _drop_pending(request)
    request.session[PENDING_KEY] = encrypt_str(
        json.dumps(
            {
                "account_slug": account.slug,
                "integration_id": integration.pk,
                "started_at": time.time(),
                "tokens": tokens.to_credentials(),
                "scopes": tokens.scopes,
                "tenants": [t.to_json() for t in tenants],
            }
        )
    )
    return redirect("xero:organisation", account_slug=account.slug, integration_id=integration.pk)


def _drop_pending(request: HttpRequest) -> None:
    """Revokes a grant still waiting for its choice: a newer one replaces it, unusable."""
    raw = request.session.pop(PENDING_KEY, None)
    if not raw:
        return
    try:
        data = json.loads(decrypt_str(raw))
    except (DecryptionError, ValueError):
        return
    xero_oauth.revoke_grant(str(data["tokens"]["refresh_token"]))


def _pending(request: HttpRequest, account: Account, integration: Integration) -> dict[str, Any]:
    """The grant waiting for this integration's organisation choice, or 404."""
    raw = request.session.get(PENDING_KEY)
    if not raw:
        raise Http404("No Xero connection is waiting for an organisation.")
    try:
        data: dict[str, Any] = json.loads(decrypt_str(raw))
    except (DecryptionError, ValueError) as exc:
        raise Http404("No Xero connection is waiting for an organisation.") from exc
    fresh = time.time() - float(data["started_at"]) <= authorization.FLOW_TTL_SECONDS
    if (
        not fresh
        or data["account_slug"] != account.slug
        or data["integration_id"] != integration.pk
    ):
        raise Http404("No Xero connection is waiting for an organisation.")
    return data


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def organisation(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    pending = _pending(request, request.account, integration)
    tenants = [Tenant(**t) for t in pending["tenants"]]
    error = ""
    status = 200
    if request.method == "POST":
        picked = request.POST.get("tenant", "")
        chosen = next((t for t in tenants if t.tenant_id == picked), None)
        if chosen is not None:
            del request.session[PENDING_KEY]
            credentials = dict(pending["tokens"])
            tokens = TokenSet(
                access_token=credentials.pop("access_token"),
                refresh_token=credentials.pop("refresh_token"),
                expires_at=dt.datetime.fromisoformat(credentials["expires_at"]),
                scopes=list(pending["scopes"]),
                extra={k: v for k, v in credentials.items() if k != "expires_at"},
            )
            return _store(request, request.account, integration, tokens, chosen, tenants)
        if picked:
            # Not one of those offered: a stale or altered form, not a person's slip.
            error, status = "Choose one organisation of those listed.", 400
        else:
            # Nothing chosen: the page again, saying what is missing (a form error, not a 400).
            error = "Choose one organisation: invoices go to the one you pick."
    return render(
        request,
        "xero/organisation.html",
        {"integration": integration, "tenants": tenants, "error": error},
        status=status,
    )


def _store(
    request: HttpRequest,
    account: Account,
    integration: Integration,
    tokens: TokenSet,
    chosen: Tenant,
    tenants: list[Tenant],
) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    tokens = xero_oauth.keep_only(tokens, chosen, tenants)
    connection = services.connection_store(
        account=account,
        provider="xero",
        external_id=chosen.tenant_id,
        display_name=chosen.name,
        tokens=tokens,
        user=user,
    )
    integration_attach(integration=integration, connection=connection)
    try:
        # Proves the token reaches the organisation's data, not only the identity service.
        details = fetch_organisation(connection)
    except ProviderError as exc:
        messages.warning(
            request,
            f"Xero is connected ({chosen.name}), but reading the organisation failed: "
            f"{exc.message}",
        )
    else:
        messages.success(
            request,
            f"Xero connected: {details.name} ({details.country_code}, {details.base_currency}).",
        )
    if integration.salesforce_connection_id is None:
        return redirect(
            reverse(
                "salesforce:connect",
                kwargs={"account_slug": account.slug, "integration_id": integration.pk},
            )
        )
    return redirect("integrations:detail", account_slug=account.slug, integration_id=integration.pk)

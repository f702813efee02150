"""OAuth 2.0 as a Salesforce login server: web-server flow (with PKCE), refresh, revoke, id.

The consent page stands in for Salesforce's login and "Allow access?" screens: the demo user
picks one of the simulated orgs and approves or denies.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox.salesforce import services
from sandbox.salesforce.api import bearer_token, json_response
from sandbox.salesforce.models import AuthorizationCode, ConnectedApp, RefreshToken, SalesforceOrg

CODE_TTL = dt.timedelta(minutes=15)
CONSENT_TTL = dt.timedelta(minutes=10)
CONSENT_SALT = "sandbox.salesforce.consent"


def base_url(request: HttpRequest) -> str:
    """This site as the client reached it, so a test server's random port comes back."""
    return request.build_absolute_uri("/").rstrip("/")


def _redirect(redirect_uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    parts = urlsplit(redirect_uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))


def _error_page(request: HttpRequest, error: str, description: str) -> HttpResponse:
    context = {"error": error, "description": description}
    return render(request, "sandbox_salesforce/oauth_error.html", context, status=400)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Salesforce's login + "Allow access?" screens in one page.

    There is no sandbox login, so a CSRF cookie would protect nothing; the form instead carries
    a signed copy of the request it answers (client, redirect URI, state, PKCE challenge), which
    keeps a posted approval tied to a page this server rendered, and lets scripted clients
    (requests, not a browser) run the flow over plain http without a Secure cookie.
    """
    params = request.POST if request.method == "POST" else request.GET
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    state = params.get("state", "")
    app = ConnectedApp.objects.filter(consumer_key=client_id).first()
    if app is None:
        return _error_page(request, "invalid_client_id", "client identifier invalid")
    if not redirect_uri or not app.accepts_redirect(redirect_uri):
        return _error_page(
            request, "redirect_uri_mismatch", "redirect_uri must match configuration"
        )
    extra = {"state": state} if state else {}
    if params.get("response_type") != "code":
        return _redirect(
            redirect_uri,
            {
                "error": "unsupported_response_type",
                "error_description": "response type not supported",
                **extra,
            },
        )
    challenge = params.get("code_challenge", "")
    if challenge and params.get("code_challenge_method", "S256") != "S256":
        return _redirect(
            redirect_uri,
            {
                "error": "invalid_request",
                "error_description": "unsupported code_challenge_method",
                **extra,
            },
        )
    orgs = list(SalesforceOrg.objects.order_by("name"))
    request_key = [client_id, redirect_uri, state, challenge, params.get("scope", "")]
    if request.method == "GET" or not orgs:
        context = {
            "app": app,
            "orgs": orgs,
            "params": [(k, v) for k, v in params.items() if k not in {"org", "decision"}],
            "scope": params.get("scope"),
            "consent": signing.dumps(request_key, salt=CONSENT_SALT),
        }
        return render(request, "sandbox_salesforce/authorize.html", context)
    try:
        signed = signing.loads(params.get("consent", ""), salt=CONSENT_SALT, max_age=CONSENT_TTL)
    except signing.BadSignature:
        signed = None
    if signed != request_key:
        return _error_page(request, "invalid_request", "the consent form expired; start again")
    if params.get("decision") != "allow":
        return _redirect(
            redirect_uri,
            {
                "error": "access_denied",
                "error_description": "end-user denied authorization",
                **extra,
            },
        )
    org = next((o for o in orgs if str(o.pk) == params.get("org")), orgs[0])
    code = secrets.token_urlsafe(48)
    AuthorizationCode.objects.create(
        code_hash=services.token_hash(code),
        app=app,
        org=org,
        redirect_uri=redirect_uri,
        scope=params.get("scope", "") or "api refresh_token",
        code_challenge=challenge,
        expires_at=timezone.now() + CODE_TTL,
    )
    return _redirect(redirect_uri, {"code": code, **extra})


def _oauth_error(error: str, description: str, status: int = 400) -> HttpResponse:
    return json_response({"error": error, "error_description": description}, status)


def _client(request: HttpRequest) -> tuple[str, str | None]:
    """client_id and secret from the form, or from HTTP Basic (authlib's default)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return "", None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return request.POST.get("client_id", ""), request.POST.get("client_secret")


def _verify_pkce(challenge: str, verifier: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected, challenge)


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest) -> HttpResponse:
    client_id, secret = _client(request)
    app = ConnectedApp.objects.filter(consumer_key=client_id).first()
    if app is None:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if secret is not None and not hmac.compare_digest(secret, app.consumer_secret):
        return _oauth_error("invalid_client", "invalid client credentials", 401)
    grant = request.POST.get("grant_type", "")
    if grant == "authorization_code":
        return _authorization_code(request, app, secret)
    if grant == "refresh_token":
        return _refresh(request, app, secret)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def _authorization_code(
    request: HttpRequest, app: ConnectedApp, secret: str | None
) -> HttpResponse:
    raw = request.POST.get("code", "")
    code = (
        AuthorizationCode.objects.select_related("org")
        .filter(code_hash=services.token_hash(raw), app=app)
        .first()
    )
    if code is None or code.used or code.expires_at <= timezone.now():
        return _oauth_error("invalid_grant", "invalid authorization code")
    verifier = request.POST.get("code_verifier", "")
    if secret is None and (app.require_secret or not code.code_challenge):
        return _oauth_error("invalid_client", "invalid client credentials")
    if code.code_challenge and not _verify_pkce(code.code_challenge, verifier):
        return _oauth_error("invalid_grant", "invalid code verifier")
    if request.POST.get("redirect_uri", "") != code.redirect_uri:
        return _oauth_error("invalid_grant", "redirect_uri must match configuration")
    # A code works once; a second use is refused even if the first failed later.
    if not AuthorizationCode.objects.filter(pk=code.pk, used=False).update(used=True):
        return _oauth_error("invalid_grant", "invalid authorization code")
    refresh_raw: str | None = None
    refresh: RefreshToken | None = None
    if "refresh_token" in code.scope.split() or "offline_access" in code.scope.split():
        refresh_raw, refresh = services.refresh_token_create(
            org=code.org, app=app, scope=code.scope
        )
    access_raw, _ = services.session_create(
        org=code.org, app=app, refresh_token=refresh, scope=code.scope
    )
    return json_response(
        services.token_response(
            org=code.org,
            app=app,
            access_token=access_raw,
            refresh_token=refresh_raw,
            scope=code.scope,
            base_url=base_url(request),
        )
    )


def _refresh(request: HttpRequest, app: ConnectedApp, secret: str | None) -> HttpResponse:
    raw = request.POST.get("refresh_token", "")
    refresh = (
        RefreshToken.objects.select_related("org")
        .filter(token_hash=services.token_hash(raw), app=app, revoked=False)
        .first()
    )
    if refresh is None:
        return _oauth_error("invalid_grant", "expired access/refresh token")
    if secret is None and app.require_secret:
        return _oauth_error("invalid_client", "invalid client credentials")
    access_raw, _ = services.session_create(
        org=refresh.org, app=app, refresh_token=refresh, scope=refresh.scope
    )
    return json_response(
        services.token_response(
            org=refresh.org,
            app=app,
            access_token=access_raw,
            refresh_token=None,
            scope=refresh.scope,
            base_url=base_url(request),
        )
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("token") or request.GET.get("token", "")
    if not services.token_revoke(raw):
        return _oauth_error("invalid_token", "invalid token")
    return HttpResponse(status=200)


@require_http_methods(["GET", "POST"])
@csrf_exempt
def identity(request: HttpRequest, org_id: str, user_id: str) -> HttpResponse:
    raw = bearer_token(request) or request.GET.get("oauth_token", "")
    session = services.session_lookup(raw)
    if session is None:
        return HttpResponse("Bad_OAuth_Token", status=403, content_type="text/plain")
    org = session.org
    if org.org_id != org_id or org.user_id != user_id:
        return HttpResponse("Bad_Id", status=403, content_type="text/plain")
    base = base_url(request)
    body: dict[str, Any] = {
        "id": services.identity_url(base, org),
        "asserted_user": True,
        "user_id": org.user_id,
        "organization_id": org.org_id,
        "username": org.username,
        "nick_name": org.username.split("@")[0],
        "display_name": org.display_name,
        "email": org.username,
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            key: f"{base}/services/data/v{{version}}/{path}"
            for key, path in {
                "rest": "",
                "sobjects": "sobjects/",
                "query": "query/",
                "limits": "limits/",
            }.items()
        }
        | {"profile": f"{base}/{org.user_id}"},
    }
    return json_response(body)

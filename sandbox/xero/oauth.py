"""Xero's identity service: authorisation codes, token grants, refresh rotation, revocation.

Tokens are opaque random strings. Refresh tokens rotate on every use; the one just replaced
stays usable for 30 minutes and answers with the same new pair (so a retry after a lost answer
does not break the connection), then ``invalid_grant``. A refresh token unused for 60 days dies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from sandbox.db import atomic
from sandbox.xero import clock
from sandbox.xero.models import (
    AccessToken,
    AuthorizationCode,
    Connection,
    Grant,
    RefreshToken,
    XeroApp,
    XeroOrganisation,
)
from sandbox.xero.responses import problem

ACCESS_TOKEN_TTL = dt.timedelta(minutes=30)
REFRESH_TOKEN_TTL = dt.timedelta(days=60)
REFRESH_GRACE = dt.timedelta(minutes=30)
CODE_TTL = dt.timedelta(minutes=5)


class OAuthError(Exception):
    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        data = {"error": self.error}
        if self.description:
            data["error_description"] = self.description
        return data


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AuthorizeRequest:
    app: XeroApp
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: str


def check_authorize(params: dict[str, str]) -> AuthorizeRequest:
    """The authorize request's app and redirect URI; errors here are shown, not redirected."""
    app = XeroApp.objects.filter(client_id=params.get("client_id", "")).first()
    if app is None:
        raise OAuthError("unauthorized_client", "Unknown client or client not enabled")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not app.accepts_redirect(redirect_uri):
        raise OAuthError("invalid_request", "Invalid redirect_uri")
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "response_type must be code")
    method = params.get("code_challenge_method", "")
    challenge = params.get("code_challenge", "")
    if challenge and method not in ("S256", "plain", ""):
        raise OAuthError("invalid_request", "code_challenge_method must be S256 or plain")
    scope = " ".join(params.get("scope", "").split())
    if not scope:
        raise OAuthError("invalid_scope", "scope is required")
    return AuthorizeRequest(
        app,
        redirect_uri,
        scope,
        params.get("state", ""),
        challenge,
        (method or "plain") if challenge else "",
    )


def issue_code(request: AuthorizeRequest, organisations: list[XeroOrganisation]) -> str:
    code = _new_token()
    record = AuthorizationCode.objects.create(
        code=code,
        app=request.app,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        created_at=clock.now(),
    )
    record.organisations.set(organisations)
    return code


def client_from_request(request: HttpRequest) -> XeroApp:
    """The app authenticated by HTTP Basic or by client_id/client_secret form fields."""
    client_id = request.POST.get("client_id", "")
    client_secret = request.POST.get("client_secret", "")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client") from exc
        client_id, _, client_secret = decoded.partition(":")
    app = XeroApp.objects.filter(client_id=client_id).first()
    if app is None or not hmac.compare_digest(app.client_secret, client_secret):
        raise OAuthError("invalid_client")
    return app


def _pkce_ok(code: AuthorizationCode, verifier: str) -> bool:
    if not code.code_challenge:
        return True
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed, code.code_challenge)


def access_token_ttl() -> dt.timedelta:
    """Xero's 30 minutes; shorter with ``SANDBOX_XERO_TOKEN_SECONDS`` (tests of expiry)."""
    seconds = getattr(settings, "SANDBOX_XERO_TOKEN_SECONDS", None)
    return dt.timedelta(seconds=float(seconds)) if seconds else ACCESS_TOKEN_TTL


def token_pair(grant: Grant, now: dt.datetime) -> tuple[AccessToken, RefreshToken | None]:
    access = AccessToken.objects.create(
        token=_new_token(), grant=grant, expires_at=now + access_token_ttl()
    )
    refresh = None
    if "offline_access" in grant.scope.split():
        refresh = RefreshToken.objects.create(
            token=_new_token(), grant=grant, created_at=now, access_token=access
        )
    return access, refresh


def token_response(access: AccessToken, refresh: RefreshToken | None) -> dict[str, Any]:
    now = clock.now()
    data: dict[str, Any] = {
        "access_token": access.token,
        "expires_in": max(round((access.expires_at - now).total_seconds()), 0),
        "token_type": "Bearer",
        "scope": access.grant.scope,
    }
    if refresh is not None:
        data["refresh_token"] = refresh.token
    return data


def exchange_code(app: XeroApp, form: dict[str, str]) -> dict[str, Any]:
    now = clock.now()
    with atomic():
        code = (
            AuthorizationCode.objects.select_for_update()
            .filter(code=form.get("code", ""), app=app)
            .first()
        )
        if code is None or code.used or now - code.created_at > CODE_TTL:
            raise OAuthError("invalid_grant")
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match")
        if not _pkce_ok(code, form.get("code_verifier", "")):
            raise OAuthError("invalid_grant", "code_verifier is invalid")
        code.used = True
        code.save(update_fields=["used"])
        grant = Grant.objects.create(app=app, scope=code.scope, created_at=now)
        for org in code.organisations.all():
            Connection.objects.create(grant=grant, organisation=org, created_at=now, updated_at=now)
        access, refresh = token_pair(grant, now)
        return token_response(access, refresh)


def refresh(app: XeroApp, token: str) -> dict[str, Any]:
    now = clock.now()
    with atomic():
        current = (
            RefreshToken.objects.select_for_update(of=("self",))
            .select_related("grant", "replaced_by__access_token__grant")
            .filter(token=token, grant__app=app)
            .first()
        )
        if current is None or now - current.created_at > REFRESH_TOKEN_TTL:
            raise OAuthError("invalid_grant")
        if current.rotated_at is not None:
            replacement = current.replaced_by
            if (
                now - current.rotated_at <= REFRESH_GRACE
                and replacement is not None
                and replacement.access_token is not None
            ):
                return token_response(replacement.access_token, replacement)
            raise OAuthError("invalid_grant")
        access, new_refresh = token_pair(current.grant, now)
        if new_refresh is None:  # offline_access is on the grant, else this token wouldn't exist
            raise OAuthError("invalid_grant")
        current.rotated_at = now
        current.replaced_by = new_refresh
        current.save(update_fields=["rotated_at", "replaced_by"])
        return token_response(access, new_refresh)


def revoke(app: XeroApp, token: str) -> None:
    """Revoking a refresh token ends its grant: tokens and connections go."""
    found = RefreshToken.objects.filter(token=token, grant__app=app).select_related("grant").first()
    if found is not None:
        found.grant.delete()


def authenticate(request: HttpRequest) -> Grant | HttpResponse:
    """The grant behind the request's bearer token, or Xero's 401."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return problem(401, "Unauthorized", "AuthenticationUnsuccessful")
    token = (
        AccessToken.objects.select_related("grant__app").filter(token=header[7:].strip()).first()
    )
    if token is None:
        return problem(401, "Unauthorized", "AuthenticationUnsuccessful")
    if token.expires_at <= clock.now():
        stamp = token.expires_at.strftime("%m/%d/%Y %H:%M:%S")
        return problem(401, "Unauthorized", f"TokenExpired: token expired at {stamp}")
    return token.grant


def connection_json(connection: Connection) -> dict[str, Any]:
    def stamp(value: dt.datetime) -> str:
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")

    return {
        "id": str(connection.connection_id),
        "authEventId": str(connection.grant.auth_event_id),
        "tenantId": str(connection.organisation.organisation_id),
        "tenantType": "ORGANISATION",
        "tenantName": connection.organisation.name,
        "createdDateUtc": stamp(connection.created_at),
        "updatedDateUtc": stamp(connection.updated_at),
    }

"""The Xero authorisation-code flow: the authorize URL, the code exchange and the tenant list.

The views stay thin: every call to Xero's identity service and connections endpoint is here,
and every failure is a :class:`ConnectError` whose message tells a person what happened and
what to do next.

One Xero grant (one set of tokens) can cover several organisations. A ``Connection`` row holds
one organisation and its own copy of the tokens, and Xero's refresh tokens rotate: two rows
sharing one grant would break each other on their first refresh. So after the choice we keep
exactly one organisation per grant and remove the others' tenant connections from it (one
grant <-> one Connection).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings
from django.urls import reverse

from integrations.connections.oauth import ConnectError, Flow, oauth_session
from integrations.connections.providers import TokenSet

logger = logging.getLogger(__name__)

# Stored in the connection's (encrypted) credentials: revoking needs the tenant connection id.
CONNECTION_ID_KEY = "xero_connection_id"


@dataclass(frozen=True)
class Tenant:
    """One organisation the grant covers, as ``GET /connections`` lists it."""

    connection_id: str
    tenant_id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def redirect_uri() -> str:
    return settings.SITE_URL + reverse("xero:callback")


def authorize_url(flow: Flow) -> str:
    params = {
        "response_type": "code",
        "client_id": settings.XERO_CLIENT_ID,
        "redirect_uri": redirect_uri(),
        "scope": " ".join(settings.XERO_SCOPES),
        "state": flow.state,
        "code_challenge": flow.code_challenge,
        "code_challenge_method": "S256",
    }
    base: str = settings.XERO_AUTHORIZE_URL
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def exchange_code(*, code: str, flow: Flow) -> TokenSet:
    session = oauth_session(
        client_id=settings.XERO_CLIENT_ID,
        client_secret=settings.XERO_CLIENT_SECRET,
        auth_method="client_secret_basic",
    )
    try:
        data: dict[str, Any] = session.fetch_token(
            settings.XERO_TOKEN_URL,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri(),
            code_verifier=flow.code_verifier,
            timeout=settings.EXTERNAL_HTTP_TIMEOUT,
        )
    except OAuthError as exc:
        logger.warning("xero: code exchange refused (%s)", exc.error)
        if exc.error == "invalid_grant":
            raise ConnectError(
                "Xero did not accept this sign-in",
                "The authorisation from Xero was already used or has expired (it is valid for "
                "a few minutes and only once). Start the connection again.",
            ) from exc
        raise ConnectError(
            "Xero refused the connection",
            f"Xero answered “{exc.error}” when CarryTheOne asked for access. Start the "
            "connection again; if it keeps failing, contact support.",
        ) from exc
    except (requests.RequestException, ValueError) as exc:
        # A 5xx answers HTML (not JSON: ValueError); a timeout or refused connection is a
        # RequestException. Both are Xero being unavailable, not the user's doing.
        logger.warning("xero: token endpoint unavailable (%s)", type(exc).__name__)
        raise ConnectError(
            "Xero is not answering",
            "Xero's sign-in service did not answer properly, so nothing was connected. "
            "Try again in a few minutes.",
            status=502,
        ) from exc
    finally:
        session.close()
    if not data.get("refresh_token"):
        raise ConnectError(
            "Xero gave no lasting access",
            "Xero did not grant offline access, which CarryTheOne needs to sync while you are "
            "away. Start the connection again and allow all requested permissions.",
        )
    try:
        return TokenSet.from_response(data)
    except ValueError as exc:
        logger.warning("xero: unusable token answer (%s)", exc)
        raise _unreadable() from exc


def _unreadable() -> ConnectError:
    return ConnectError(
        "Xero's answer was unreadable",
        "Xero's sign-in service answered with something CarryTheOne cannot read, so nothing "
        "was connected. Try again in a few minutes.",
        status=502,
    )


def list_organisations(tokens: TokenSet) -> list[Tenant]:
    """The organisations (not practices) the new grant covers."""
    try:
        response = requests.get(
            settings.XERO_CONNECTIONS_URL,
            headers={
                "Authorization": f"Bearer {tokens.access_token}",
                "Accept": "application/json",
            },
            timeout=settings.EXTERNAL_HTTP_TIMEOUT,
        )
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("xero: listing connections failed (%s)", type(exc).__name__)
        raise ConnectError(
            "Xero is not answering",
            "Xero did not tell us which organisations you allowed, so nothing was connected. "
            "Try again in a few minutes.",
            status=502,
        ) from exc
    if not isinstance(rows, list):
        raise _unreadable()
    tenants = []
    for row in rows:
        if not isinstance(row, dict) or row.get("tenantType") != "ORGANISATION":
            continue
        connection_id, tenant_id, name = row.get("id"), row.get("tenantId"), row.get("tenantName")
        if not (_guid(connection_id) and _guid(tenant_id) and isinstance(name, str)):
            logger.warning("xero: a connection without its ids or name")
            raise _unreadable()
        # The name becomes the connection's display name (200 characters, no NUL).
        name = name.replace("\x00", "")[:200]
        tenants.append(Tenant(connection_id=connection_id, tenant_id=tenant_id, name=name))
    return tenants


def _guid(value: Any) -> TypeGuard[str]:
    """Xero's connection and tenant ids are GUIDs: anything else is not one of its answers (and
    would not fit our column)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def remove_tenant_connection(*, access_token: str, connection_id: str) -> bool:
    """Removes one organisation from a grant; best effort (False and a log line on failure)."""
    try:
        response = requests.delete(
            f"{settings.XERO_CONNECTIONS_URL}/{connection_id}",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=settings.EXTERNAL_HTTP_TIMEOUT,
        )
    except requests.RequestException as exc:
        logger.warning("xero: removing tenant connection failed (%s)", type(exc).__name__)
        return False
    if response.status_code not in (200, 204, 404):
        logger.warning("xero: removing tenant connection answered %s", response.status_code)
        return False
    return True


def revoke_grant(refresh_token: str) -> None:
    """Ends a whole grant (its tokens and tenant connections); best effort."""
    try:
        requests.post(
            settings.XERO_REVOKE_URL,
            auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
            data={"token": refresh_token},
            timeout=settings.EXTERNAL_HTTP_TIMEOUT,
        )
    except requests.RequestException:
        logger.warning("xero: revocation call failed; the grant may outlive the connection")


def keep_only(tokens: TokenSet, chosen: Tenant, tenants: list[Tenant]) -> TokenSet:
    """Narrows the grant to ``chosen`` and returns the tokens to store for it."""
    for other in tenants:
        if other.connection_id != chosen.connection_id:
            remove_tenant_connection(
                access_token=tokens.access_token, connection_id=other.connection_id
            )
    return dataclasses.replace(
        tokens, extra={**tokens.extra, CONNECTION_ID_KEY: chosen.connection_id}
    )

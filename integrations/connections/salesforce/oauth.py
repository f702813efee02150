"""Completing Salesforce's OAuth web-server flow: the code exchange and the identity check.

Kept apart from the views so the HTTP handling there stays thin. Every failure raises
:class:`ConnectError` with a message for people; nothing is stored until all checks passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings
from django.urls import reverse

from integrations.connections.oauth import ConnectError, Flow, oauth_session
from integrations.connections.providers import TokenSet

logger = logging.getLogger(__name__)

SCOPE = "api refresh_token"
PRODUCTION_URL = "https://login.salesforce.com"
TEST_URL = "https://test.salesforce.com"
# Salesforce's own domains: login servers, My Domain (acme.my.salesforce.com) and the
# *.force.com sites. Tokens are sent to whatever host is chosen here, so nothing else passes.
SALESFORCE_DOMAINS = ("salesforce.com", "force.com")


def sandbox_login_urls() -> set[str]:
    """The simulator's URLs; only meaningful (and only accepted) with SANDBOX_ENABLED."""
    if not settings.SANDBOX_ENABLED:
        return set()
    return {
        settings.SANDBOX_BASE_URL.rstrip("/"),
        settings.SALESFORCE_LOGIN_URL.rstrip("/"),
    }


def salesforce_host(hostname: str) -> bool:
    host = hostname.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in SALESFORCE_DOMAINS)


@dataclass(frozen=True)
class Authorised:
    org_id: str
    display_name: str
    tokens: TokenSet


def redirect_uri() -> str:
    return settings.SITE_URL + reverse("salesforce:callback")


def authorization_url(flow: Flow) -> str:
    login_url = str(flow.extra["login_url"])
    session = oauth_session(
        client_id=settings.SALESFORCE_CLIENT_ID,
        client_secret=settings.SALESFORCE_CLIENT_SECRET,
        auth_method="client_secret_post",
    )
    url, _ = session.create_authorization_url(
        f"{login_url}/services/oauth2/authorize",
        redirect_uri=redirect_uri(),
        scope=SCOPE,
        state=flow.state,
        code_challenge=flow.code_challenge,
        code_challenge_method="S256",
    )
    session.close()
    return str(url)


def trusted_url(url: str) -> bool:
    """May a bearer token be sent here? A Salesforce https host, or the enabled sandbox."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin in sandbox_login_urls():
        return True
    return parts.scheme == "https" and salesforce_host(parts.hostname or "")


def org_id_of(identity_url: str) -> str:
    """``.../id/<orgId>/<userId>`` → orgId."""
    segments = urlsplit(identity_url).path.rstrip("/").split("/")
    if len(segments) < 3 or segments[-3] != "id" or not segments[-2]:
        raise ValueError("not an identity URL")
    return segments[-2]


def authorization_complete(*, flow: Flow, code: str) -> Authorised:
    """Exchanges ``code`` for tokens and checks them against the identity service."""
    login_url = str(flow.extra["login_url"])
    data = _exchange(login_url=login_url, code=code, code_verifier=flow.code_verifier)
    instance_url = str(data.get("instance_url") or "").rstrip("/")
    identity_url = str(data.get("id") or "")
    try:
        org_id = org_id_of(identity_url)
    except ValueError:
        org_id = ""
    if not (data.get("refresh_token") and org_id and trusted_url(instance_url)):
        logger.warning("salesforce: token answer incomplete or instance host not trusted")
        raise ConnectError(
            "Salesforce's answer was incomplete",
            "Salesforce signed you in but did not grant offline access (a refresh token), or "
            "answered for an unexpected server. Check that the connected app allows the "
            "“api” and “refresh_token” scopes, then connect again.",
            status=502,
        )
    try:
        tokens = TokenSet.from_response(data)
    except ValueError as exc:
        logger.warning("salesforce: unusable token answer (%s)", exc)
        raise ConnectError(
            "Salesforce's answer was unreadable",
            "Salesforce's login server answered with something CarryTheOne cannot read. "
            "Nothing was connected; try again in a few minutes.",
            status=502,
        ) from exc
    identity = _identity(identity_url, tokens.access_token, org_id)
    host = urlsplit(instance_url).netloc
    username = str(identity.get("username") or "")
    display_name = f"{username} on {host}" if username else host
    extra = {"instance_url": instance_url, "login_url": login_url, "id": identity_url}
    tokens = TokenSet(
        tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes, extra
    )
    return Authorised(org_id=org_id, display_name=display_name[:200], tokens=tokens)


def _exchange(*, login_url: str, code: str, code_verifier: str) -> dict[str, Any]:
    session = oauth_session(
        client_id=settings.SALESFORCE_CLIENT_ID,
        client_secret=settings.SALESFORCE_CLIENT_SECRET,
        auth_method="client_secret_post",
    )
    try:
        data: dict[str, Any] = session.fetch_token(
            f"{login_url}/services/oauth2/token",
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri(),
            code_verifier=code_verifier,
            timeout=settings.EXTERNAL_HTTP_TIMEOUT,
        )
    except OAuthError as exc:
        logger.info("salesforce: code exchange refused (%s)", exc.error)
        if exc.error == "invalid_grant":
            raise ConnectError(
                "The Salesforce sign-in could not be completed",
                "Salesforce refused the authorisation code: it was already used or has "
                "expired (codes last a few minutes). Nothing was connected; start again.",
            ) from exc
        raise ConnectError(
            "Salesforce refused the connection",
            f"Salesforce's token endpoint answered “{exc.error}”"
            + (f": {exc.description}" if exc.description else "")
            + ". Nothing was connected. If this persists, check the connected app's "
            "settings in Salesforce.",
        ) from exc
    except (requests.RequestException, ValueError) as exc:
        logger.warning("salesforce: token endpoint unavailable (%s)", type(exc).__name__)
        raise ConnectError(
            "Salesforce could not be reached",
            "Salesforce's login server did not answer properly (it may be down or "
            "unreachable). Nothing was connected; try again in a few minutes.",
            status=502,
        ) from exc
    finally:
        session.close()
    if not data.get("access_token"):
        raise ConnectError(
            "Salesforce's answer was incomplete",
            "Salesforce did not return an access token. Nothing was connected; try again.",
            status=502,
        )
    return data


def _identity(identity_url: str, access_token: str, org_id: str) -> dict[str, Any]:
    """Proves the new token works and belongs to the org it claims."""
    failed = ConnectError(
        "Salesforce could not confirm the connection",
        "The new Salesforce session could not be verified. Nothing was connected; try "
        "again in a few minutes.",
        status=502,
    )
    if not trusted_url(identity_url):
        raise failed
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(
                identity_url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=settings.EXTERNAL_HTTP_TIMEOUT,
            )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("salesforce: identity check failed (%s)", type(exc).__name__)
        raise failed from exc
    if body.get("organization_id") != org_id:
        logger.warning("salesforce: identity answered for another org")
        raise failed
    return body

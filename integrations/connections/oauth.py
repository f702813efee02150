"""OAuth2 for every provider, in one place: the state of an authorisation in flight (kept in
the user's session) and the calls to token endpoints (authlib over requests).

``begin`` stores a random ``state`` with the PKCE verifier and where the flow belongs (which
account, which integration); the callback ``take``s it exactly once. A callback whose state is
missing, unknown, expired or for another provider is refused before any token is requested.
Each provider's own steps (its authorize URL, code exchange, tenant choice) live in its
package's ``oauth`` module (``connections/xero/oauth.py``, ``connections/salesforce/oauth.py``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.http import HttpRequest

from integrations.connections.providers import ProviderError, ReauthorizationRequired, TokenSet

logger = logging.getLogger(__name__)

SESSION_KEY = "oauth_flows"
FLOW_TTL_SECONDS = 15 * 60
MAX_FLOWS = 5


class ConnectError(Exception):
    """A failed step of a connect flow; ``title`` and ``message`` are shown to the person."""

    def __init__(self, title: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Flow:
    provider: str
    state: str
    # Out of its repr, as TokenSet's tokens (error pages and Sentry show frames' variables).
    code_verifier: str = field(repr=False)
    account_slug: str
    integration_id: int
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def begin(
    request: HttpRequest,
    *,
    provider: str,
    account_slug: str,
    integration_id: int,
    extra: dict[str, Any] | None = None,
) -> Flow:
    flow = Flow(
        provider=provider,
        state=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        account_slug=account_slug,
        integration_id=integration_id,
        started_at=time.time(),
        extra=extra or {},
    )
    flows: dict[str, dict[str, Any]] = dict(request.session.get(SESSION_KEY, {}))
    # Keep a few concurrent flows (two tabs), drop the oldest beyond that.
    for old_state in sorted(flows, key=lambda s: flows[s]["started_at"])[: -MAX_FLOWS + 1]:
        flows.pop(old_state)
    flows[flow.state] = asdict(flow)
    request.session[SESSION_KEY] = flows
    return flow


def take(request: HttpRequest, *, provider: str, state: str | None) -> Flow | None:
    """The flow this callback belongs to, removed from the session; None if not valid."""
    if not state:
        return None
    flows: dict[str, dict[str, Any]] = dict(request.session.get(SESSION_KEY, {}))
    data = flows.pop(state, None)
    request.session[SESSION_KEY] = flows
    # Spent now, whatever the answer: the session middleware does not save a session on a
    # 5xx answer (a provider that answered nonsense is a 502), which would let the link replay.
    request.session.save()
    if data is None:
        return None
    flow = Flow(**data)
    if flow.provider != provider or time.time() - flow.started_at > FLOW_TTL_SECONDS:
        return None
    return flow


# --- token endpoints ----------------------------------------------------------------------


def oauth_session(*, client_id: str, client_secret: str, auth_method: str) -> OAuth2Session:
    session = OAuth2Session(
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=auth_method,
    )
    # Our own retries only: a silently re-sent refresh would burn a rotating refresh token.
    session.trust_env = False
    return session


def refresh_tokens(
    *,
    provider_name: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    auth_method: str,
    refresh_token: str,
) -> TokenSet:
    session = oauth_session(
        client_id=client_id, client_secret=client_secret, auth_method=auth_method
    )
    try:
        data: dict[str, Any] = session.refresh_token(
            token_url, refresh_token=refresh_token, timeout=settings.EXTERNAL_HTTP_TIMEOUT
        )
    except OAuthError as exc:
        if exc.error in {"invalid_grant", "invalid_client", "unauthorized_client"}:
            raise ReauthorizationRequired(
                f"{provider_name} no longer accepts this connection's authorisation "
                f"({exc.error}). Reconnect {provider_name} to resume syncing."
            ) from exc
        raise ProviderError(f"{provider_name} refused the token refresh ({exc.error}).") from exc
    except (requests.RequestException, ValueError) as exc:
        # Timeouts and 5xx (a non-JSON body) are transient; the stored refresh token stays
        # valid for a retry.
        raise ProviderError(
            f"{provider_name} token endpoint unavailable ({type(exc).__name__}); will retry."
        ) from exc
    finally:
        session.close()
    try:
        return TokenSet.from_response(data, previous_refresh=refresh_token)
    except ValueError as exc:
        raise ProviderError(
            f"{provider_name} answered the token refresh with no usable tokens ({exc}); will retry."
        ) from exc

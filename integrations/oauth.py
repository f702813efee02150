"""OAuth2 token-endpoint calls shared by the providers (authlib over requests)."""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from integrations.providers import ProviderError, ReauthorizationRequired, TokenSet

logger = logging.getLogger(__name__)


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
    return TokenSet.from_response(data, previous_refresh=refresh_token)

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import requests
from django.conf import settings

from integrations.connections.oauth import refresh_tokens
from integrations.connections.providers import Provider, TokenSet
from integrations.connections.salesforce.client import salesforce_client

if TYPE_CHECKING:
    from integrations.connections.models import Connection

logger = logging.getLogger(__name__)


class SalesforceProvider(Provider):
    key: ClassVar[str] = "salesforce"
    name: ClassVar[str] = "Salesforce"
    direction: ClassVar[Literal["source", "target"]] = "source"

    @staticmethod
    def _login_url(credentials: dict[str, Any]) -> str:
        # The host the user authorised at (production, test.salesforce.com or My Domain).
        return str(credentials.get("login_url") or settings.SALESFORCE_LOGIN_URL).rstrip("/")

    def refresh(self, *, credentials: dict[str, Any]) -> TokenSet:
        tokens = refresh_tokens(
            provider_name=self.name,
            token_url=f"{self._login_url(credentials)}/services/oauth2/token",
            client_id=settings.SALESFORCE_CLIENT_ID,
            client_secret=settings.SALESFORCE_CLIENT_SECRET,
            auth_method="client_secret_post",
            refresh_token=credentials["refresh_token"],
        )
        # Salesforce answers no expiry; sessions last the org's timeout (2 h by default), and
        # an expired one is refreshed on INVALID_SESSION_ID anyway.
        extra = {"login_url": self._login_url(credentials), **tokens.extra}
        return TokenSet(
            tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes, extra
        )

    def check(self, *, connection: Connection) -> None:
        with salesforce_client(connection) as client:
            client.limits()

    def revoke(self, *, credentials: dict[str, Any], external_id: str) -> None:
        try:
            requests.post(
                f"{self._login_url(credentials)}/services/oauth2/revoke",
                data={"token": credentials.get("refresh_token", "")},
                timeout=settings.EXTERNAL_HTTP_TIMEOUT,
            )
        except requests.RequestException:
            logger.warning("salesforce: revocation call failed")

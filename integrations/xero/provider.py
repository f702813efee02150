from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import requests
from django.conf import settings

from integrations.oauth import refresh_tokens
from integrations.providers import Provider, TokenSet

logger = logging.getLogger(__name__)


class XeroProvider(Provider):
    key: ClassVar[str] = "xero"
    name: ClassVar[str] = "Xero"
    direction: ClassVar[Literal["source", "target"]] = "target"

    def refresh(self, *, credentials: dict[str, Any]) -> TokenSet:
        return refresh_tokens(
            provider_name=self.name,
            token_url=settings.XERO_TOKEN_URL,
            client_id=settings.XERO_CLIENT_ID,
            client_secret=settings.XERO_CLIENT_SECRET,
            auth_method="client_secret_basic",
            refresh_token=credentials["refresh_token"],
        )

    def revoke(self, *, credentials: dict[str, Any]) -> None:
        try:
            requests.post(
                settings.XERO_REVOKE_URL,
                auth=(settings.XERO_CLIENT_ID, settings.XERO_CLIENT_SECRET),
                data={"token": credentials.get("refresh_token", "")},
                timeout=settings.EXTERNAL_HTTP_TIMEOUT,
            )
        except requests.RequestException:
            logger.warning("xero: revocation call failed; the grant may outlive the connection")

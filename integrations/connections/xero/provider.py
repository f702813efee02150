from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.conf import settings

from integrations.connections.oauth import refresh_tokens
from integrations.connections.providers import Provider, TokenSet
from integrations.connections.xero.client import fetch_organisation
from integrations.connections.xero.oauth import (
    CONNECTION_ID_KEY,
    remove_tenant_connection,
    revoke_grant,
)

if TYPE_CHECKING:
    from integrations.connections.models import Connection

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

    def check(self, *, connection: Connection) -> None:
        fetch_organisation(connection)

    def revoke(self, *, credentials: dict[str, Any], external_id: str) -> None:
        # Imported here: the oauth module imports the URLconf helpers, the registry must stay light.
        # The tenant connection first: it needs the access token, which revocation kills.
        # Revoking also drops the grant's connections, so a failed DELETE (an expired access
        # token) still leaves nothing behind at Xero. Both are best effort and never raise.
        connection_id = credentials.get(CONNECTION_ID_KEY)
        access_token = credentials.get("access_token")
        if connection_id and access_token:
            remove_tenant_connection(access_token=access_token, connection_id=str(connection_id))
        refresh_token = credentials.get("refresh_token")
        if refresh_token:
            revoke_grant(str(refresh_token))

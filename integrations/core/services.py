"""The integration's own changes: which connections it uses, its configuration, and what
disconnecting stops. Keyword-only service functions; each writes its audit row.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q

from integrations.connections.models import Connection
from integrations.connections.providers import get_provider
from integrations.core.config import SyncConfig
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_resume


def integration_attach(*, integration: Integration, connection: Connection) -> Integration:
    """Makes ``connection`` the integration's source or target, by its provider's direction."""
    if connection.account_id != integration.account_id:
        raise ValueError("connection and integration belong to different accounts")
    direction = get_provider(connection.provider).direction
    field = "salesforce_connection" if direction == "source" else "xero_connection"
    setattr(integration, field, connection)
    integration.save(update_fields=[field])
    return integration


def connection_disconnect(*, connection: Connection) -> None:
    """Revokes the grant at the provider (best effort) and deletes the connection."""
    provider = get_provider(connection.provider)
    credentials = dict(connection.credentials)
    with transaction.atomic():
        Integration.objects.filter(
            Q(xero_connection=connection) | Q(salesforce_connection=connection)
        ).update(is_enabled=False)
        connection.delete()
    provider.revoke(credentials=credentials, external_id=connection.external_id)


# --- sync scope --------------------------------------------------------------------------------

# Keys that change which opportunities count: after a change the read starts over, so that
# opportunities the old scope left out are found (the ledger keeps everything else unsent).
READ_SCOPE_KEYS = ("stage", "start_date")


def integration_update_config(*, integration: Integration, data: dict[str, Any]) -> Integration:
    """Validates and stores a new configuration; raises ``ConfigError`` naming the bad field."""
    new = SyncConfig.from_json({**(integration.config or {}), **data})
    old = SyncConfig.from_json(integration.config or {})
    fields = ["config"]
    # Keys of other layers (tracking, payments) stay as they were stored.
    integration.config = {**(integration.config or {}), **new.to_json()}
    if any(getattr(old, key) != getattr(new, key) for key in READ_SCOPE_KEYS):
        integration.watermark = None
        fields.append("watermark")
    integration.save(update_fields=fields)
    # A configuration that could not be used paused syncing: a changed one is tried again.
    integration_resume(integration_id=integration.pk, cause=PauseCause.CONFIGURATION)
    return integration

"""The integration's own changes: which connections it uses, its configuration, and what
disconnecting stops. Keyword-only service functions; each writes its audit row.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from integrations.connections.models import Connection
from integrations.connections.providers import get_provider
from integrations.core.models import Integration


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

"""The integration's own changes: which connections it uses, its configuration, and what
disconnecting stops. Keyword-only service functions; each writes its audit row.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
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


def connection_disconnect(*, connection: Connection, user: User | None = None) -> None:
    """Revokes the grant at the provider (best effort) and deletes the connection.

    The integrations using it are switched off (by ``user``): once reconnected, they say so
    rather than looking never set up, and someone switches them on again deliberately.
    """
    provider = get_provider(connection.provider)
    credentials = dict(connection.credentials)
    with transaction.atomic():
        Integration.objects.filter(
            Q(xero_connection=connection) | Q(salesforce_connection=connection), is_enabled=True
        ).update(is_enabled=False, switched_off_at=timezone.now(), switched_off_by=user)
        connection.delete()
    provider.revoke(credentials=credentials, external_id=connection.external_id)

"""``{{ integration|health }}`` and ``{{ connection|connection_state }}`` for the panel's pages."""

from __future__ import annotations

from django import template

from integrations.connections.models import Connection
from integrations.core.health import Health, connection_state, integration_health
from integrations.core.models import Integration

register = template.Library()


@register.filter(name="health")
def health(integration: Integration) -> Health:
    return integration_health(integration)


@register.filter(name="connection_state")
def connection_state_filter(connection: Connection | None) -> tuple[str, str]:
    return connection_state(connection)

"""Read-only for our staff: what was told to a customer, and whether it went."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import ReadOnlyAdmin
from alerts.models import AlertDelivery, Incident


class _ReadOnly(ReadOnlyAdmin):
    """Never made or changed here; deletable, unlike evidence: an incident or a delivery is a
    notification, and the next evaluation opens the incident again if its cause remains."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super(ReadOnlyAdmin, self).has_delete_permission(request, obj)


@admin.register(Incident)
class IncidentAdmin(_ReadOnly):
    list_display = ("summary", "account", "kind", "opened_at", "resolved_at")
    list_filter = ("kind",)
    search_fields = ("summary", "account__name")
    raw_id_fields = ("account", "integration")


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(_ReadOnly):
    list_display = ("subject", "account", "channel", "kind", "created_at", "sent_at", "error")
    list_filter = ("channel", "kind")
    raw_id_fields = ("account", "incident")

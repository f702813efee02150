"""Read-only for our staff: what was told to a customer, and whether it went."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from alerts.models import AlertDelivery, Incident


class _ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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

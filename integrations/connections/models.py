"""Connections to external accounts (a Xero organisation, a Salesforce org) inside an Account.

Registered under the ``integrations`` app (``integrations/models.py`` imports this module).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.connections.crypto import EncryptedJSONField
from integrations.connections.providers import get_provider


class Connection(models.Model):
    """One authorised external account. Its OAuth tokens live encrypted in ``credentials``."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        REVOKED = "revoked", "Revoked"

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="connections"
    )
    provider = models.CharField(max_length=32)
    external_id = models.CharField(
        max_length=64, help_text="The Xero tenant id, or the Salesforce org id."
    )
    display_name = models.CharField(max_length=200)
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    last_error = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    credentials = EncryptedJSONField(default=dict)
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Since when reaching the provider keeps failing (a token refresh, a check); "
        "``last_error`` says why. Cleared by the next success.",
    )
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When a live call last proved the connection works."
    )
    short_code = models.CharField(
        max_length=20,
        blank=True,
        help_text="Xero's organisation ShortCode (from /Organisation): links into Xero's web "
        "app open in this organisation. Empty for Salesforce.",
    )
    refresh_claimed_by = models.CharField(max_length=32, blank=True)
    refresh_claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="One token refresh at a time: the claim of the worker refreshing now.",
    )

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("account", "provider", "external_id"), name="integrations_connection_unique"
            ),
        ]
        ordering = ("provider", "display_name")

    def __str__(self) -> str:
        return f"{self.provider}: {self.display_name}"

    def get_provider_display_name(self) -> str:
        try:
            return get_provider(self.provider).name
        except LookupError:
            return self.provider


class ProviderSettings(models.Model):
    """The cached settings of what one connection reaches: a Xero organisation's tax rates,
    currencies, accounts, tracking and branding, or a Salesforce org's fields and stages.

    ``data`` is the provider's metadata ``to_json()`` (``connections.xero.metadata``,
    ``connections.salesforce.metadata``, through ``connections.metadata_cache``). A failed
    refresh leaves ``data`` and ``fetched_at`` alone and records why in ``last_error``, so the
    rules and the panel keep working on the last good copy.
    """

    connection = models.OneToOneField(
        Connection, on_delete=models.CASCADE, related_name="cached_settings"
    )
    data = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the copy in data was read; empty: stale."
    )
    last_error = models.TextField(blank=True, help_text="Why the last refresh failed, if it did.")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "provider settings"
        verbose_name_plural = "provider settings"

    def __str__(self) -> str:
        return f"settings of connection {self.connection_id}"

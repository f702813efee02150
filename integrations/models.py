"""Connections to external accounts (a Xero organisation, a Salesforce org) inside an Account."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.crypto import EncryptedJSONField


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
    reauth_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When owners were told it needs re-authorisation."
    )
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
        from integrations.providers import get_provider

        try:
            return get_provider(self.provider).name
        except LookupError:
            return self.provider


class Integration(models.Model):
    """One Salesforce org (source) feeding one Xero organisation (target) inside an Account."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="integrations"
    )
    name = models.CharField(max_length=120)
    salesforce_connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    xero_connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_enabled = models.BooleanField(default=False)
    paused_reason = models.CharField(
        max_length=300, blank=True, help_text="Why syncing is paused; empty when it runs."
    )
    config = models.JSONField(default=dict, blank=True)
    watermark = models.DateTimeField(
        null=True, blank=True, help_text="Newest Salesforce SystemModstamp fully processed."
    )
    lifecycle_watermark = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Newest SystemModstamp checked for reopened, lost or deleted opportunities.",
    )
    sync_resume_at = models.DateTimeField(
        null=True, blank=True, help_text="No sync before then: Xero or Salesforce asked us to wait."
    )
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    sync_claimed_by = models.CharField(max_length=100, blank=True)
    last_success_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync run last completed."
    )
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Since when every sync run has failed; empty while syncing works.",
    )
    last_failure = models.TextField(blank=True, help_text="Why the last failed run failed.")
    failure_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When owners were told that syncing is failing; cleared when it recovers.",
    )
    config_problems = models.JSONField(
        default=list,
        blank=True,
        help_text="What the last configuration check found wrong (integrations.setup.validation).",
    )
    config_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the configuration was last checked."
    )
    config_problems_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When owners were told of the current problems; cleared once they are fixed.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

    @property
    def is_running(self) -> bool:
        return self.is_enabled and not self.paused_reason

    @property
    def config_required_summary(self) -> str:
        """One line for the "Configuration required" badge: what the stored configuration
        problems hold back; ``""`` when nothing is (no problem, or only advisory ones).

        Reads the problems as loaded (no query), so it is cheap in a list of integrations.
        """
        # Imported here: the validation module imports this one.
        from integrations.setup.validation import BEHAVIOUR_LABELS, BEHAVIOURS, paused_behaviours

        held = paused_behaviours(self)
        names = [BEHAVIOUR_LABELS[b].lower() for b in BEHAVIOURS if b in held]
        if not names:
            return ""
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        if self.is_enabled:
            return f"Holding back {listed} until the settings match Xero and Salesforce again."
        return f"Settings for {listed} to fix before syncing can be switched on."


# The sync's models live in integrations/sync/models.py, the accounting rules' in
# integrations/rules/models.py, the configuration audit in integrations/setup/models.py;
# imported here so Django registers them under this app.
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule  # noqa: E402
from integrations.setup.models import ConfigChange  # noqa: E402
from integrations.sync.models import (  # noqa: E402
    Backfill,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
)

__all__ = [
    "Backfill",
    "ConfigChange",
    "Connection",
    "CreditNoteEntry",
    "Integration",
    "LedgerEntry",
    "PaymentEntry",
    "PaymentMethod",
    "SyncLogEntry",
    "SyncRun",
    "TaxRule",
    "TrackingRule",
]

"""The integration itself (one Salesforce org feeding one Xero organisation inside an Account)
and the audit of its configuration.

Registered under the ``integrations`` app (``integrations/models.py`` imports this module).
Configuration audit rows are written only by the core's services, which never record a
credential: the configuration holds none, and values are shortened before they are stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.core.behaviours import config_required_summary


class PauseCause(models.TextChoices):
    """Why an integration that is on does not sync (see ``integrations.core.pauses``)."""

    REAUTHORISATION = "reauthorisation", "Re-authorisation needed"
    BILLING = "billing", "Billing"
    RATE_LIMIT = "rate_limit", "Rate limit"
    CONFIGURATION = "configuration", "Configuration"
    PERSON = "person", "Paused by a person"


class Integration(models.Model):
    """One Salesforce org (source) feeding one Xero organisation (target) inside an Account."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="integrations"
    )
    name = models.CharField(max_length=120)
    salesforce_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    xero_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    is_enabled = models.BooleanField(default=False)
    switched_off_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a person last switched syncing off; cleared when it is switched on.",
    )
    switched_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who switched syncing off (empty: the system, e.g. a disconnect, or a deleted "
        "user).",
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
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    sync_claimed_by = models.CharField(max_length=100, blank=True)
    sync_fence = models.BigIntegerField(
        default=0,
        help_text="Grows with every claim: a write whose intent carries an older value is "
        "refused, so a worker that lost its claim stops before its next write.",
    )
    last_success_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync run last completed."
    )
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Since when every sync run has failed; empty while syncing works.",
    )
    last_failure = models.TextField(blank=True, help_text="Why the last failed run failed.")
    config_problems = models.JSONField(
        default=list,
        blank=True,
        help_text="What the last configuration check found wrong (integrations.setup.validation).",
    )
    config_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the configuration was last checked."
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
        """On, both connections usable, and nothing pausing it (prefetch ``pauses`` in lists)."""
        return (
            self.is_enabled
            and self.xero_connection_id is not None
            and self.salesforce_connection_id is not None
            and not self.blocked_connections()
            and not self.active_pauses()
        )

    def blocked_connections(self) -> list[Any]:
        """Its connections that need re-authorisation (as loaded; select_related them)."""
        return [
            connection
            for connection in (self.xero_connection, self.salesforce_connection)
            if connection is not None and connection.status != "active"
        ]

    def active_pauses(self, now: dt.datetime | None = None) -> list[IntegrationPause]:
        """The stored pauses in force (uses ``prefetch_related("pauses")`` when done)."""
        moment = now or timezone.now()
        return [pause for pause in self.pauses.all() if pause.is_active(moment)]

    @property
    def config_required_summary(self) -> str:
        """One line for the "Configuration required" badge: what the stored configuration
        problems hold back; ``""`` when nothing is (no problem, or only advisory ones).

        Reads the problems as loaded (no query), so it is cheap in a list of integrations.
        """
        return config_required_summary(self)


class ConfigChange(models.Model):
    """One changed setting, or one created, changed or deleted rule field."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="config_changes"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the change; empty for the system or a deleted user.",
    )
    at = models.DateTimeField(default=timezone.now)
    what = models.CharField(
        max_length=300,
        help_text='e.g. "config.invoice_status", "payment_methods:Credit Card.apply_payment", '
        '"tax_rules:US/TX" (created or deleted).',
    )
    old = models.TextField(blank=True, help_text="The value before, as short readable text.")
    new = models.TextField(blank=True, help_text="The value after, as short readable text.")

    class Meta:
        ordering = ("-at", "-id")
        indexes: ClassVar = [
            models.Index(fields=["integration", "-at"], name="integrations_config_chg_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.what}: {self.old} → {self.new}"


class IntegrationPause(models.Model):
    """One reason syncing is paused, set and lifted on its own: billing lifts only its pause,
    a rate limit's pause lifts itself at ``until``, a person resumes what a person paused.

    Re-authorisation is not stored here: it follows from the connections' status.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="pauses")
    cause = models.CharField(max_length=16, choices=PauseCause.choices)
    message = models.TextField(help_text="Why, for the people reading the panel.")
    since = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Lifts itself then (a rate limit's wait); empty: until lifted.",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "cause"), name="core_one_pause_per_cause"
            )
        ]
        ordering = ("since",)

    def __str__(self) -> str:
        return f"{self.get_cause_display()}: {self.message[:60]}"

    def is_active(self, now: dt.datetime | None = None) -> bool:
        return self.until is None or self.until > (now or timezone.now())

"""Incidents, the messages that told them (the history), and each account's alert settings."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.connections.crypto import EncryptedJSONField, mask


class IncidentKind(models.TextChoices):
    REAUTH = "reauth", "Reconnection needed"
    CONFIG_PROBLEM = "config_problem", "Configuration problem"
    FAILURES = "failures", "Failed records"
    STALLED = "stalled", "Nothing synced"
    SYNC_FAILING = "sync_failing", "Syncing failing"


class Incident(models.Model):
    """One problem of one integration, from when it was first seen until it cleared.

    At most one is open per (integration, kind, key) — the database says so — so two workers
    evaluating at once cannot open it twice; once resolved, the same problem again is a new
    incident. Every kind concerns one integration, which is why ``integration`` is required:
    the one-open constraint then holds on SQLite and PostgreSQL alike (NULLs are distinct).
    """

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=IncidentKind.choices)
    key = models.CharField(
        max_length=64, blank=True, help_text='Tells incidents of one kind apart ("xero").'
    )
    summary = models.CharField(max_length=300)
    detail = models.TextField(blank=True, help_text="What is wrong and what it holds back.")
    fix_label = models.CharField(max_length=80, blank=True)
    fix_path = models.CharField(max_length=500, blank=True, help_text="The page that fixes it.")
    affected = models.PositiveIntegerField(
        default=0, help_text="Records concerned when last seen (failures, waiting deals)."
    )
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When its opening message was queued."
    )
    recovery_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When its recovery message was queued."
    )

    class Meta:
        ordering = ("-opened_at", "-id")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "kind", "key"),
                condition=Q(resolved_at__isnull=True),
                name="alerts_one_open_incident",
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=("account", "resolved_at"), name="alerts_incident_open_idx"),
            models.Index(fields=("integration", "resolved_at"), name="alerts_incident_intg_idx"),
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def fix_url(self) -> str:
        return f"{settings.SITE_URL}{self.fix_path}" if self.fix_path else ""


class AlertDelivery(models.Model):
    """One message on one channel: what was said, to whom, and whether it went.

    At most one opening and one recovery message per incident and channel (constraint), and
    one digest per account, channel and day: a repeated evaluation or a second worker never
    sends one twice.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RECOVERED = "recovered", "Recovered"
        DIGEST = "digest", "Daily digest"
        TEST = "test", "Test message"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    to = models.CharField(
        max_length=1000, help_text="Email addresses, or the webhook as shown masked."
    )
    subject = models.CharField(max_length=300)
    body = models.TextField()
    digest_for = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(
        max_length=500, blank=True, help_text="Why the last attempt failed (never the URL)."
    )

    class Meta:
        ordering = ("-created_at", "-id")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("incident", "channel", "kind"),
                condition=Q(incident__isnull=False),
                name="alerts_one_message_per_incident",
            ),
            models.UniqueConstraint(
                fields=("account", "channel", "digest_for"),
                condition=Q(kind="digest"),
                name="alerts_one_digest_a_day",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=("account", "-created_at"), name="alerts_delivery_account_idx"),
            models.Index(
                fields=("created_at",),
                condition=Q(sent_at__isnull=True),
                name="alerts_delivery_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_kind_display()}: {self.subject}"

    @property
    def status(self) -> str:
        if self.sent_at is not None:
            return "sent"
        return "failed" if self.error else "queued"


class AlertSettings(models.Model):
    """How one account wants to be told. Email to owners and admins is always on."""

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    slack_webhook = EncryptedJSONField(
        null=True,
        blank=True,
        help_text='{"url": ...}, encrypted: the URL is the credential of the Slack channel.',
    )
    daily_digest = models.BooleanField(
        default=False, help_text="Email owners and admins a summary every morning."
    )
    failure_threshold = models.PositiveIntegerField(
        default=10, help_text="Records waiting for a person before it is an incident."
    )
    stalled_after_minutes = models.PositiveIntegerField(
        default=60,
        help_text="Minutes without a completed sync, while deals wait, before it is an incident.",
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.account_id}"

    @property
    def slack_url(self) -> str:
        return str((self.slack_webhook or {}).get("url", ""))

    @property
    def slack_masked(self) -> str:
        return mask(self.slack_url)

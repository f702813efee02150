"""The sync's memory: the ledger (Salesforce id ↔ Xero ids), runs, and per-record log entries.

The database is the truth and Celery messages are hints (ARCHITECTURE §7): everything pending
can be re-found here, so a lost message delays work but never loses it.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class LedgerEntry(models.Model):
    """One opportunity of one integration, and what Xero holds for it.

    Exactly once toward Xero: the intent (``state=SENDING`` with its ``idempotency_key`` and
    ``content_hash``) is committed before the call, and the Xero ids are recorded in the same
    transaction that marks it done. A row left ``SENDING`` by a crash is ``UNKNOWN`` until a
    lookup (by idempotency replay or by ``Reference``) settles it — never blindly re-sent.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        UNKNOWN = "unknown", "Outcome unknown; being checked"
        SYNCED = "synced", "In Xero"
        FAILED = "failed", "Failed"
        NEEDS_ATTENTION = "needs_attention", "Needs a person"
        DISMISSED = "dismissed", "Dismissed"
        WITHDRAWN = "withdrawn", "No longer won; nothing in Xero"

    class Withdrawal(models.TextChoices):
        """Why an opportunity stopped counting after we first saw it as won."""

        NONE = "", "Still counts"
        REOPENED = "reopened", "Reopened"
        LOST = "lost", "Closed lost"
        DELETED = "deleted", "Deleted"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="ledger"
    )
    salesforce_id = models.CharField(max_length=18)
    opportunity_name = models.CharField(max_length=255, blank=True)
    system_modstamp = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    content_hash = models.CharField(max_length=64, blank=True)
    """Hash of the invoice last sent (or being sent): unchanged content means no write."""
    idempotency_key = models.CharField(max_length=128, blank=True)
    xero_contact_id = models.CharField(max_length=36, blank=True)
    xero_invoice_id = models.CharField(max_length=36, blank=True)
    xero_invoice_number = models.CharField(max_length=255, blank=True)
    sent_reference = models.CharField(max_length=255, blank=True)
    """The Reference (and below, the number) of the invoice last sent: what a lookup after an
    unknown outcome searches for, without needing Salesforce."""
    sent_invoice_number = models.CharField(max_length=255, blank=True)
    withdrawn = models.CharField(
        max_length=16, choices=Withdrawal.choices, default=Withdrawal.NONE, blank=True
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "salesforce_id"), name="sync_ledger_unique_opportunity"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=("integration", "state"))]

    def __str__(self) -> str:
        return f"{self.salesforce_id} → {self.xero_invoice_number or self.state}"


class SyncRun(models.Model):
    """One execution of the sync for one integration."""

    class Trigger(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        PUSH = "push", "Change notification"
        MANUAL = "manual", "Started by a person"
        BACKFILL = "backfill", "Back-fill"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Some records failed"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="runs"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    xero_calls = models.PositiveIntegerField(default=0)
    salesforce_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole run failed, if it did.")
    retry_after = models.DateTimeField(
        null=True, blank=True, help_text="Xero or Salesforce asked us to wait until then."
    )

    class Meta:
        ordering = ("-started_at",)
        indexes: ClassVar = [models.Index(fields=("integration", "-started_at"))]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.integration_id} ({self.status})"


class SyncLogEntry(models.Model):
    """The readable outcome of one record in one run. Failures stay until fixed or dismissed."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        ATTENTION = "attention", "Needs a person"
        WARNING = "warning", "Warning"
        RESOLVED = "resolved", "Resolved"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="entries")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="log_entries"
    )
    ledger = models.ForeignKey(
        LedgerEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="log"
    )
    salesforce_id = models.CharField(max_length=18, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-created_at", "-id")
        indexes: ClassVar = [models.Index(fields=("integration", "outcome", "-created_at"))]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.message[:60]}"


class Backfill(models.Model):
    """An explicit request to import won opportunities that closed since a date.

    Polling only reads what changed since the integration started (or since its start date):
    history is imported only when a person asks for it, here, with progress to watch. A
    back-fill runs inside the normal sync runs (same claim, same ledger, so nothing is sent
    twice) and continues across runs until its read reaches the end.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="backfills"
    )
    since = models.DateField(help_text="Opportunities closing on or after this date.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    watermark = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration",),
                condition=models.Q(status="running"),
                name="sync_one_running_backfill",
            ),
        ]

    def __str__(self) -> str:
        return f"Back-fill since {self.since} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed / self.total))


OPEN_OUTCOMES = (SyncLogEntry.Outcome.FAILED, SyncLogEntry.Outcome.ATTENTION)
"""What a person must look at: listed under "needs attention" until resolved or dismissed."""

"""A customer's conversation with CarryTheOne's team, about one account (and integration).

What the customer asked about is copied at submission (:class:`SupportRecordSnapshot`): the
log may have moved on, or been pruned, by the time someone answers. Copies carry names, ids,
states and error text run through :func:`support.scrub.scrub` — never a token, never a body.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class SupportRequest(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open: with CarryTheOne"
        WAITING = "waiting", "Waiting on the customer"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    # What the customer reads in the panel: the same states, from their side.
    CUSTOMER_STATUS: ClassVar[dict[str, str]] = {
        Status.OPEN: "Waiting for CarryTheOne",
        Status.WAITING: "Waiting for your reply",
        Status.ANSWERED: "Answered",
        Status.CLOSED: "Closed",
    }

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="support_requests"
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_requests",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    grant = models.ForeignKey(
        "accounts.SupportAccessGrant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The read-only access the customer granted with this request, if any.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(
        default=timezone.now, help_text="When the last message was written or the status set."
    )

    class Meta:
        ordering = ("-updated_at", "-id")
        indexes: ClassVar = [
            models.Index(fields=("account", "-updated_at"), name="support_req_account_idx"),
            models.Index(fields=("status", "-updated_at"), name="support_req_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def get_absolute_url(self) -> str:
        return reverse(
            "support:detail",
            kwargs={"account_slug": self.account.slug, "request_id": self.pk},
        )

    @property
    def customer_status(self) -> str:
        return self.CUSTOMER_STATUS[self.status]

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class SupportMessage(models.Model):
    request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    from_staff = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        indexes: ClassVar = [
            models.Index(fields=("request", "created_at"), name="support_msg_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{'Staff' if self.from_staff else 'Customer'} message on #{self.request_id}"


class SupportRecordSnapshot(models.Model):
    """One record the customer asked about, as the log showed it when they asked."""

    request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="records")
    ledger = models.ForeignKey(
        "integrations.LedgerEntry",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    salesforce_id = models.CharField(max_length=18, blank=True)
    opportunity_name = models.CharField(max_length=255, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=64, blank=True, help_text="The record's state, readable.")
    step = models.CharField(max_length=24, blank=True)
    outcome = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True, help_text="Scrubbed of anything like a secret.")
    error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.opportunity_name or self.salesforce_id or f"record {self.pk}"

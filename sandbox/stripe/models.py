"""Simulated Stripe: accounts (API keys), API objects, idempotency records and webhook deliveries.

Every API object is kept as the JSON Stripe would answer with (``StripeObject.data``), with the
few fields the simulator looks objects up by copied into columns: Stripe's objects are documents,
and keeping them whole makes their shapes exactly the answers' shapes.
"""

from __future__ import annotations

from django.db import models


class StripeAccount(models.Model):
    """A Stripe account in test mode: its secret key and its billing settings."""

    class AfterRetries(models.TextChoices):
        # Stripe's setting "if all retries for a payment fail" (Billing > Revenue recovery).
        CANCEL = "cancel", "Cancel the subscription"
        UNPAID = "unpaid", "Mark the subscription as unpaid"
        PAST_DUE = "past_due", "Leave the subscription past due"

    name = models.CharField(max_length=200)
    secret_key = models.CharField(max_length=200, unique=True)
    # The API version of events and of answers to requests that name none.
    api_version = models.CharField(max_length=40)
    after_retries = models.CharField(
        max_length=10, choices=AfterRetries.choices, default=AfterRetries.CANCEL
    )
    # Seconds added to wall time for customers without a test clock ("advance N days").
    clock_offset = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class StripeObject(models.Model):
    """One API object (customer, price, subscription, invoice, event...), as Stripe shows it."""

    account = models.ForeignKey(
        StripeAccount, on_delete=models.CASCADE, related_name="stripe_objects"
    )
    id = models.CharField(max_length=255, primary_key=True)
    kind = models.CharField(max_length=60)
    created = models.BigIntegerField()
    customer = models.CharField(max_length=255, blank=True, db_index=True)
    subscription = models.CharField(max_length=255, blank=True, db_index=True)
    # Nanoseconds at creation: lists are newest first even within one second.
    seq = models.BigIntegerField(default=0)
    data = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["account", "kind", "created"], name="sbx_stripe_obj_kind")]

    def __str__(self) -> str:
        return self.id


class IdempotencyRecord(models.Model):
    """A POST's answer, replayed for 24 hours to a retry with the same ``Idempotency-Key``."""

    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    params = models.JSONField()
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="sbx_stripe_idem_uniq")
        ]

    def __str__(self) -> str:
        return self.key


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one webhook endpoint, with its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE)
    event_id = models.CharField(max_length=255, db_index=True)
    event_type = models.CharField(max_length=100)
    endpoint_id = models.CharField(max_length=255)
    url = models.URLField(max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.url}"

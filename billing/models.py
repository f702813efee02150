"""Subscriptions. The trial starts at signup; plans and payment arrive with the billing work."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Subscription(models.Model):
    class Status(models.TextChoices):
        TRIALING = "trialing", "Free trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Trial ended"

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, related_name="subscription"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIALING)
    trial_ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account} ({self.status})"

    @property
    def trial_days_left(self) -> int:
        remaining = self.trial_ends_at - timezone.now()
        return max(0, remaining.days + (1 if remaining.seconds else 0))

    @property
    def in_trial(self) -> bool:
        return self.status == self.Status.TRIALING and self.trial_ends_at > timezone.now()

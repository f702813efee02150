"""Plans and their prices (data, edited in the operator admin), subscriptions, the trial's
notices, and which business already had a free trial.

Nothing here imports ``accounts`` at run time: ``accounts.services`` imports
``billing.services``, so accounts are named by their app label only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from billing.pricing import BandPrice, PlanPrices, TierPrice


class Plan(models.Model):
    """A price list: what a month costs per switched-on integration, plus a volume premium."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    currency = models.CharField(max_length=3, default="GBP")
    is_active = models.BooleanField(
        default=True, help_text="Offered on the pricing page and to new subscriptions."
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.name

    def prices(self) -> PlanPrices:
        """The plan as plain values, for :func:`billing.pricing.breakdown`."""
        return PlanPrices(
            name=self.name,
            currency=self.currency,
            tiers=tuple(
                TierPrice(
                    first=tier.first_integration,
                    last=tier.last_integration,
                    unit_amount=tier.unit_amount,
                )
                for tier in self.tiers.all()
            ),
            bands=tuple(
                BandPrice(above=band.above_invoices, monthly_amount=band.monthly_amount)
                for band in self.volume_bands.all()
            ),
        )


class PlanTier(models.Model):
    """The monthly price of each integration numbered ``first``..``last`` (empty: and up)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="tiers")
    first_integration = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    last_integration = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: this price applies from the first one on."
    )
    unit_amount = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Monthly price of each integration in this tier.",
    )

    class Meta:
        ordering = ("plan", "first_integration")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("plan", "first_integration"), name="billing_tier_first_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(last_integration__isnull=True)
                | models.Q(last_integration__gte=models.F("first_integration")),
                name="billing_tier_range_valid",
            ),
        ]

    def __str__(self) -> str:
        last = self.last_integration or "∞"
        return f"{self.plan.code}: integrations {self.first_integration} to {last}"


class VolumeBand(models.Model):
    """A monthly premium for an account that created more than ``above_invoices`` invoices in
    Xero in the last 30 days. Only the highest band reached applies."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="volume_bands")
    above_invoices = models.PositiveIntegerField(
        help_text="Applies when more invoices than this were created in a rolling 30 days."
    )
    monthly_amount = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        ordering = ("plan", "above_invoices")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("plan", "above_invoices"), name="billing_band_above_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code}: over {self.above_invoices} invoices"


class Subscription(models.Model):
    """An account's standing: its trial, then (through Stripe) its paid subscription.

    The ``stripe_*`` fields, ``current_period_end``, ``past_due_since`` and
    ``last_event_created`` are filled by the Stripe webhooks (the state machine driven by
    Stripe's events); ``last_event_created`` lets an older event arriving late change nothing.
    """

    class Status(models.TextChoices):
        TRIALING = "trialing", "Free trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Trial ended"

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="subscriptions"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIALING)
    trial_ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    last_event_created = models.DateTimeField(
        null=True, blank=True, help_text="Stripe's created time of the last event applied."
    )
    canceled_at = models.DateTimeField(null=True, blank=True)
    # What Stripe bills now, as we last set it: changed only when our counts differ.
    quantity = models.PositiveIntegerField(
        default=0, help_text="Integrations billed (the tiered item's quantity)."
    )
    stripe_seats_item_id = models.CharField(max_length=255, blank=True)
    stripe_volume_item_id = models.CharField(max_length=255, blank=True)
    volume_band_above = models.PositiveIntegerField(
        null=True, blank=True, help_text="The volume band billed (its threshold); empty: none."
    )

    def __str__(self) -> str:
        return f"{self.account} ({self.status})"

    @property
    def trial_days_left(self) -> int:
        remaining = self.trial_ends_at - timezone.now()
        return max(0, remaining.days + (1 if remaining.seconds else 0))

    @property
    def in_trial(self) -> bool:
        return self.status == self.Status.TRIALING and self.trial_ends_at > timezone.now()

    @property
    def is_paid(self) -> bool:
        """A subscription someone pays for (past due is still within Stripe's retries)."""
        return self.status in {self.Status.ACTIVE, self.Status.PAST_DUE}


class TrialNotice(models.Model):
    """One trial email sent to a subscription's owners; the unique pair makes it once each."""

    ENDED: ClassVar[str] = "ended"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="trial_notices"
    )
    kind = models.CharField(max_length=16, help_text='"days-7", "days-1"... or "ended".')
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("subscription", "kind"), name="billing_trial_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} notice of {self.subscription_id}"

    @staticmethod
    def kind_for_days(days: int) -> str:
        return f"days-{days}"


class TrialClaim(models.Model):
    """A Xero organisation or Salesforce org that had its free trial, and under which account.

    Kept when that account is deleted (the account becomes empty): the business has still had
    its trial. Only the provider's id of the organisation is kept, nothing about its data.
    """

    class Provider(models.TextChoices):
        XERO = "xero", "Xero organisation"
        SALESFORCE = "salesforce", "Salesforce org"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField(
        max_length=64, help_text="The Xero tenant id, or the Salesforce org id."
    )
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="trial_claims",
    )
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("provider", "external_id"), name="billing_trial_claim_unique"
            ),
        ]
        ordering = ("-claimed_at",)

    def __str__(self) -> str:
        return f"{self.provider} {self.external_id}"


class StripeEvent(models.Model):
    """A webhook event, stored once its signature was verified and before it is processed.

    The unique Stripe id makes a replay or a duplicate delivery a no-op; ``processed_at`` and
    ``outcome`` say what became of it (the admin shows them).
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (a type we do not use)"
        UNKNOWN = "unknown", "For a customer or subscription we do not know"
        STALE = "stale", "Older than what was applied"
        FAILED = "failed", "Failed"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="Stripe's time of the event.")
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    message = models.TextField(blank=True)
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stripe_events",
    )

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.outcome})"


class PaymentFailure(models.Model):
    """A renewal Stripe could not charge: one row, and one email to the owners, per invoice."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="payment_failures"
    )
    invoice_id = models.CharField(max_length=255, unique=True)
    failed_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-failed_at",)

    def __str__(self) -> str:
        return f"{self.invoice_id} of {self.subscription_id}"

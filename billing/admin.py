"""Plans, tiers and volume bands are edited here: prices are data, never code."""

from django.contrib import admin
from django.http import HttpRequest

from billing.models import (
    Plan,
    PlanTier,
    StripeEvent,
    Subscription,
    TrialClaim,
    TrialNotice,
    VolumeBand,
)


class PlanTierInline(admin.TabularInline[PlanTier, Plan]):
    model = PlanTier
    extra = 0


class VolumeBandInline(admin.TabularInline[VolumeBand, Plan]):
    model = VolumeBand
    extra = 0


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin[Plan]):
    list_display = ("code", "name", "currency", "is_active")
    list_filter = ("is_active",)
    inlines = (PlanTierInline, VolumeBandInline)


class TrialNoticeInline(admin.TabularInline[TrialNotice, Subscription]):
    model = TrialNotice
    extra = 0
    readonly_fields = ("kind", "sent_at")
    can_delete = False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("account", "plan", "status", "trial_ends_at", "current_period_end")
    list_filter = ("status", "plan")
    search_fields = ("account__name", "stripe_customer_id", "stripe_subscription_id")
    raw_id_fields = ("account",)
    inlines = (TrialNoticeInline,)


@admin.register(TrialClaim)
class TrialClaimAdmin(admin.ModelAdmin[TrialClaim]):
    list_display = ("provider", "external_id", "account", "claimed_at")
    list_filter = ("provider",)
    search_fields = ("external_id", "account__name")
    raw_id_fields = ("account",)


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin[StripeEvent]):
    """What each Stripe webhook did: read-only, the events are Stripe's record."""

    list_display = ("event_id", "type", "created", "outcome", "processed_at", "subscription")
    list_filter = ("outcome", "type")
    search_fields = ("event_id",)
    readonly_fields = (
        "event_id",
        "type",
        "created",
        "payload",
        "received_at",
        "processed_at",
        "outcome",
        "message",
        "subscription",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

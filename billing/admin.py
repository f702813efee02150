from django.contrib import admin

from billing.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("account", "status", "trial_ends_at")
    list_filter = ("status",)

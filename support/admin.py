"""Our team's side of support: read the request and the records it names, answer, set status.

The conversation and the copied records are evidence and read-only here; an answer is typed
into "Reply" and goes through ``support.services.support_reply`` (status answered, unless
another status is chosen with it, and an email to the customer who asked).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import User
from support.models import SupportMessage, SupportRecordSnapshot, SupportRequest
from support.services import support_reply


class SupportMessageInline(admin.TabularInline[SupportMessage, SupportRequest]):
    model = SupportMessage
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "from_staff", "body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SupportRecordSnapshotInline(admin.TabularInline[SupportRecordSnapshot, SupportRequest]):
    model = SupportRecordSnapshot
    extra = 0
    can_delete = False
    fields = (
        "opportunity_name",
        "salesforce_id",
        "customer_name",
        "state",
        "outcome",
        "step",
        "last_error",
        "error_at",
        "ledger",
    )
    readonly_fields = fields
    verbose_name = "record in question"
    verbose_name_plural = "records in question (copied when the request was made)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SupportRequestForm(forms.ModelForm[SupportRequest]):
    reply = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Sent to the customer by email and shown in their panel. Saving a reply sets "
        "the status to Answered, unless you choose another status with it.",
    )

    class Meta:
        model = SupportRequest
        fields = ("status",)


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin[SupportRequest]):
    form = SupportRequestForm
    list_display = ("id", "subject", "account", "integration", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("subject", "account__name", "account__slug", "opened_by__email")
    list_select_related = ("account", "integration")
    readonly_fields = (
        "account_link",
        "integration",
        "opened_by",
        "subject",
        "access",
        "created_at",
        "updated_at",
    )
    fields = (*readonly_fields, "status", "reply")
    inlines = (SupportMessageInline, SupportRecordSnapshotInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Account")
    def account_link(self, obj: SupportRequest) -> str:
        change = reverse("admin:accounts_account_change", args=[obj.account_id])
        view_as = reverse("admin:accounts_account_view_as", args=[obj.account_id])
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">View as support</a>', change, obj.account, view_as
        )

    @admin.display(description="Read-only access")
    def access(self, obj: SupportRequest) -> str:
        grant = obj.grant
        if grant is None:
            return "Not granted with this request"
        return f"{grant.status.capitalize()} (until {grant.expires_at:%Y-%m-%d %H:%M} UTC)"

    def save_model(
        self, request: HttpRequest, obj: SupportRequest, form: Any, change: bool
    ) -> None:
        reply = form.cleaned_data.get("reply", "").strip()
        if not reply:
            obj.updated_at = timezone.now()
            super().save_model(request, obj, form, change)
            return
        assert isinstance(request.user, User)
        chosen = obj.status if "status" in form.changed_data else None
        support_reply(
            support_request=obj,
            author=request.user,
            body=reply,
            from_staff=True,
            status=chosen,
        )

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from accounts.models import (
    Account,
    AccountAuditEntry,
    Invitation,
    Membership,
    SupportAccessGrant,
    User,
)
from accounts.staff_access import (
    REASON_MAX_LENGTH,
    StaffAccessError,
    can_view_any_account,
    staff_view_start,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):  # type: ignore[type-var]  # email, no username
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()
    list_filter = ("is_staff", "is_active")


class MembershipInline(admin.TabularInline[Membership, Account]):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ("name", "slug", "created_at", "closed_at", "delete_after")
    list_filter = ("closed_at",)
    search_fields = ("name", "slug")
    inlines = (MembershipInline,)
    change_form_template = "admin/accounts/account/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        view_as = path(
            "<path:object_id>/view-as/",
            self.admin_site.admin_view(self.view_as),
            name="accounts_account_view_as",
        )
        return [view_as, *super().get_urls()]

    def view_as(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Starts a read-only view of the account as support (accounts.staff_access)."""
        account = self.get_object(request, object_id)
        if account is None or not self.has_view_permission(request, account):
            raise Http404
        assert isinstance(request.user, User)
        form = ViewAsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                staff_view_start(
                    session=request.session,
                    user=request.user,
                    account=account,
                    reason=form.cleaned_data["reason"],
                )
            except StaffAccessError as exc:
                messages.error(request, str(exc))
            else:
                return redirect(account)
        context = {
            **self.admin_site.each_context(request),
            "title": f"View {account.name} as support",
            "opts": self.opts,
            "original": account,
            "form": form,
            "grant": SupportAccessGrant.objects.active()
            .filter(account=account)
            .order_by("-expires_at")
            .select_related("granted_by")
            .first(),
            "can_view_any": can_view_any_account(request.user),
            "max_minutes": settings.VIEW_AS_MAX_SECONDS // 60,
        }
        return TemplateResponse(request, "admin/accounts/account/view_as.html", context)


class ViewAsForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the account's owners in its audit log. Required without their grant.",
    )


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Evidence, not settings: staff read these rows and never make, change or delete them
    (a grant made here would let staff let themselves in)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SupportAccessGrant)
class SupportAccessGrantAdmin(ReadOnlyAdmin):
    list_display = ("account", "granted_by", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("account__name", "account__slug")
    list_select_related = ("account", "granted_by")


@admin.register(AccountAuditEntry)
class AccountAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "account", "kind", "actor_email", "page_views")
    list_filter = ("kind",)
    search_fields = ("account__name", "account__slug", "actor_email")
    list_select_related = ("account",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ("email", "account", "role", "created_at", "expires_at", "accepted_at")
    search_fields = ("email", "account__name")
    exclude = ("token_hash",)
    raw_id_fields = ("account", "invited_by", "accepted_by")

"""The account's side of CarryTheOne staff access: its audit log, granting and revoking, and
the end of a staff member's view (the banner's "Stop")."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.forms import PlainLabelsMixin
from accounts.models import AccountAuditEntry, Role, SupportAccessGrant, User
from accounts.staff_access import (
    StaffAccessError,
    staff_view_stop,
    support_grant_create,
    support_grant_revoke,
)

AUDIT_PAGE_ROWS = 100


class SupportGrantForm(PlainLabelsMixin, forms.Form):
    hours = forms.TypedChoiceField(
        label="Let CarryTheOne staff view this account, read-only, for",
        coerce=int,
        choices=SupportAccessGrant.Duration.choices,
    )


@account_view(Role.ADMIN)
def audit_log(request: AccountRequest) -> HttpResponse:
    """Who from CarryTheOne looked at the account and under which grant, newest first."""
    context = {
        "grants": SupportAccessGrant.objects.filter(account=request.account).select_related(
            "granted_by", "revoked_by"
        )[:20],
        "entries": AccountAuditEntry.objects.filter(account=request.account).select_related(
            "grant"
        )[:AUDIT_PAGE_ROWS],
        "audit_rows": AUDIT_PAGE_ROWS,
        "form": SupportGrantForm(),
        "view_as_max_minutes": settings.VIEW_AS_MAX_SECONDS // 60,
    }
    return render(request, "accounts/audit_log.html", context)


@account_view(Role.ADMIN)
@require_POST
def support_grant_new(request: AccountRequest) -> HttpResponse:
    form = SupportGrantForm(request.POST)
    if form.is_valid():
        try:
            grant = support_grant_create(
                account=request.account, user=request.user, hours=form.cleaned_data["hours"]
            )
        except StaffAccessError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"CarryTheOne staff may view the account read-only until "
                f"{grant.expires_at:%d %b %Y %H:%M} (UTC).",
            )
    else:
        messages.error(request, "Choose how long the access lasts.")
    return redirect("accounts:audit", account_slug=request.account.slug)


@account_view(Role.ADMIN)
@require_POST
def support_grant_revoke_view(request: AccountRequest, grant_id: int) -> HttpResponse:
    grant = get_for_account(SupportAccessGrant, request.account, pk=grant_id)
    if support_grant_revoke(grant=grant, user=request.user):
        messages.success(request, "Revoked: CarryTheOne staff can no longer view the account.")
    return redirect("accounts:audit", account_slug=request.account.slug)


@login_required
@require_POST
def staff_view_end(request: HttpRequest) -> HttpResponse:
    """Ends this session's view as support; staff go back to the account in the admin."""
    view = staff_view_stop(session=request.session)
    user = request.user
    if view is not None and isinstance(user, User) and user.is_staff:
        messages.info(request, f"Stopped viewing {view.account_name}.")
        return redirect(reverse("admin:accounts_account_change", args=[view.account_id]))
    return redirect("home")

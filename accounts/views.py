"""Control-panel views for accounts, the team and invitations. HTTP only: rules live in services."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import closing, login_throttle, selectors, services
from accounts.access import SESSION_ACCOUNT_KEY, AccountRequest, account_view, get_for_account
from accounts.forms import (
    AccountCloseForm,
    AccountCreateForm,
    AccountRenameForm,
    InvitationForm,
    InvitationSignupForm,
    RoleChangeForm,
)
from accounts.models import ROLE_HELP, Invitation, Membership, Role, User
from billing.models import Subscription
from integrations.core.models import Integration
from integrations.sync.stats import account_dashboard


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def home(request: HttpRequest) -> HttpResponse:
    """The landing page for visitors; for a signed-in user, their current account."""
    if not request.user.is_authenticated:
        return render(request, "accounts/landing.html")
    account = selectors.default_account_for_user(
        user=_user(request), preferred_slug=request.session.get(SESSION_ACCOUNT_KEY)
    )
    if account is None:
        return redirect("accounts:account_list")
    return redirect(account)


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    memberships = selectors.memberships_for_user(user=_user(request))
    return render(request, "accounts/account_list.html", {"memberships": memberships})


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(owner=_user(request), name=form.cleaned_data["name"])
        except services.AccountsError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"{account.name} is ready: your 30-day free trial has begun.")
            return redirect(account)
    return render(request, "accounts/account_create.html", {"form": form})


@account_view(Role.SUPPORT)
def dashboard(request: AccountRequest) -> HttpResponse:
    subscription = Subscription.objects.filter(account=request.account).first()
    context = {
        "subscription": subscription,
        "member_count": request.account.memberships.count(),
        "pending_invitations": selectors.account_invitations(account=request.account).count(),
        "role_help": ROLE_HELP[request.membership.role_enum],
        "integrations": Integration.objects.filter(account=request.account)
        .select_related("account", "xero_connection", "salesforce_connection", "switched_off_by")
        .prefetch_related("pauses"),
        "dashboard": account_dashboard(account=request.account),
    }
    return render(request, "accounts/dashboard.html", context)


@account_view(Role.ADMIN)
def members(request: AccountRequest) -> HttpResponse:
    context = {
        "memberships": selectors.account_members(account=request.account),
        "invitations": selectors.account_invitations(account=request.account),
        "roles": Role,
        "role_help": ROLE_HELP,
    }
    return render(request, "accounts/members.html", context)


@account_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def member_invite(request: AccountRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                account=request.account,
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
                invited_by=request.user,
            )
        except services.AccountsError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("accounts:members", account_slug=request.account.slug)
    return render(request, "accounts/member_invite.html", {"form": form})


@account_view(Role.OWNER)
@require_POST
def member_role(request: AccountRequest, membership_id: int) -> HttpResponse:
    membership = get_for_account(Membership, request.account, pk=membership_id)
    form = RoleChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles offered.")
    else:
        try:
            services.membership_change_role(
                membership=membership, role=Role(form.cleaned_data["role"]), by=request.user
            )
        except services.AccountsError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"{membership.user.email} is now {Role(membership.role).label}."
            )
    return redirect("accounts:members", account_slug=request.account.slug)


@account_view(Role.OWNER)
@require_POST
def member_remove(request: AccountRequest, membership_id: int) -> HttpResponse:
    membership = get_for_account(Membership, request.account, pk=membership_id)
    try:
        services.membership_remove(membership=membership, by=request.user)
    except services.AccountsError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:members", account_slug=request.account.slug)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {request.account.name}.")
        return redirect("home")
    messages.success(request, f"{membership.user.email} was removed.")
    return redirect("accounts:members", account_slug=request.account.slug)


@account_view(Role.SUPPORT)
@require_http_methods(["GET", "POST"])
def account_leave(request: AccountRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            services.membership_remove(membership=request.membership, by=request.user)
        except services.AccountsError as exc:
            messages.error(request, str(exc))
            return redirect(request.account)
        request.session.pop(SESSION_ACCOUNT_KEY, None)
        messages.success(request, f"You left {request.account.name}.")
        return redirect("home")
    return render(request, "accounts/account_leave.html")


def _invitation_action(
    request: AccountRequest,
    invitation_id: int,
    action: Callable[..., object],
    done: str,
) -> HttpResponse:
    invitation = get_for_account(Invitation, request.account, pk=invitation_id)
    try:
        action(invitation=invitation)
    except services.AccountsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(email=invitation.email))
    return redirect("accounts:members", account_slug=request.account.slug)


@account_view(Role.OWNER)
@require_POST
def invitation_revoke(request: AccountRequest, invitation_id: int) -> HttpResponse:
    return _invitation_action(
        request,
        invitation_id,
        services.invitation_revoke,
        "The invitation to {email} was withdrawn.",
    )


@account_view(Role.OWNER)
@require_POST
def invitation_resend(request: AccountRequest, invitation_id: int) -> HttpResponse:
    return _invitation_action(
        request,
        invitation_id,
        services.invitation_resend,
        "A new invitation link was sent to {email}.",
    )


@account_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def account_settings(request: AccountRequest) -> HttpResponse:
    form = AccountRenameForm(request.POST or None, initial={"name": request.account.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.account_rename(account=request.account, name=form.cleaned_data["name"])
        except services.AccountsError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("accounts:settings", account_slug=request.account.slug)
    context = {"form": form, "retention_days": settings.ACCOUNT_RETENTION_DAYS}
    return render(request, "accounts/account_settings.html", context)


@account_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def account_close(request: AccountRequest) -> HttpResponse:
    form = AccountCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = closing.account_close(
                account=request.account,
                by=request.user,
                confirm_name=form.cleaned_data["confirm_name"],
            )
        except services.AccountsError as exc:
            form.add_error("confirm_name", str(exc))
        else:
            request.session.pop(SESSION_ACCOUNT_KEY, None)
            deleted_on = account.delete_after.date() if account.delete_after else None
            messages.success(
                request,
                f"{account.name} is closed. Its data is deleted on {deleted_on:%-d %B %Y}; "
                "a confirmation was emailed to its owners.",
            )
            return redirect("home")
    context = {"form": form, "retention_days": settings.ACCOUNT_RETENTION_DAYS}
    return render(request, "accounts/account_close.html", context)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email. Works for new people, existing users and the wrong user."""
    invitation = services.invitation_get_by_token(token)
    if invitation is None:
        raise Http404("This invitation link is not valid.")
    context: dict[str, object] = {
        "invitation": invitation,
        "role_label": invitation.get_role_display(),
    }
    if not invitation.is_pending:
        return render(request, "accounts/invitation_unavailable.html", context, status=410)

    if not request.user.is_authenticated:
        if User.objects.filter(email__iexact=invitation.email).exists():
            context["login_url"] = f"{reverse('account_login')}?next={request.path}"
            return render(request, "accounts/invitation_login.html", context)
        form = InvitationSignupForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and form.is_valid():
            try:
                user, membership = services.user_create_from_invitation(
                    invitation=invitation,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password1"],
                )
            except services.AccountsError as exc:
                messages.error(request, str(exc))
                return redirect(request.path)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {membership.account.name}.")
            return redirect(membership.account)
        context["form"] = form
        return render(request, "accounts/invitation_signup.html", context)

    user = _user(request)
    if user.email.lower() != invitation.email.lower():
        return render(request, "accounts/invitation_wrong_user.html", context, status=403)
    if not services.user_has_verified_email(user=user, email=invitation.email):
        # Signed up with this address but never confirmed it: it may not be theirs.
        return render(request, "accounts/invitation_verify_email.html", context, status=403)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=user)
        except services.AccountsError as exc:
            messages.error(request, str(exc))
            return redirect("home")
        messages.success(request, f"You joined {membership.account.name}.")
        return redirect(membership.account)
    return render(request, "accounts/invitation_confirm.html", context)


@require_http_methods(["GET", "POST"])
def login_unlock(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a lock-out notice: makes this browser a known device for that address.

    GET only asks (mail scanners open links); the POST uses the one-time link. The person
    still signs in with the password (and two-factor code) afterwards.
    """
    email = login_throttle.unlock_link_email(token=token)
    if email is None:
        return render(request, "accounts/login_unlock_unavailable.html", status=410)
    if request.method == "GET":
        return render(request, "accounts/login_unlock.html", {"email": email})
    email = login_throttle.unlock_link_use(token=token)
    if email is None:
        return render(request, "accounts/login_unlock_unavailable.html", status=410)
    response = redirect("account_login")
    login_throttle.known_device_remember(request=request, response=response, email=email)
    messages.success(request, f"This browser can now sign in as {email}.")
    return response

"""The operator admin: Django's admin behind the site's own login, a staff check and TOTP.

Staff can read and change every customer account, so Django's admin login form (a password
check with no throttle) is never shown: ``/<ADMIN_URL>login/`` sends people to the site's
login (``accounts.login_throttle`` applies), and the admin opens only to an active staff user
whose session has passed a second factor (allauth MFA: TOTP, or a recovery code). Staff
without an authenticator are sent to set one up first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache


def staff_has_totp(user: Any) -> bool:
    return bool(is_mfa_enabled(user, [Authenticator.Type.TOTP]))


def session_passed_second_factor(request: HttpRequest) -> bool:
    """True when this session's sign-in (or a re-authentication since) used a second factor.

    allauth records each step of a session's authentication for its user; a session made
    some other way (``force_login``, an invitation signup) has no "mfa" record.
    """
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


class StaffAdminSite(admin.AdminSite):
    site_header = "CarryTheOne operator admin"
    site_title = "CarryTheOne admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return (
            super().has_permission(request)
            and staff_has_totp(request.user)
            and session_passed_second_factor(request)
        )

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # Before the admin's own patterns: its catch-all would answer "health/" with a 404.
        return [
            path("health/", self.admin_view(self.health_view), name="staff_health"),
            *super().get_urls(),
        ]

    def health_view(self, request: HttpRequest) -> HttpResponse:
        """Queues, task failures, worker heartbeat and failing integrations (staff only)."""
        # Imported here: the admin site is built before the apps' models are ready.
        from carrytheone.staff_health import staff_health

        return staff_health(request, context=self.each_context(request))

    def _next_url(self, request: HttpRequest) -> str:
        index = reverse("admin:index", current_app=self.name)
        wanted = request.GET.get(REDIRECT_FIELD_NAME, "")
        safe = url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return wanted if wanted and safe else index

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Never a password form here: each missing step is done on the site's own pages."""
        next_url = self._next_url(request)
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(next_url, reverse(settings.LOGIN_URL))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("The admin is for CarryTheOne staff.")
        if not staff_has_totp(user):
            messages.info(
                request,
                "The admin needs two-factor authentication. Set up an authenticator app here, "
                "then open the admin again.",
            )
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        if not session_passed_second_factor(request):
            query = urlencode({REDIRECT_FIELD_NAME: next_url})
            return HttpResponseRedirect(f"{reverse('mfa_reauthenticate')}?{query}")
        return HttpResponseRedirect(next_url)

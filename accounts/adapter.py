"""allauth's adapter, adapted: our login throttle and our reading of the client's IP."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from accounts import login_throttle
from carrytheone.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """Every password check of allauth (login, re-authentication) goes through the throttle.

    allauth's own ``login_failed`` limit keys failures by the address alone, so anyone could
    lock a known user out; ``accounts.login_throttle`` replaces it for passwords (allauth's
    limit still applies to two-factor codes, which only someone with the password reaches).
    """

    _login_attempt: login_throttle.LoginAttempt | None = None

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's rate limits (signup, password reset, codes) read the IP the same way.
        return client_ip(request)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # Replaces allauth's (which would take its login_failed slots).
        email = str(credentials.get("email") or credentials.get("username") or "")
        try:
            self._login_attempt = login_throttle.login_attempt_begin(request=request, email=email)
        except login_throttle.LoginRefused as exc:
            raise forms.ValidationError(str(exc), code="too_many_login_attempts") from None

    def authenticate(self, request: HttpRequest, **credentials: Any) -> AbstractBaseUser | None:
        self._login_attempt = None
        user: AbstractBaseUser | None = super().authenticate(request, **credentials)
        if user is not None and self._login_attempt is not None:
            login_throttle.login_attempt_succeeded(attempt=self._login_attempt)
        return user

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        super().authentication_failed(request, **credentials)
        if self._login_attempt is not None:
            login_throttle.login_attempt_failed(request=request, attempt=self._login_attempt)

    def post_login(
        self,
        request: HttpRequest,
        user: AbstractBaseUser,
        **kwargs: Any,
    ) -> HttpResponse:
        """After every complete sign-in (two-factor included): this browser is now known."""
        response: HttpResponse = super().post_login(request, user, **kwargs)
        email = getattr(user, "email", "")
        if email:
            login_throttle.known_device_remember(request=request, response=response, email=email)
        return response

"""System checks for sign-in settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register("security")
def login_throttle_policy(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A malformed LOGIN_FAILED_RATE_LIMIT would otherwise fail only at the first login."""
    from accounts.login_throttle import parse_rates

    try:
        parse_rates(settings.LOGIN_FAILED_RATE_LIMIT)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="accounts.E001")]
    return []


@register("security", deploy=True)
def proxy_client_ip(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Trusting the proxy's X-Forwarded-Proto but not its X-Forwarded-For means every visitor
    has the proxy's IP: the login throttle's per-IP limit then applies to everyone at once."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.TRUSTED_PROXY_COUNT < 1:
        return [
            Warning(
                "USE_X_FORWARDED_PROTO is on but TRUSTED_PROXY_COUNT is 0: behind the proxy "
                "every visitor shares its IP address.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append to "
                "X-Forwarded-For (1 for a single TLS proxy).",
                id="accounts.W001",
            )
        ]
    return []

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register("security", deploy=True)
def encryption_keys_configured(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Production must encrypt credentials with its own keys, not the development fallback."""
    if settings.DEBUG or settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        Error(
            "FIELD_ENCRYPTION_KEYS is not set.",
            hint='Generate a key with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())" and set FIELD_ENCRYPTION_KEYS.',
            id="integrations.E001",
        )
    ]


@register(deploy=True)
def rate_limiter_shared(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Xero's per-organisation limits hold only if every worker counts in the same place.

    Without Redis the limiter keeps its counts in files under VAR_DIR, shared by the processes
    of one machine. A filesystem broker keeps every worker on that machine; any other broker
    lets workers run elsewhere, each machine then spending the whole budget.
    """
    if settings.DEBUG or settings.REDIS_URL:
        return []
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return []
    return [
        Warning(
            "REDIS_URL is not set: the Xero and Salesforce rate limiter is shared only by the "
            "processes of one machine.",
            hint="Set REDIS_URL if workers run on more than one machine.",
            id="integrations.W001",
        )
    ]

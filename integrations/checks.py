from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


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

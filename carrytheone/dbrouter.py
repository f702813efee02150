"""Database routing: the simulators' tables live in their own database when one is configured.

``DATABASES["sandbox"]`` exists only with the sandbox on and a database of its own
(``SANDBOX_DATABASE_URL``; by default a second SQLite file beside the product's). Without it,
every model lives in ``default``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

SANDBOX_ALIAS = "sandbox"
SANDBOX_LABELS = frozenset({"sandbox", "sandbox_xero", "sandbox_salesforce", "sandbox_stripe"})


def sandbox_database() -> str:
    """The alias the simulators' models use."""
    return SANDBOX_ALIAS if SANDBOX_ALIAS in settings.DATABASES else "default"


def _is_sandbox(model: type[models.Model] | models.Model) -> bool:
    return model._meta.app_label in SANDBOX_LABELS


class SandboxRouter:
    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return sandbox_database() if _is_sandbox(model) else None

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str | None:
        return sandbox_database() if _is_sandbox(model) else None

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool | None:
        # The simulators never point at product rows, nor the product at theirs.
        return None if _is_sandbox(obj1) == _is_sandbox(obj2) else False

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if SANDBOX_ALIAS not in settings.DATABASES:
            return None
        if app_label in SANDBOX_LABELS:
            return db == SANDBOX_ALIAS
        return db != SANDBOX_ALIAS

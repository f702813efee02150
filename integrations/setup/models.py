"""The configuration panel's audit log: who changed which setting or rule, from what to what.

Registered under the ``integrations`` app (``integrations/models.py`` imports it). Rows are
written only by ``integrations.setup.services``, which never records a credential: the
configuration holds none, and values are shortened before they are stored.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConfigChange(models.Model):
    """One changed setting, or one created, changed or deleted rule field."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="config_changes"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the change; empty for the system or a deleted user.",
    )
    at = models.DateTimeField(default=timezone.now)
    what = models.CharField(
        max_length=300,
        help_text='e.g. "config.invoice_status", "payment_methods:Credit Card.apply_payment", '
        '"tax_rules:US/TX" (created or deleted).',
    )
    old = models.TextField(blank=True, help_text="The value before, as short readable text.")
    new = models.TextField(blank=True, help_text="The value after, as short readable text.")

    class Meta:
        # Explicit: this module lives in a sub-package that may become an app of its own.
        app_label = "integrations"
        ordering = ("-at", "-id")
        indexes: ClassVar = [
            models.Index(fields=["integration", "-at"], name="integrations_config_chg_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.what}: {self.old} → {self.new}"

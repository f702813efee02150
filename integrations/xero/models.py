"""What the product keeps about a Xero organisation beyond the connection itself."""

from __future__ import annotations

from django.db import models


class OrganisationSettings(models.Model):
    """The cached settings of the Xero organisation behind one connection.

    ``data`` is ``OrganisationMetadata.to_json()``; ``integrations.xero.metadata`` reads and
    writes it. A failed refresh leaves ``data`` and ``fetched_at`` alone and records why in
    ``last_error``, so rules keep working on the last good copy.
    """

    connection = models.OneToOneField(
        "integrations.Connection",
        on_delete=models.CASCADE,
        related_name="xero_settings",
        limit_choices_to={"provider": "xero"},
    )
    data = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the copy in data was read; empty: stale."
    )
    last_error = models.TextField(blank=True, help_text="Why the last refresh failed, if it did.")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Xero organisation settings"
        verbose_name_plural = "Xero organisation settings"

    def __str__(self) -> str:
        return f"settings of connection {self.connection_id}"

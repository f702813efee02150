"""What the product keeps about a Salesforce org beyond the connection itself."""

from __future__ import annotations

from django.db import models


class OrgMetadata(models.Model):
    """The cached description of the Salesforce org behind one connection.

    ``data`` is ``SalesforceMetadata.to_json()``; ``integrations.salesforce.metadata`` reads and
    writes it. A failed refresh leaves ``data`` and ``fetched_at`` alone and records why in
    ``last_error``, so the configuration panel keeps working on the last good copy.
    """

    connection = models.OneToOneField(
        "integrations.Connection",
        on_delete=models.CASCADE,
        related_name="salesforce_metadata",
        limit_choices_to={"provider": "salesforce"},
    )
    data = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the copy in data was read; empty: stale."
    )
    last_error = models.TextField(blank=True, help_text="Why the last refresh failed, if it did.")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Salesforce org metadata"
        verbose_name_plural = "Salesforce org metadata"

    def __str__(self) -> str:
        return f"metadata of connection {self.connection_id}"

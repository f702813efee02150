"""The check as a service: reads both organisations' metadata (cached) and stores what it found
on the integration, where the alerts app finds it and tells the account's owners and admins."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.connections.providers import ProviderError
from integrations.connections.salesforce.metadata import salesforce_metadata
from integrations.connections.xero.metadata import organisation_metadata
from integrations.core.behaviours import (
    ConfigProblem,
    paused_behaviours,
    stored_problems,
)
from integrations.core.models import Integration
from integrations.setup.validation.check import check_configuration

logger = logging.getLogger(__name__)


def integration_check_configuration(
    *, integration_id: int, refresh: bool = False
) -> list[ConfigProblem]:
    """Checks the integration against both orgs and stores what it found.

    Metadata comes from the caches (``refresh`` re-reads both). When Xero or Salesforce cannot
    be read (unreachable, needs re-authorisation) and no cached copy exists, nothing is known
    about the configuration: ``[]`` is returned and the stored problems stay as they were.

    Owners and admins are told by the alerts (one incident while problems last).
    """
    integration = Integration.objects.select_related(
        "xero_connection", "salesforce_connection"
    ).get(pk=integration_id)
    xero_connection = integration.xero_connection
    salesforce_connection = integration.salesforce_connection
    if xero_connection is None or salesforce_connection is None:
        return []
    try:
        xero = organisation_metadata(xero_connection, refresh=refresh)
        salesforce = salesforce_metadata(salesforce_connection, refresh=refresh)
    except ProviderError as exc:
        logger.info("integration %s: configuration not checked: %s", integration_id, exc)
        return []
    now = timezone.now()
    with transaction.atomic():
        # Checked on the locked row: a setting saved while the metadata was read is what the
        # stored problems describe, never the one it replaced.
        row = Integration.objects.select_for_update().get(pk=integration_id)
        problems = check_configuration(row, xero=xero, salesforce=salesforce)
        row.config_problems = [p.to_json() for p in problems]
        row.config_checked_at = now
        row.save(update_fields=["config_problems", "config_checked_at"])
    if problems:
        logger.info(
            "integration %s: %s configuration problem(s): %s",
            integration_id,
            len(problems),
            ", ".join(sorted({p.field for p in problems})),
        )
    return problems


def setup_url(integration: Integration) -> str:
    """The integration's setup page (its detail page until the setup page exists), absolute."""
    kwargs = {"account_slug": integration.account.slug, "integration_id": integration.pk}
    try:
        path = reverse("integrations:setup", kwargs=kwargs)
    except NoReverseMatch:
        path = reverse("integrations:detail", kwargs=kwargs)
    return f"{settings.SITE_URL}{path}"


__all__ = [
    "check_configuration",
    "integration_check_configuration",
    "paused_behaviours",
    "setup_url",
    "stored_problems",
]

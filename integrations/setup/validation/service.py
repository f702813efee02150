"""The check as a service: reads both organisations' metadata (cached), stores what it found on
the integration, and tells the account's owners and admins once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Membership, Role
from integrations.connections.providers import ProviderError
from integrations.connections.salesforce.metadata import salesforce_metadata
from integrations.connections.xero.metadata import organisation_metadata
from integrations.core.behaviours import (
    BEHAVIOUR_LABELS,
    BEHAVIOURS,
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
    """Checks the integration against both orgs, stores what it found and tells people once.

    Metadata comes from the caches (``refresh`` re-reads both). When Xero or Salesforce cannot
    be read (unreachable, needs re-authorisation) and no cached copy exists, nothing is known
    about the configuration: ``[]`` is returned and the stored problems stay as they were.

    Owners and admins are emailed when problems appear, once: not again until a check finds
    none, after which new problems are told again.
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
        # Only a switched-on integration whose settings stopped matching is news for the
        # owners; during setup the person fixing it is looking at the same problems.
        notify = bool(problems) and row.is_enabled and row.config_problems_notified_at is None
        if notify:
            row.config_problems_notified_at = now
        elif not problems:
            row.config_problems_notified_at = None
        row.save(
            update_fields=["config_problems", "config_checked_at", "config_problems_notified_at"]
        )
        if notify:
            transaction.on_commit(lambda: _email_problems(integration_id))
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


def _email_problems(integration_id: int) -> None:
    integration = Integration.objects.select_related("account").get(pk=integration_id)
    # Read again at send time: problems fixed since the check are not told.
    problems = stored_problems(integration)
    if not problems:
        return
    recipients = list(
        Membership.objects.filter(
            account=integration.account, role__in=[Role.OWNER, Role.ADMIN]
        ).values_list("user__email", flat=True)
    )
    if not recipients:
        return
    account = integration.account
    lines: list[str] = []
    for behaviour in BEHAVIOURS:
        group = [p for p in problems if p.behaviour == behaviour]
        if group:
            lines.append(f"{BEHAVIOUR_LABELS[behaviour]}:")
            lines.extend(f"- {p.message}" for p in group)
            lines.append("")
    held = sorted(BEHAVIOUR_LABELS[b].lower() for b in paused_behaviours(integration))
    consequence = (
        f"Until they are fixed, CarryTheOne holds back: {', '.join(held)}. "
        if held
        else "Syncing carries on meanwhile. "
    )
    send_mail(
        f"[CarryTheOne] Check the settings of {integration.name} for {account.name}",
        (
            f"The settings of the integration {integration.name!r} ({account.name}) no longer "
            "match what Xero and Salesforce hold:\n\n"
            + "\n".join(lines)
            + f"\n{consequence}Review the settings here:\n{setup_url(integration)}\n\n"
            "You will not be emailed about these again; once they are fixed, new problems are "
            "told again.\n"
        ),
        None,
        recipients,
    )


__all__ = [
    "check_configuration",
    "integration_check_configuration",
    "paused_behaviours",
    "setup_url",
    "stored_problems",
]

"""Whether an integration is really syncing, told the same way on every page, by email and on
``/healthz``.

Every run's outcome lands here (:func:`integration_record_run`): a run that completes is a
success (records needing a person are the log's business, not a failure of syncing); a run that
fails — a token endpoint unreachable, Xero or Salesforce down, a connection refused — starts or
continues an *incident* (``Integration.failing_since``). The alerts app reads it: owners and
admins are told once an incident has lasted ``SYNC_FAILURE_ALERT_AFTER`` seconds and once when
it is over; never once per failed run. :func:`integration_health` turns the stored facts into
what people read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from billing.services import sync_block_action
from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError, get_provider
from integrations.core.models import Integration, PauseCause

State = Literal["off", "setup", "reauth", "paused", "failing", "stalled", "waiting", "ok"]


# --- recording --------------------------------------------------------------------------------


def integration_record_run(
    *,
    integration_id: int,
    failed: bool,
    started_at: dt.datetime,
    finished_at: dt.datetime | None,
    error: str,
) -> None:
    """Feeds one finished run into its integration's health (which the alerts read)."""
    if not failed:
        Integration.objects.filter(pk=integration_id).update(
            last_success_at=finished_at or timezone.now(), failing_since=None, last_failure=""
        )
        return
    Integration.objects.filter(pk=integration_id, failing_since__isnull=True).update(
        failing_since=started_at
    )
    Integration.objects.filter(pk=integration_id).update(last_failure=error[:2000])


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    return f"{value:%d %b %Y %H:%M} UTC"


def integrations_failing(*, longer_than: float | None = None) -> list[Integration]:
    """Switched-on integrations whose runs have all failed for longer than ``longer_than``."""
    seconds = settings.SYNC_FAILURE_ALERT_AFTER if longer_than is None else longer_than
    cutoff = timezone.now() - dt.timedelta(seconds=seconds)
    return list(
        Integration.objects.filter(is_enabled=True, failing_since__lte=cutoff)
        .select_related("account")
        .order_by("failing_since")
    )


# --- connections ------------------------------------------------------------------------------


def connection_check(*, connection: Connection, max_age: float = 60.0) -> str:
    """Proves the connection works right now with one cheap live call; "" when it does, else
    why not. A check younger than ``max_age`` seconds is not repeated."""
    now = timezone.now()
    if (
        connection.failing_since is None
        and connection.checked_at is not None
        and (now - connection.checked_at).total_seconds() < max_age
    ):
        return ""
    if connection.status != Connection.Status.ACTIVE:
        return connection.last_error or connection.get_status_display()
    try:
        get_provider(connection.provider).check(connection=connection)
    except ProviderError as exc:
        Connection.objects.filter(pk=connection.pk, failing_since__isnull=True).update(
            failing_since=now
        )
        Connection.objects.filter(pk=connection.pk).update(last_error=exc.message[:2000])
        connection.refresh_from_db(fields=["status", "last_error", "failing_since"])
        return exc.message
    Connection.objects.filter(pk=connection.pk).update(
        checked_at=now, failing_since=None, last_error=""
    )
    connection.refresh_from_db(fields=["checked_at", "failing_since", "last_error"])
    return ""


# --- what people read -------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """An integration's state in one badge and one sentence, with the one action that helps."""

    state: State
    label: str
    message: str = ""
    action_label: str = ""
    action_url: str = ""

    @property
    def is_problem(self) -> bool:
        return self.state in ("reauth", "paused", "failing", "stalled")


def _ago(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"


def connection_state(connection: Connection | None) -> tuple[str, str]:
    """(badge, sentence) of one connection's real state."""
    if connection is None:
        return "Not connected", ""
    if connection.status != Connection.Status.ACTIVE:
        return connection.get_status_display(), connection.last_error
    if connection.failing_since is not None:
        return (
            "Failing",
            f"Failing since {_when(connection.failing_since)}: {connection.last_error}",
        )
    return "Active", ""


def _pause_action(cause: str, kwargs: dict[str, object], message: str = "") -> tuple[str, str]:
    if cause == PauseCause.PERSON:
        return "Resume syncing", reverse("integrations:detail", kwargs=kwargs) + "#pause"
    if cause == PauseCause.CONFIGURATION:
        return "Review the settings", reverse("integrations:setup_review", kwargs=kwargs)
    if cause == PauseCause.BILLING:
        # The billing page is the owners' (others get a 403 saying so).
        # Subscribe, or update the card, as the reason says.
        return sync_block_action(reason=message), reverse(
            "billing:page", kwargs={"account_slug": kwargs["account_slug"]}
        )
    return "", ""


def integration_health(integration: Integration) -> Health:
    """What is true of the integration now, from its stored facts (no query beyond the
    connections, ``switched_off_by`` and pauses, which callers load with ``select_related`` /
    ``prefetch_related``)."""
    slug = integration.account.slug
    kwargs = {"account_slug": slug, "integration_id": integration.pk}
    for connection, key, name in (
        (integration.xero_connection, "xero", "Xero"),
        (integration.salesforce_connection, "salesforce", "Salesforce"),
    ):
        if connection is not None and connection.status != Connection.Status.ACTIVE:
            return Health(
                "reauth",
                f"Reconnect {name}",
                f"{name} no longer accepts this connection: {connection.last_error or ''} "
                "Syncing waits until it is reconnected; nothing is lost.".replace("  ", " "),
                f"Reconnect {name}",
                reverse(f"{key}:connect", kwargs=kwargs),
            )
    detail = reverse("integrations:detail", kwargs=kwargs)
    if integration.xero_connection is None or integration.salesforce_connection is None:
        return Health("setup", "Not connected", "Connect Xero and Salesforce to start.", "", "")
    if not integration.is_enabled:
        if integration.switched_off_at is not None:
            # A person's decision, not an unfinished setup: say who and when, so a colleague
            # wondering why nothing reaches Xero knows whom to ask.
            by = integration.switched_off_by
            last = (
                f" Last sync {_ago(integration.last_success_at)}."
                if integration.last_success_at
                else ""
            )
            return Health(
                "off",
                "Switched off",
                f"Switched off{f' by {by.email}' if by is not None else ''} on "
                f"{_when(integration.switched_off_at)}. Nothing is sent to Xero until syncing "
                f"is switched on again.{last}",
                "Switch on",
                detail + "#switch",
            )
        if integration.last_success_at is None:
            return Health(
                "setup",
                "Not switched on yet",
                "Finish the settings and switch syncing on.",
                "Set up",
                reverse("integrations:setup", kwargs=kwargs),
            )
        return Health(
            "off",
            "Switched off",
            f"Nothing is sent to Xero until syncing is switched on again. Last sync "
            f"{_ago(integration.last_success_at)}.",
        )
    now = timezone.now()
    pauses = integration.active_pauses(now)
    held = [p for p in pauses if p.cause != PauseCause.RATE_LIMIT]
    if held:
        first = held[0]
        action_label, action_url = _pause_action(first.cause, kwargs, first.message)
        return Health(
            "paused",
            f"Paused: {first.get_cause_display().lower()}"
            if first.cause != PauseCause.PERSON
            else "Paused",
            " ".join(p.message for p in held),
            action_label,
            action_url,
        )
    if integration.failing_since is not None:
        last = (
            f"Last successful sync {_ago(integration.last_success_at)}."
            if integration.last_success_at
            else "No sync has completed yet."
        )
        return Health(
            "failing",
            "Failing",
            f"Syncing is failing since {_when(integration.failing_since)}: "
            f"{integration.last_failure} {last} CarryTheOne keeps retrying and nothing is lost; "
            "the recent runs show each attempt. If it lasts, check that Xero and Salesforce "
            "are up, or reconnect them.",
            "See the runs",
            reverse("integrations:log", kwargs=kwargs),
        )
    waits = [p for p in pauses if p.cause == PauseCause.RATE_LIMIT and p.until is not None]
    if waits:
        until = max(p.until for p in waits if p.until is not None)
        return Health(
            "waiting",
            "Waiting",
            f"Xero or Salesforce asked us to wait: syncing resumes at {until:%H:%M} UTC. "
            "Nothing is lost meanwhile.",
        )
    stalled_after = dt.timedelta(seconds=settings.SYNC_STALLED_AFTER)
    since = integration.last_success_at
    if since is not None and now - since > stalled_after:
        return Health(
            "stalled",
            "Stalled",
            f"No sync has completed for {timesince(since)}, though syncing is on: the "
            "background workers may be stopped. Contact support if it lasts.",
            "See the runs",
            detail,
        )
    return Health(
        "ok",
        "On",
        f"Syncing. Last sync {_ago(integration.last_success_at)}."
        if integration.last_success_at
        else "Syncing: the first run starts within a minute.",
    )

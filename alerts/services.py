"""Incidents opened, kept and resolved from what the integrations store; their messages queued.

The integrations never call this: :func:`alerts_evaluate` (every minute, per integration, from
beat) reads what they record — connection status, stored configuration problems and pauses,
``failing_since``, open log failures, waiting ledger rows — and makes the incidents match what
:mod:`alerts.rules` says is open. Concurrency without held locks: an incident is created under
a unique constraint (one open per integration, kind and key), resolved by a conditional update,
and each message row is unique per incident, channel and kind, so whichever worker gets there
first queues it and the other does nothing. Messages go out after the commit
(:mod:`alerts.delivery`), never inside the evaluating transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from alerts import rules
from alerts.models import AlertDelivery, AlertSettings, Incident, IncidentKind
from carrytheone.celery import app
from integrations.core.behaviours import BEHAVIOUR_LABELS, paused_behaviours, stored_problems
from integrations.core.models import Integration, PauseCause
from integrations.sync.models import (
    OPEN_OUTCOMES,
    LedgerEntry,
    PushEndpoint,
    PushNotification,
    SyncLogEntry,
)

logger = logging.getLogger(__name__)

DELIVER_TASK = "alerts.tasks.deliver"
WAITING_STATES = (LedgerEntry.State.PENDING, LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN)
# Counting stops here: the message says "at least"-sized numbers well past any threshold, and
# the count stays one bounded index scan however large the log grows.
COUNT_CAP = 10_000


def alert_settings_for(*, account_id: int) -> AlertSettings:
    """The account's settings, or the defaults (unsaved) when it never changed them."""
    found = AlertSettings.objects.filter(account_id=account_id).first()
    return found or AlertSettings(account_id=account_id)


# --- facts ------------------------------------------------------------------------------------


def integration_facts(*, integration: Integration, now: dt.datetime) -> rules.Facts:
    """What is stored about the integration, in four bounded queries (its pauses and
    connections come with it: ``select_related`` / ``prefetch_related``)."""
    connections = tuple(
        rules.ConnectionFact(
            key=key, name=name, active=c.status == c.Status.ACTIVE, error=c.last_error
        )
        for c, key, name in (
            (integration.xero_connection, "xero", "Xero"),
            (integration.salesforce_connection, "salesforce", "Salesforce"),
        )
        if c is not None
    )
    pauses = integration.active_pauses(now)
    config_pause = next((p for p in pauses if p.cause == PauseCause.CONFIGURATION), None)
    held_labels = sorted(BEHAVIOUR_LABELS[b].lower() for b in paused_behaviours(integration))
    open_failures = (
        SyncLogEntry.objects.filter(
            integration=integration, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
        )
        .order_by()
        .values("salesforce_id")
        .distinct()[:COUNT_CAP]
        .count()
    )
    waiting = (
        LedgerEntry.objects.filter(integration=integration, state__in=WAITING_STATES, withdrawn="")[
            :COUNT_CAP
        ].count()
        + PushNotification.objects.filter(integration=integration)[:COUNT_CAP].count()
    )
    healthy_since = now - dt.timedelta(seconds=float(settings.PUSH_HEALTHY_WITHIN))
    push_healthy = PushEndpoint.objects.filter(
        integration=integration, last_message_at__gte=healthy_since
    ).exists()
    interval = float(
        settings.PUSH_HEALTHY_POLL_INTERVAL if push_healthy else settings.SYNC_POLL_INTERVAL
    )
    return rules.Facts(
        now=now,
        name=integration.name,
        enabled=integration.is_enabled,
        connections=connections,
        config_problems=tuple(p.message for p in stored_problems(integration)),
        config_held=", ".join(held_labels),
        config_paused=config_pause.message if config_pause else "",
        held=any(p.cause != PauseCause.CONFIGURATION for p in pauses),
        failing_since=integration.failing_since,
        last_failure=integration.last_failure,
        last_success_at=integration.last_success_at,
        open_failures=open_failures,
        waiting=waiting,
        push_healthy=push_healthy,
        expected_interval=interval,
    )


def thresholds_for(alert_settings: AlertSettings) -> rules.Thresholds:
    return rules.Thresholds(
        failing_after=float(settings.SYNC_FAILURE_ALERT_AFTER),
        failure_threshold=alert_settings.failure_threshold,
        stalled_after=alert_settings.stalled_after_minutes * 60.0,
    )


def _fix(integration: Integration, fix: str) -> tuple[str, str]:
    """(label, path) of the page that fixes a finding."""
    kwargs = {"account_slug": integration.account.slug, "integration_id": integration.pk}
    if fix.startswith("reconnect:"):
        key = fix.partition(":")[2]
        name = "Xero" if key == "xero" else "Salesforce"
        return f"Reconnect {name}", reverse(f"{key}:connect", kwargs=kwargs)
    if fix == "settings":
        return "Review the settings", reverse("integrations:setup_review", kwargs=kwargs)
    if fix == "log":
        return "See the log", reverse("integrations:log", kwargs=kwargs)
    return "See the integration", reverse("integrations:detail", kwargs=kwargs)


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class Evaluation:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)


def alerts_evaluate(*, integration_id: int, now: dt.datetime | None = None) -> Evaluation:
    """Makes the integration's open incidents match its facts; queues their messages."""
    moment = now or timezone.now()
    integration = (
        Integration.objects.select_related("account", "xero_connection", "salesforce_connection")
        .prefetch_related("pauses")
        .filter(pk=integration_id, account__closed_at__isnull=True)
        .first()
    )
    open_incidents = {
        (i.kind, i.key): i
        for i in Incident.objects.filter(integration_id=integration_id, resolved_at__isnull=True)
    }
    if integration is None:
        # The account was closed: what it had open ends without a message.
        Incident.objects.filter(integration_id=integration_id, resolved_at__isnull=True).update(
            resolved_at=moment
        )
        return Evaluation(resolved=[i.kind for i in open_incidents.values()])
    alert_settings = alert_settings_for(account_id=integration.account_id)
    findings = rules.open_findings(
        integration_facts(integration=integration, now=moment),
        thresholds_for(alert_settings),
        open_now=frozenset(open_incidents),
    )
    if not findings and not open_incidents:
        return Evaluation()
    with transaction.atomic():
        return _apply(integration, findings, open_incidents, alert_settings, moment)


def _apply(
    integration: Integration,
    findings: list[rules.Finding],
    open_incidents: dict[tuple[str, str], Incident],
    alert_settings: AlertSettings,
    moment: dt.datetime,
) -> Evaluation:
    result = Evaluation()
    for finding in findings:
        label, path = _fix(integration, finding.fix)
        values: dict[str, Any] = {
            "summary": finding.summary[:300],
            "detail": finding.detail,
            "fix_label": label,
            "fix_path": path,
            "affected": finding.affected,
            "last_seen_at": moment,
        }
        existing = open_incidents.get((finding.kind, finding.key))
        if existing is not None:
            Incident.objects.filter(pk=existing.pk, resolved_at__isnull=True).update(**values)
            continue
        incident = _open(integration, finding, values, moment)
        if incident is None:
            continue  # another evaluation opened it a moment ago: it tells it
        result.opened.append(finding.kind)
        result.deliveries += _queue_messages(
            incident, AlertDelivery.Kind.OPENED, alert_settings, moment
        )
    seen = {(f.kind, f.key) for f in findings}
    for key, incident in open_incidents.items():
        if key in seen:
            continue
        # Whoever resolves it (one row updated) tells it; a concurrent evaluation updates none.
        resolved = Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
            resolved_at=moment, last_seen_at=moment
        )
        if not resolved:
            continue
        result.resolved.append(incident.kind)
        logger.info("integration %s: incident %s cleared", integration.pk, incident.pk)
        if incident.notified_at is not None:
            result.deliveries += _queue_messages(
                incident,
                AlertDelivery.Kind.RECOVERED,
                alert_settings,
                moment,
                still_enabled=integration.is_enabled,
            )
    return result


def _open(
    integration: Integration, finding: rules.Finding, values: dict[str, Any], now: dt.datetime
) -> Incident | None:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                account_id=integration.account_id,
                integration=integration,
                kind=finding.kind,
                key=finding.key,
                opened_at=now,
                notified_at=now,
                **values,
            )
    except IntegrityError:
        return None
    logger.warning(
        "integration %s: incident %s opened (%s)", integration.pk, incident.pk, finding.kind
    )
    return incident


def _recovery_summary(incident: Incident, name: str, *, still_enabled: bool) -> str:
    if not still_enabled:
        return f"Closed: {name} was switched off ({incident.summary})"
    return {
        IncidentKind.REAUTH: f"{incident.key.capitalize()} is reconnected for {name}",
        IncidentKind.CONFIG_PROBLEM: f"The settings of {name} check out again",
        IncidentKind.FAILURES: f"The failed records of {name} are dealt with",
        IncidentKind.STALLED: f"{name} is syncing again",
        IncidentKind.SYNC_FAILING: f"Syncing has recovered for {name}",
    }.get(IncidentKind(incident.kind), f"Cleared: {incident.summary}")


def _recipients(account_id: int) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(account_id=account_id, role__in=[Role.OWNER, Role.ADMIN])
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def alerts_page_url(account: Account) -> str:
    return f"{settings.SITE_URL}{reverse('alerts:page', kwargs={'account_slug': account.slug})}"


def _queue_messages(
    incident: Incident,
    kind: str,
    alert_settings: AlertSettings,
    now: dt.datetime,
    *,
    still_enabled: bool = True,
) -> list[int]:
    """One message per channel for the incident's opening or clearing, sent after commit."""
    account = Account.objects.get(pk=incident.account_id)
    name = Integration.objects.filter(pk=incident.integration_id).values_list("name", flat=True)
    integration_name = name.first() or ""
    if kind == AlertDelivery.Kind.OPENED:
        subject = f"[CarryTheOne] {incident.summary} ({account.name})"
        text = incident.detail
        link = (incident.fix_label, incident.fix_url)
        Incident.objects.filter(pk=incident.pk).update(notified_at=now)
    else:
        summary = _recovery_summary(incident, integration_name, still_enabled=still_enabled)
        subject = f"[CarryTheOne] {summary} ({account.name})"
        caught_up = (
            ""
            if incident.kind == IncidentKind.FAILURES
            else "\n\nOpportunities won meanwhile are being invoiced now."
        )
        text = (
            f"Cleared {_when(now)}, open since {_when(incident.opened_at)}: "
            f"{incident.summary}.{caught_up}"
            if still_enabled
            else f"{incident.summary}: closed, as syncing of {integration_name} was switched off."
        )
        link = ("Alert history", alerts_page_url(account))
        Incident.objects.filter(pk=incident.pk).update(recovery_notified_at=now)
    return deliveries_create(
        account=account,
        incident=incident,
        kind=kind,
        subject=subject,
        text=text,
        link=link,
        alert_settings=alert_settings,
        now=now,
    )


def deliveries_create(
    *,
    account: Account,
    incident: Incident | None,
    kind: str,
    subject: str,
    text: str,
    link: tuple[str, str],
    alert_settings: AlertSettings,
    now: dt.datetime,
    digest_for: dt.date | None = None,
    channels: tuple[str, ...] = (AlertDelivery.Channel.EMAIL, AlertDelivery.Channel.SLACK),
    queue: bool = True,
) -> list[int]:
    """The message rows of one event, one per channel; each sent after the commit (``queue``)
    by the delivery task. A row already there (another worker's) is not made again."""
    rows: list[AlertDelivery] = []
    footer = (
        "You get one more message when it has cleared, never one per record.\n"
        if kind == AlertDelivery.Kind.OPENED
        else ""
    ) + f"The alerts of {account.name}: {alerts_page_url(account)}\n"
    recipients = _recipients(account.pk) if AlertDelivery.Channel.EMAIL in channels else []
    if recipients:
        rows.append(
            AlertDelivery(
                channel=AlertDelivery.Channel.EMAIL,
                to=", ".join(recipients)[:1000],
                body=f"{text}\n\n{link[0]}:\n{link[1]}\n\n{footer}",
            )
        )
    if AlertDelivery.Channel.SLACK in channels and alert_settings.slack_url:
        label, url = link
        rows.append(
            AlertDelivery(
                channel=AlertDelivery.Channel.SLACK,
                to=f"Slack {alert_settings.slack_masked}",
                body=f"*{_slack_escape(subject)}*\n{_slack_escape(text)}\n<{url}|{label}>",
            )
        )
    ids: list[int] = []
    for row in rows:
        row.account = account
        row.incident = incident
        row.kind = kind
        row.subject = subject[:300]
        row.created_at = now
        row.digest_for = digest_for
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            continue  # already queued by another worker
        ids.append(row.pk)
    if ids and queue:
        transaction.on_commit(lambda: enqueue_deliveries(delivery_ids=ids))
    return ids


def _slack_escape(text: str) -> str:
    """Slack's three control characters; the rest of its mrkdwn is harmless in our text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(value: dt.datetime) -> str:
    return f"{value:%d %b %Y %H:%M} UTC"


def enqueue_deliveries(*, delivery_ids: list[int], countdown: float = 0.0) -> None:
    """The delivery task for each message, by name (tasks import this module, not the reverse)."""
    if DELIVER_TASK not in app.tasks:
        app.loader.import_default_modules()
    task = app.tasks[DELIVER_TASK]
    for delivery_id in delivery_ids:
        task.apply_async((delivery_id,), countdown=countdown)


# --- the beat's work --------------------------------------------------------------------------


def integrations_to_evaluate() -> list[int]:
    """Switched-on integrations of open accounts, and any with an incident still open."""
    on = Integration.objects.filter(is_enabled=True, account__closed_at__isnull=True)
    ids = set(on.values_list("pk", flat=True))
    ids |= set(
        Incident.objects.filter(resolved_at__isnull=True).values_list("integration_id", flat=True)
    )
    return sorted(ids)


def deliveries_lost(*, older_than: float = 600.0) -> list[int]:
    """Messages never attempted although queued long ago (a broker that lost the task)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    return list(
        AlertDelivery.objects.filter(sent_at__isnull=True, attempts=0, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )


# --- settings ---------------------------------------------------------------------------------


def alert_settings_update(
    *,
    account: Account,
    user: User,
    daily_digest: bool,
    failure_threshold: int,
    stalled_after_minutes: int,
    slack_url: str | None,
) -> AlertSettings:
    """Saves the account's alert settings; ``slack_url`` None keeps the stored one, "" removes
    it. The URL is never logged: it is the channel's credential."""
    with transaction.atomic():
        row, _ = AlertSettings.objects.select_for_update().get_or_create(account=account)
        row.daily_digest = daily_digest
        row.failure_threshold = failure_threshold
        row.stalled_after_minutes = stalled_after_minutes
        if slack_url is not None:
            row.slack_webhook = {"url": slack_url} if slack_url else None
        row.updated_at = timezone.now()
        row.updated_by = user
        row.save()
    logger.info(
        "account %s: alert settings changed by user %s (slack %s)",
        account.pk,
        user.pk,
        "set" if row.slack_url else "none",
    )
    return row


def alerts_send_test(*, account: Account, user: User) -> AlertDelivery | None:
    """A test message to the account's Slack webhook, recorded in the history (None when no
    webhook is set). Not queued: the caller sends it at once, to show the answer."""
    alert_settings = alert_settings_for(account_id=account.pk)
    if not alert_settings.slack_url:
        return None
    now = timezone.now()
    with transaction.atomic():
        ids = deliveries_create(
            account=account,
            incident=None,
            kind=AlertDelivery.Kind.TEST,
            subject=f"[CarryTheOne] Test message for {account.name}",
            text=f"{user.email} checked that alerts of {account.name} reach this channel.",
            link=("Alert settings", alerts_page_url(account)),
            alert_settings=alert_settings,
            now=now,
            channels=(AlertDelivery.Channel.SLACK,),
            queue=False,
        )
    return AlertDelivery.objects.filter(pk__in=ids).first()

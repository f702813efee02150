"""The daily digest: one email per account a day, to its owners and admins, for accounts that
chose it (``AlertSettings.daily_digest``) — the open incidents with their fixes and the day
before's figures. A per-account choice rather than per person: the people emailed about
incidents are the same owners and admins, and one setting is one place to look."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Account
from alerts.models import AlertDelivery, AlertSettings, Incident
from alerts.services import alerts_page_url, deliveries_create
from integrations.sync.models import SyncLogEntry

CREATED = SyncLogEntry.Outcome.CREATED
FAILED = (SyncLogEntry.Outcome.FAILED, SyncLogEntry.Outcome.ATTENTION)


def digests_due(*, now: dt.datetime | None = None) -> list[int]:
    """Accounts whose digest of today is due (after ``ALERT_DIGEST_HOUR`` UTC) and not sent."""
    moment = now or timezone.now()
    if moment.hour < int(settings.ALERT_DIGEST_HOUR):
        return []
    sent = AlertDelivery.objects.filter(
        kind=AlertDelivery.Kind.DIGEST, digest_for=moment.date()
    ).values("account_id")
    return list(
        AlertSettings.objects.filter(daily_digest=True, account__closed_at__isnull=True)
        .exclude(account_id__in=sent)
        .values_list("account_id", flat=True)
    )


def alert_digest_queue(*, account_id: int, now: dt.datetime | None = None) -> list[int]:
    """Queues the account's digest of today (once: a second call queues nothing)."""
    moment = now or timezone.now()
    day = moment.date()
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    account = Account.objects.get(pk=account_id)
    incidents = list(
        Incident.objects.filter(account_id=account_id, resolved_at__isnull=True)
        .select_related("integration")
        .order_by("opened_at")
    )
    outcomes = dict(
        SyncLogEntry.objects.filter(
            integration__account_id=account_id, created_at__gte=start, created_at__lt=end
        )
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    opened = Incident.objects.filter(
        account_id=account_id, opened_at__gte=start, opened_at__lt=end
    ).count()
    lines = [f"{account.name} on {start:%d %b %Y} (UTC):", ""]
    lines.append(f"- {outcomes.get(CREATED, 0)} invoice(s) and other documents created in Xero")
    lines.append(f"- {sum(outcomes.get(o, 0) for o in FAILED)} record(s) failed or needed a person")
    lines.append(f"- {opened} alert(s) opened")
    lines.append("")
    if incidents:
        lines.append(f"Open now ({len(incidents)}):")
        for incident in incidents:
            lines.append(f"- {incident.summary} (since {incident.opened_at:%d %b %H:%M} UTC)")
            if incident.fix_url:
                lines.append(f"  {incident.fix_label}: {incident.fix_url}")
    else:
        lines.append("Nothing needs attention now.")
    with transaction.atomic():
        return deliveries_create(
            account=account,
            incident=None,
            kind=AlertDelivery.Kind.DIGEST,
            subject=f"[CarryTheOne] Daily digest for {account.name}: "
            + (f"{len(incidents)} open alert(s)" if incidents else "all clear"),
            text="\n".join(lines),
            link=("Alerts", alerts_page_url(account)),
            alert_settings=AlertSettings(account_id=account_id),
            now=moment,
            digest_for=day,
            channels=(AlertDelivery.Channel.EMAIL,),
        )

"""The dashboard's figures, for one integration or a whole account: health at a glance, what
was written to Xero and what failed per day over the last 30 days, each Xero organisation's
API budget, and how long a won deal waits for its invoice.

Selectors only (nothing is written). The number of queries does not grow with the history or
with the number of integrations: every figure is one aggregate over the integrations together,
grouped by day (``TruncDate``, in UTC) over an indexed range of the last 30 days.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Greatest, TruncDate
from django.utils import timezone

from accounts.models import Account
from integrations.connections.models import Connection
from integrations.connections.ratelimit import xero_limiter
from integrations.core.health import Health, connection_state, integration_health
from integrations.core.models import Integration
from integrations.sync.models import (
    OPEN_OUTCOMES,
    LedgerEntry,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)
from integrations.sync.push import PushHealth, push_health_for

DAYS = 30
Kind = XeroOperation.Kind
# What a day's "documents in Xero" counts: writes Xero confirmed, by what they made.
DOCUMENT_KINDS: dict[str, str] = {
    Kind.INVOICE: "invoices",
    Kind.PAYMENT: "payments",
    Kind.CREDIT_NOTE: "credit_notes",
    # A void (or deletion) answers the same news as a credit note: the invoice no longer stands.
    Kind.VOID: "credit_notes",
}


@dataclass(frozen=True)
class ConnectionGlance:
    provider: str
    name: str
    state: str
    ok: bool


@dataclass(frozen=True)
class Glance:
    """One integration's health at a glance."""

    integration: Integration
    health: Health
    connections: tuple[ConnectionGlance, ...]
    waiting: int
    """Opportunities waiting to be sent (pending ledger rows)."""
    attention: int
    """Records that failed or need a person, not resolved or dismissed."""
    pauses: tuple[tuple[str, str], ...]
    """(cause, why) of every pause in force."""
    push: PushHealth

    @property
    def last_success_at(self) -> dt.datetime | None:
        return self.integration.last_success_at


@dataclass(frozen=True)
class Day:
    day: dt.date
    invoices: int = 0
    payments: int = 0
    credit_notes: int = 0


@dataclass(frozen=True)
class Failures:
    """Records that failed or needed a person, per day and kind of work (the log's step)."""

    kinds: tuple[str, ...]
    rows: tuple[tuple[dt.date, tuple[int, ...]], ...]

    @property
    def total(self) -> int:
        return sum(sum(counts) for _, counts in self.rows)


@dataclass(frozen=True)
class Budget:
    """One Xero organisation's API calls: Xero allows ``per_day`` in a sliding 24 hours and
    ``per_minute`` a minute, whatever number of integrations share the organisation."""

    organisation: str
    tenant_id: str
    per_day: int
    per_minute: int
    used_24h: int | None
    """From the shared limiter (Xero's own lower figure wins); None when it cannot be asked."""
    minute_left: int | None
    runs_today: int
    """Calls our finished runs made since midnight UTC."""

    @property
    def percent(self) -> int:
        if self.used_24h is None or not self.per_day:
            return 0
        return min(100, round(100 * self.used_24h / self.per_day))


@dataclass(frozen=True)
class WaitTimes:
    """From won (the opportunity's SystemModstamp when first read as won) to invoiced (Xero's
    confirmation), for the invoices of the period."""

    count: int
    median: dt.timedelta | None
    p90: dt.timedelta | None


@dataclass(frozen=True)
class Dashboard:
    since: dt.date
    until: dt.date
    glances: tuple[Glance, ...]
    days: tuple[Day, ...]
    failures: Failures
    budgets: tuple[Budget, ...]
    wait: WaitTimes

    @property
    def totals(self) -> Day:
        return Day(
            self.until,
            invoices=sum(d.invoices for d in self.days),
            payments=sum(d.payments for d in self.days),
            credit_notes=sum(d.credit_notes for d in self.days),
        )

    def chart_data(self) -> dict[str, Any]:
        """What static/js/dashboard.js draws (rendered with ``json_script``): x in Unix
        seconds at midnight UTC, one list per series."""
        x = [
            int(dt.datetime.combine(d.day, dt.time(), tzinfo=dt.UTC).timestamp()) for d in self.days
        ]
        return {
            "x": x,
            "documents": {
                "Invoices": [d.invoices for d in self.days],
                "Payments": [d.payments for d in self.days],
                "Credit notes and voids": [d.credit_notes for d in self.days],
            },
            "failures": {
                kind: [counts[i] for _, counts in self.failures.rows]
                for i, kind in enumerate(self.failures.kinds)
            },
        }


def account_dashboard(*, account: Account, now: dt.datetime | None = None) -> Dashboard:
    """The dashboard of every integration of ``account`` together."""
    return _dashboard(Integration.objects.filter(account=account), now=now)


def integration_dashboard(*, integration: Integration, now: dt.datetime | None = None) -> Dashboard:
    """The dashboard of one integration (already checked to be the account's)."""
    return _dashboard(Integration.objects.filter(pk=integration.pk), now=now)


def _dashboard(integrations: QuerySet[Integration], *, now: dt.datetime | None) -> Dashboard:
    moment = now or timezone.now()
    until = moment.astimezone(dt.UTC).date()
    since = until - dt.timedelta(days=DAYS - 1)
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    loaded = list(
        integrations.select_related("account", "xero_connection", "salesforce_connection")
        .prefetch_related("pauses")
        .order_by("name", "id")
    )
    ids = [i.pk for i in loaded]
    return Dashboard(
        since=since,
        until=until,
        glances=_glances(loaded, now=moment),
        days=_documents(ids, since=since, until=until, start=start),
        failures=_failures(ids, since=since, until=until, start=start),
        budgets=_budgets(loaded, midnight=dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)),
        wait=_wait_times(ids, start=start),
    )


def _glances(integrations: list[Integration], *, now: dt.datetime) -> tuple[Glance, ...]:
    ids = [i.pk for i in integrations]
    waiting = _count_by_integration(
        LedgerEntry.objects.filter(integration_id__in=ids, state=LedgerEntry.State.PENDING)
    )
    attention = _count_by_integration(
        SyncLogEntry.objects.filter(
            integration_id__in=ids, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
        )
    )
    push = push_health_for(integration_ids=ids, now=now)
    return tuple(
        Glance(
            integration=integration,
            health=integration_health(integration),
            connections=tuple(
                _connection_glance(provider, connection)
                for provider, connection in (
                    ("Xero", integration.xero_connection),
                    ("Salesforce", integration.salesforce_connection),
                )
            ),
            waiting=waiting.get(integration.pk, 0),
            attention=attention.get(integration.pk, 0),
            pauses=tuple(
                (pause.get_cause_display(), pause.message)
                for pause in integration.active_pauses(now)
            ),
            push=push[integration.pk],
        )
        for integration in integrations
    )


def _connection_glance(provider: str, connection: Connection | None) -> ConnectionGlance:
    state, _ = connection_state(connection)
    return ConnectionGlance(
        provider=provider,
        name=connection.display_name if connection is not None else "",
        state=state,
        ok=state == "Active",
    )


def _count_by_integration(rows: QuerySet[Any]) -> dict[int, int]:
    return {
        row["integration_id"]: row["n"]
        for row in rows.order_by().values("integration_id").annotate(n=Count("id"))
    }


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=n) for n in range((until - since).days + 1)]


def _documents(
    ids: Sequence[int], *, since: dt.date, until: dt.date, start: dt.datetime
) -> tuple[Day, ...]:
    counts: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        XeroOperation.objects.filter(
            integration_id__in=ids,
            state=XeroOperation.State.DONE,
            finished_at__gte=start,
            kind__in=list(DOCUMENT_KINDS),
        )
        .annotate(day=TruncDate("finished_at"))
        .order_by()
        .values("day", "kind")
        # COUNT(*): every column it needs is in the index, which is all PostgreSQL reads.
        .annotate(n=Count("*"))
    )
    for row in rows:
        counts[row["day"]][DOCUMENT_KINDS[row["kind"]]] += row["n"]
    return tuple(Day(day, **counts.get(day, {})) for day in _days(since, until))


def _failures(
    ids: Sequence[int], *, since: dt.date, until: dt.date, start: dt.datetime
) -> Failures:
    rows = (
        SyncLogEntry.objects.filter(
            integration_id__in=ids, outcome__in=OPEN_OUTCOMES, created_at__gte=start
        )
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day", "step")
        .annotate(n=Count("id"))
    )
    by_day: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        by_day[row["day"]][_kind_label(row["step"])] += row["n"]
    kinds = tuple(sorted({kind for counts in by_day.values() for kind in counts}))
    return Failures(
        kinds=kinds,
        rows=tuple(
            (day, tuple(by_day.get(day, {}).get(kind, 0) for kind in kinds))
            for day in _days(since, until)
        ),
    )


def _kind_label(step: str) -> str:
    return step.replace("_", " ").capitalize() if step else "Other"


def _budgets(integrations: list[Integration], *, midnight: dt.datetime) -> tuple[Budget, ...]:
    organisations: dict[str, tuple[str, list[int]]] = {}
    for integration in integrations:
        connection = integration.xero_connection
        if connection is None or not connection.external_id:
            continue
        organisations.setdefault(connection.external_id, (connection.display_name, []))[1].append(
            integration.pk
        )
    if not organisations:
        return ()
    today = {
        row["integration_id"]: int(row["calls"] or 0)
        for row in SyncRun.objects.filter(
            integration_id__in=[pk for _, members in organisations.values() for pk in members],
            started_at__gte=midnight,
        )
        .order_by()
        .values("integration_id")
        .annotate(calls=Sum("xero_calls"))
    }
    limiter = xero_limiter()
    budgets = []
    for tenant_id, (name, members) in organisations.items():
        remaining = limiter.remaining(tenant_id)
        budgets.append(
            Budget(
                organisation=name,
                tenant_id=tenant_id,
                per_day=limiter.limits.per_day,
                per_minute=limiter.limits.per_minute,
                used_24h=max(0, limiter.limits.per_day - remaining.day) if remaining else None,
                minute_left=remaining.minute if remaining else None,
                runs_today=sum(today.get(pk, 0) for pk in members),
            )
        )
    return tuple(budgets)


class _PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(share) WITHIN GROUP (ORDER BY …)``: interpolated."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(share)s) WITHIN GROUP (ORDER BY %(expressions)s)"


class _PercentileDisc(_PercentileCont):
    """``percentile_disc``: the smallest value that ``share`` of the values do not exceed."""

    function = "PERCENTILE_DISC"


def _wait_times(ids: Sequence[int], *, start: dt.datetime) -> WaitTimes:
    rows = LedgerEntry.objects.filter(
        integration_id__in=ids, invoiced_at__gte=start, first_seen_won_at__isnull=False
    )
    # Salesforce's clock may run a little ahead of ours: never a negative wait.
    wait = Greatest(
        ExpressionWrapper(F("invoiced_at") - F("first_seen_won_at"), output_field=DurationField()),
        Value(dt.timedelta(0)),
    )
    if connection.vendor == "postgresql":
        # A month of invoices is thousands of rows: the percentiles are computed where they
        # are, and one row comes back.
        figures = rows.aggregate(
            count=Count("*"),
            median=_PercentileCont(wait, share=0.5, output_field=DurationField()),
            p90=_PercentileDisc(wait, share=0.9, output_field=DurationField()),
        )
        return WaitTimes(count=figures["count"], median=figures["median"], p90=figures["p90"])
    waits = sorted(
        value.total_seconds() for value in rows.annotate(wait=wait).values_list("wait", flat=True)
    )
    if not waits:
        return WaitTimes(count=0, median=None, p90=None)
    return WaitTimes(
        count=len(waits),
        median=dt.timedelta(seconds=statistics.median(waits)),
        p90=dt.timedelta(seconds=_percentile(waits, 0.9)),
    )


def _percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value that ``share`` of the values do not exceed."""
    rank = min(len(ordered), max(1, math.ceil(share * len(ordered))))
    return ordered[rank - 1]

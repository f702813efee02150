"""``sync.stats``: every figure of the dashboard from rows written as the engine writes them —
the documents and failures of each UTC day (midnight belongs to the day it starts), the wait
from won to invoiced, the Xero budget per organisation, health at a glance — counting only the
account's (or the integration's) own rows, in a number of queries that does not grow."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from accounts.models import Account
from integrations.connections import ratelimit
from integrations.connections.models import Connection
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.sync import stats
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 30, 15, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
FIRST_DAY = TODAY - dt.timedelta(days=29)
Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome
_ids = itertools.count(1)


def _connection(account: Account, provider: str, external_id: str = "") -> Connection:
    return Connection.objects.create(
        account=account,
        provider=provider,
        external_id=external_id or f"{provider}-{next(_ids)}",
        display_name=f"{provider} {account.name}",
        credentials={},
    )


def _integration(account: Account, *, xero: Connection | None = None) -> Integration:
    return Integration.objects.create(
        account=account,
        name=f"Integration {next(_ids)}",
        is_enabled=True,
        salesforce_connection=_connection(account, "salesforce"),
        xero_connection=xero or _connection(account, "xero"),
    )


@pytest.fixture
def integration(account: Account) -> Integration:
    return _integration(account)


@pytest.fixture
def other(db: object) -> Integration:
    """Another account's integration: none of its rows may count."""
    return _integration(AccountFactory.create())


@pytest.fixture(autouse=True)
def _limiter() -> object:
    ratelimit.reset_for_tests()
    yield
    ratelimit.reset_for_tests()


def _done(integration: Integration, kind: str, at: dt.datetime, *, state: str = "done") -> None:
    XeroOperation.objects.create(
        integration=integration,
        kind=kind,
        state=state,
        subject=f"s{next(_ids)}",
        finished_at=at,
    )


def _entry(integration: Integration, outcome: str, at: dt.datetime, step: str = "invoice") -> None:
    SyncLogEntry.objects.create(
        integration=integration, outcome=outcome, step=step, message="m", created_at=at
    )


def _ledger(integration: Integration, **fields: object) -> LedgerEntry:
    return LedgerEntry.objects.create(
        integration=integration, salesforce_id=f"006{next(_ids):015d}", **fields
    )


def _day(day: dt.date, *, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def _by_day(dashboard: stats.Dashboard) -> dict[dt.date, stats.Day]:
    return {d.day: d for d in dashboard.days}


def test_documents_per_day_by_kind_within_the_30_days(integration, other):
    yesterday = TODAY - dt.timedelta(days=1)
    _done(integration, Kind.INVOICE, _day(yesterday, hour=23, minute=59, second=59))
    _done(integration, Kind.INVOICE, _day(TODAY, hour=0))  # midnight: today's
    _done(integration, Kind.INVOICE, _day(TODAY))
    _done(integration, Kind.PAYMENT, _day(TODAY))
    _done(integration, Kind.CREDIT_NOTE, _day(FIRST_DAY, hour=0))
    _done(integration, Kind.VOID, _day(FIRST_DAY))
    # Outside the window, not done, or not a document: not counted.
    _done(integration, Kind.INVOICE, _day(FIRST_DAY - dt.timedelta(days=1), hour=23))
    _done(integration, Kind.INVOICE, _day(TODAY), state="failed")
    _done(integration, Kind.CONTACT, _day(TODAY))
    _done(other, Kind.INVOICE, _day(TODAY))

    dashboard = stats.integration_dashboard(integration=integration, now=NOW)

    assert (dashboard.since, dashboard.until) == (FIRST_DAY, TODAY)
    assert len(dashboard.days) == 30
    days = _by_day(dashboard)
    assert days[TODAY] == stats.Day(TODAY, invoices=2, payments=1, credit_notes=0)
    assert days[yesterday] == stats.Day(yesterday, invoices=1)
    assert days[FIRST_DAY] == stats.Day(FIRST_DAY, credit_notes=2)
    assert dashboard.totals.invoices == 3
    assert dashboard.totals.payments == 1
    assert dashboard.totals.credit_notes == 2
    data = dashboard.chart_data()
    assert data["x"][0] == int(_day(FIRST_DAY, hour=0).timestamp())
    assert data["documents"]["Invoices"][-2:] == [1, 2]


def test_failures_per_day_by_kind_of_work(integration, other):
    _entry(integration, Outcome.FAILED, _day(TODAY), step="invoice")
    _entry(integration, Outcome.FAILED, _day(TODAY, hour=0), step="invoice")
    _entry(integration, Outcome.ATTENTION, _day(TODAY), step="payment")
    _entry(integration, Outcome.FAILED, _day(FIRST_DAY), step="")
    # Not a failure, too old, or someone else's.
    _entry(integration, Outcome.WARNING, _day(TODAY))
    _entry(integration, Outcome.CREATED, _day(TODAY))
    _entry(integration, Outcome.FAILED, _day(FIRST_DAY, hour=0) - dt.timedelta(seconds=1))
    _entry(other, Outcome.FAILED, _day(TODAY))

    failures = stats.integration_dashboard(integration=integration, now=NOW).failures

    assert failures.kinds == ("Invoice", "Other", "Payment")
    rows = dict(failures.rows)
    assert rows[TODAY] == (2, 0, 1)
    assert rows[FIRST_DAY] == (0, 1, 0)
    assert failures.total == 4


def test_wait_from_won_to_invoiced_median_and_p90(integration, other):
    for minutes in (1, 2, 3, 4, 5, 6, 7, 8, 9, 60):
        invoiced = _day(TODAY - dt.timedelta(days=minutes % 5))
        _ledger(
            integration,
            first_seen_won_at=invoiced - dt.timedelta(minutes=minutes),
            invoiced_at=invoiced,
        )
    # History (never seen won live), invoiced before the window, not invoiced: not counted.
    _ledger(integration, first_seen_won_at=None, invoiced_at=_day(TODAY))
    _ledger(
        integration,
        first_seen_won_at=_day(FIRST_DAY, hour=0) - dt.timedelta(days=3),
        invoiced_at=_day(FIRST_DAY, hour=0) - dt.timedelta(seconds=1),
    )
    _ledger(integration, first_seen_won_at=_day(TODAY))
    _ledger(other, first_seen_won_at=_day(TODAY, hour=1), invoiced_at=_day(TODAY))

    wait = stats.integration_dashboard(integration=integration, now=NOW).wait

    assert wait.count == 10
    assert wait.median == dt.timedelta(minutes=5.5)
    assert wait.p90 == dt.timedelta(minutes=9)


def test_a_salesforce_clock_ahead_of_ours_never_makes_a_negative_wait(integration):
    _ledger(integration, first_seen_won_at=_day(TODAY, minute=5), invoiced_at=_day(TODAY))
    wait = stats.integration_dashboard(integration=integration, now=NOW).wait
    assert wait.median == dt.timedelta(0)


def test_no_invoice_no_wait_figures(integration):
    assert stats.integration_dashboard(integration=integration, now=NOW).wait == stats.WaitTimes(
        count=0, median=None, p90=None
    )


def test_xero_budget_per_organisation(account, integration, other, settings):
    settings.XERO_LIMIT_PER_DAY = 5000
    settings.XERO_LIMIT_PER_MINUTE = 60
    # A second integration of the same Xero organisation shares its budget.
    sibling = _integration(account, xero=integration.xero_connection)
    limiter = ratelimit.xero_limiter()
    tenant = integration.xero_connection.external_id
    for _ in range(3):
        limiter.release(limiter.acquire(tenant))
    limiter.release(limiter.acquire(other.xero_connection.external_id))
    midnight = _day(TODAY, hour=0)
    SyncRun.objects.create(integration=integration, started_at=midnight, xero_calls=40)
    SyncRun.objects.create(integration=sibling, started_at=_day(TODAY), xero_calls=2)
    SyncRun.objects.create(
        integration=integration, started_at=midnight - dt.timedelta(seconds=1), xero_calls=500
    )
    SyncRun.objects.create(integration=other, started_at=_day(TODAY), xero_calls=7)

    (budget,) = stats.account_dashboard(account=account, now=NOW).budgets

    assert budget.tenant_id == tenant
    assert budget.organisation == integration.xero_connection.display_name
    assert budget.used_24h == 3
    assert budget.per_day == 5000
    assert budget.minute_left == 57
    assert budget.runs_today == 42
    assert budget.percent == 0


def test_glance_waiting_attention_pauses_and_connections(integration, other):
    _ledger(integration, state=LedgerEntry.State.PENDING)
    _ledger(integration, state=LedgerEntry.State.PENDING)
    _ledger(integration, state=LedgerEntry.State.SYNCED)
    _ledger(other, state=LedgerEntry.State.PENDING)
    _entry(integration, Outcome.FAILED, NOW)
    _entry(integration, Outcome.ATTENTION, NOW)
    SyncLogEntry.objects.create(
        integration=integration, outcome=Outcome.FAILED, message="m", dismissed_at=NOW
    )
    IntegrationPause.objects.create(
        integration=integration, cause=PauseCause.CONFIGURATION, message="Tax rate deleted."
    )
    IntegrationPause.objects.create(
        integration=integration,
        cause=PauseCause.RATE_LIMIT,
        message="Over.",
        until=NOW - dt.timedelta(minutes=1),
    )
    Connection.objects.filter(pk=integration.salesforce_connection_id).update(
        status=Connection.Status.REVOKED
    )
    integration.last_success_at = NOW - dt.timedelta(hours=1)
    integration.save()

    (glance,) = stats.integration_dashboard(integration=integration, now=NOW).glances

    assert glance.waiting == 2
    assert glance.attention == 2
    assert glance.pauses == (("Configuration", "Tax rate deleted."),)
    assert glance.last_success_at == NOW - dt.timedelta(hours=1)
    xero, salesforce = glance.connections
    assert (xero.provider, xero.ok) == ("Xero", True)
    assert (salesforce.provider, salesforce.ok) == ("Salesforce", False)
    assert glance.health.state == "reauth"
    assert not glance.push.configured


def test_account_dashboard_counts_only_its_own_integrations(account, integration, other):
    second = _integration(account)
    _done(integration, Kind.INVOICE, _day(TODAY))
    _done(second, Kind.INVOICE, _day(TODAY))
    _done(other, Kind.INVOICE, _day(TODAY))
    dashboard = stats.account_dashboard(account=account, now=NOW)
    assert {g.integration.pk for g in dashboard.glances} == {integration.pk, second.pk}
    assert dashboard.totals.invoices == 2


def test_queries_do_not_grow_with_integrations_or_history(
    account, integration, django_assert_max_num_queries
):
    def load() -> None:
        for day in range(30):
            _done(integration, Kind.INVOICE, _day(TODAY - dt.timedelta(days=day)))
            _entry(integration, Outcome.FAILED, _day(TODAY - dt.timedelta(days=day)))

    load()
    # Integrations, pauses, waiting, attention, push (2), documents, failures, runs, waits.
    with django_assert_max_num_queries(10):
        stats.account_dashboard(account=account, now=NOW)
    for _ in range(3):
        _integration(account)
    load()
    with django_assert_max_num_queries(10):
        stats.account_dashboard(account=account, now=NOW)

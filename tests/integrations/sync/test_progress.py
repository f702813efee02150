"""``sync.progress``: the long work to watch — a running back-fill, or a counted first sync
running or waiting between its runs — with done, total, rate and time left; nothing once done."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.core.models import Integration
from integrations.sync.models import Backfill, SyncRun
from integrations.sync.progress import live_progress

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 30, 15, 0, tzinfo=dt.UTC)
Status = SyncRun.Status


@pytest.fixture
def integration(account) -> Integration:
    return Integration.objects.create(account=account, name="Main", is_enabled=True)


def _run(integration: Integration, *, minutes_ago: float, **fields: object) -> SyncRun:
    return SyncRun.objects.create(
        integration=integration, started_at=NOW - dt.timedelta(minutes=minutes_ago), **fields
    )


def test_a_running_first_sync_shows_done_total_rate_and_time_left(integration):
    _run(integration, minutes_ago=10, status=Status.RUNNING, expected_count=3000, read_count=1000)
    progress = live_progress(integration=integration, now=NOW)
    assert progress is not None
    assert (progress.kind, progress.done, progress.total) == ("first_sync", 1000, 3000)
    assert progress.percent == 33
    assert progress.rate_per_minute == pytest.approx(100)
    assert progress.seconds_left == 20 * 60
    assert progress.time_left == "about 20 minutes"
    assert progress.waiting == ""


def test_a_first_sync_stopped_by_a_rate_limit_waits_for_its_next_run(integration):
    _run(
        integration,
        minutes_ago=30,
        status=Status.STOPPED,
        expected_count=3000,
        read_count=2000,
        error="Xero's minute limit.",
    )
    # A pushed deal's run in between does not end the first sync.
    _run(integration, minutes_ago=1, status=Status.SUCCEEDED, trigger=SyncRun.Trigger.PUSH)
    progress = live_progress(integration=integration, now=NOW)
    assert progress is not None
    assert progress.done == 2000
    assert progress.waiting == "Xero's minute limit. It continues on the next run."


@pytest.mark.parametrize(
    ("fields", "enabled"),
    [
        ({"status": Status.SUCCEEDED, "expected_count": 10, "read_count": 10}, True),
        ({"status": Status.PARTIAL, "expected_count": 10, "read_count": 10}, True),
        ({"status": Status.RUNNING, "expected_count": None}, True),  # an ordinary poll
        ({"status": Status.STOPPED, "expected_count": 10}, False),  # switched off meanwhile
    ],
)
def test_nothing_to_watch_once_done_or_for_ordinary_runs(integration, fields, enabled):
    integration.is_enabled = enabled
    integration.save()
    _run(integration, minutes_ago=1, **fields)
    assert live_progress(integration=integration, now=NOW) is None


def test_a_running_backfill_comes_first(integration):
    _run(integration, minutes_ago=1, status=Status.RUNNING, expected_count=10)
    Backfill.objects.create(
        integration=integration,
        since=dt.date(2025, 1, 1),
        total=600,
        processed=300,
        created_at=NOW - dt.timedelta(minutes=3),
    )
    progress = live_progress(integration=integration, now=NOW)
    assert progress is not None
    assert (progress.kind, progress.label) == ("backfill", "Import of history")
    assert progress.rate_per_minute == pytest.approx(100)
    assert progress.time_left == "about 3 minutes"


def test_a_backfill_being_counted_has_no_total_nor_time_left(integration):
    Backfill.objects.create(integration=integration, since=dt.date(2025, 1, 1), created_at=NOW)
    progress = live_progress(integration=integration, now=NOW)
    assert progress is not None
    assert progress.total is None
    assert progress.percent == 0
    assert progress.rate_per_minute is None
    assert progress.time_left == ""

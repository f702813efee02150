"""Bounded runs: a run stops reading at its budget (a chunk boundary), finishes normally, says
it left more, and the runs after it carry on from there without a duplicate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from integrations.connections.salesforce.records import Opportunity
from integrations.core import queue
from integrations.core.models import Integration
from integrations.sync.context import RunBudget
from integrations.sync.models import Backfill, LedgerEntry, PushEndpoint, SyncRun
from integrations.sync.push import poll_due
from integrations.sync.run import sync_integration
from integrations.sync.steps import read
from integrations.tasks import sync_integration_task
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from tests.integrations.sync import helpers as h

pytestmark = pytest.mark.django_db

CHUNK = 10


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 10 instead of 1,000, so the demo seed spans several."""
    original = read.chunks

    def chunks(records: Iterable[Opportunity], size: int = CHUNK) -> Iterator[list[Opportunity]]:
        return original(records, CHUNK)

    monkeypatch.setattr(read, "chunks", chunks)


def _runs_until_done(integration: Integration, limit: int) -> list[SyncRun]:
    runs: list[SyncRun] = []
    for _ in range(limit):
        run = sync_integration(integration_id=integration.pk)
        assert run is not None
        assert run.status != SyncRun.Status.FAILED, run.error
        runs.append(run)
        if not run.left_more:
            return runs
    raise AssertionError(f"still more left after {limit} runs")


def test_a_run_stops_at_its_budget_says_so_and_the_next_runs_finish_without_duplicates(
    integration: Integration, settings: Any, small_chunks: None
) -> None:
    settings.SYNC_RUN_MAX_OPPORTUNITIES = 2 * CHUNK
    settings.SYNC_RUN_MAX_SECONDS = 0
    total = len(h.won())
    assert total > 3 * CHUNK, "the demo seed is too small for this test"

    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    first.refresh_from_db()
    assert first.left_more
    assert first.status == SyncRun.Status.STOPPED
    assert "the rest continues in the next run" in first.error
    # Stopped at the first chunk boundary at or past the budget: two chunks, no more.
    assert first.read_count == 2 * CHUNK
    assert LedgerEntry.objects.filter(integration=integration).count() == 2 * CHUNK

    # The rest in a few wider runs (each still stopping at a chunk boundary).
    settings.SYNC_RUN_MAX_OPPORTUNITIES = max(2 * CHUNK, total // 3)
    rest = _runs_until_done(integration, limit=total)
    assert len(rest) >= 2
    assert not rest[-1].left_more
    assert rest[-1].status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
    rows = LedgerEntry.objects.filter(integration=integration)
    assert set(rows.values_list("salesforce_id", flat=True)) == h.won()
    h.no_duplicates(integration)
    assert h.ours().count() == rows.filter(state=LedgerEntry.State.SYNCED).count()


def test_a_backfill_finishes_over_several_runs_from_its_cursor_without_duplicates(
    integration: Integration, settings: Any, small_chunks: None
) -> None:
    closes = sorted(
        SandboxOpportunity.objects.filter(sf_id__in=h.won()).values_list("close_date", flat=True)
    )
    integration.config = {**integration.config, "start_date": closes[-1].isoformat()}
    integration.save()
    h.sync(integration)
    # Four or five runs: enough to resume from a cursor several times.
    settings.SYNC_RUN_MAX_OPPORTUNITIES = max(CHUNK, len(h.won()) // 4)
    settings.SYNC_RUN_MAX_SECONDS = 0
    backfill = Backfill.objects.create(integration=integration, since=closes[0] - dt.timedelta(1))

    runs = _runs_until_done(integration, limit=len(h.won()) + 2)
    assert len(runs) >= 3
    assert {r.trigger for r in runs} == {SyncRun.Trigger.BACKFILL}
    assert all(r.left_more for r in runs[:-1])
    backfill.refresh_from_db()
    assert backfill.status == Backfill.Status.DONE
    # Each run counts only what lies past the cursor it resumed from: no double counting.
    assert backfill.processed == backfill.total == len(h.won())
    assert h.ours().count() == len(h.won())
    h.no_duplicates(integration)


def test_the_budget_counts_only_work_and_seconds_once_some_was_done() -> None:
    now = [0.0]
    budget = RunBudget(opportunities=10, seconds=60, clock=lambda: now[0])
    now[0] = 120.0
    assert not budget.exhausted  # nothing done yet: stopping would leave nothing behind it
    budget.spend(1)
    assert budget.exhausted
    budget = RunBudget(opportunities=10, seconds=0, clock=lambda: now[0])
    budget.spend(9)
    assert not budget.exhausted
    budget.spend(1)
    assert budget.exhausted


def test_a_push_run_reads_no_backfill(integration: Integration, settings: Any) -> None:
    h.sync(integration)
    Backfill.objects.create(integration=integration, since=dt.date(2000, 1, 1))
    run = sync_integration(integration_id=integration.pk, trigger=SyncRun.Trigger.PUSH)
    assert run is not None
    assert run.trigger == SyncRun.Trigger.PUSH
    assert Backfill.objects.get(integration=integration).processed == 0


def test_the_task_queues_one_continuation_and_the_poll_still_finds_the_rest(
    integration: Integration, settings: Any, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[Any, Any, Any]] = []

    class Task:
        def apply_async(self, args: Any, kwargs: Any = None, countdown: Any = None) -> None:
            sent.append((args, kwargs, countdown))

    monkeypatch.setattr(queue, "_task", lambda name: Task())
    cache.clear()
    settings.SYNC_RUN_MAX_OPPORTUNITIES = CHUNK
    settings.SYNC_RUN_MAX_SECONDS = 0
    sync_integration_task(integration.pk, trigger="manual")
    # At once (no countdown), with the trigger it came with.
    assert sent == [((integration.pk,), {"trigger": "manual"}, 0.0)]
    # One continuation waits already: another run's end adds none.
    assert not queue.enqueue_continuation(integration_id=integration.pk, trigger="poll")
    assert len(sent) == 1
    # The message lost: push is healthy, the poll ran a moment ago, yet the rest is open work.
    settings.PUSH_HEALTHY_WITHIN = 3600
    PushEndpoint.objects.create(
        integration=integration, token="t", token_digest="d", last_message_at=timezone.now()
    )
    SyncRun.objects.filter(integration=integration).update(trigger=SyncRun.Trigger.POLL)
    assert poll_due([integration.pk]) == [integration.pk]
    # The continuation runs: it clears the mark and queues the next one.
    sync_integration_task(integration.pk, trigger="manual")
    assert len(sent) == 2

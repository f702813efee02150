"""``steps.read``: rows still waiting re-read by id first (one that no longer counts withdrawn
with Salesforce's reason), then won opportunities changed since the watermark (less its
overlap), the watermark passing only what was fully processed. ``process_chunk`` is replaced by
a recorder: what it does is ``test_chunk``'s business."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import pytest

from integrations.connections.salesforce.reader import ReadSpec
from integrations.connections.salesforce.records import Opportunity
from integrations.core.models import Integration
from integrations.sync.context import RunContext
from integrations.sync.models import LedgerEntry, SyncRun
from integrations.sync.protocol import Stop
from integrations.sync.steps import read
from tests.integrations.sync.steps.fakes import FakeSalesforce, sf_opportunity
from tests.integrations.sync.steps.rows import entries, ledger, sf_id

pytestmark = pytest.mark.django_db

State = LedgerEntry.State
WATERMARK = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC)


class Chunks:
    """Records each chunk processed; settles each opportunity (as ``process_chunk`` does per
    batch of sends) and stops the run at ``stop_at``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[list[str]] = []
        self.stop_at = ""
        monkeypatch.setattr(read, "process_chunk", self)

    def __call__(
        self,
        ctx: RunContext,
        chunk: list[Opportunity],
        *,
        settled: Callable[[Opportunity], None] | None = None,
    ) -> None:
        self.seen.append([o.salesforce_id for o in chunk])
        for o in chunk:
            if o.salesforce_id == self.stop_at:
                raise Stop("rate limited")
            if settled is not None:
                settled(o)


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> Chunks:
    return Chunks(monkeypatch)


def _stamp(minute: int) -> dt.datetime:
    return dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)


def _watermark(ctx: RunContext) -> dt.datetime | None:
    return Integration.objects.get(pk=ctx.integration.pk).watermark


# --- changed since the watermark -----------------------------------------------------------------


def test_changed_reads_from_the_watermark_less_the_overlap(ctx: RunContext, chunks: Chunks) -> None:
    ctx.integration.watermark = WATERMARK
    old, overlapping, new = sf_id(), sf_id(), sf_id()
    source = FakeSalesforce(
        sf_opportunity(old, minute=20),
        sf_opportunity(overlapping, minute=27),
        sf_opportunity(new, minute=45),
        sf_opportunity(sf_id(), minute=50, won=False),
    )
    spec = read.read_spec(ctx, ctx.config, multi_currency=False)
    read.changed(ctx, source, spec, skip=set())
    ((soql, include_deleted),) = source.queries
    assert not include_deleted
    assert "SystemModstamp >= 2026-03-02T10:25:00Z" in soql
    assert chunks.seen == [[overlapping, new]]
    assert ctx.run.read_count == 2
    assert _watermark(ctx) == _stamp(45)


def test_changed_skips_what_the_waiting_rows_already_processed(
    ctx: RunContext, chunks: Chunks
) -> None:
    done, fresh = sf_id(), sf_id()
    source = FakeSalesforce(sf_opportunity(done, minute=1), sf_opportunity(fresh, minute=2))
    read.changed(ctx, source, ReadSpec(), skip={done})
    assert chunks.seen == [[fresh]]


def test_the_watermark_passes_only_what_was_settled_before_a_stop(
    ctx: RunContext, chunks: Chunks
) -> None:
    ctx.integration.watermark = WATERMARK
    ids = [sf_id() for _ in range(4)]
    source = FakeSalesforce(*(sf_opportunity(i, minute=40 + n) for n, i in enumerate(ids)))
    chunks.stop_at = ids[2]
    with pytest.raises(Stop):
        read.changed(ctx, source, ReadSpec(since=WATERMARK), skip=set())
    assert _watermark(ctx) == _stamp(41)
    # The next run re-reads from there: the stopped opportunity and what follows.
    chunks.stop_at = ""
    read.changed(ctx, source, ReadSpec(since=_stamp(41)), skip=set())
    assert chunks.seen[-1][-2:] == ids[2:]
    assert _watermark(ctx) == _stamp(43)


def test_the_watermark_never_moves_back(ctx: RunContext, chunks: Chunks) -> None:
    ctx.integration.watermark = WATERMARK
    Integration.objects.filter(pk=ctx.integration.pk).update(watermark=WATERMARK)
    # Only records inside the overlap, older than the watermark.
    source = FakeSalesforce(sf_opportunity(sf_id(), minute=27))
    read.changed(ctx, source, ReadSpec(since=WATERMARK), skip=set())
    assert chunks.seen
    assert _watermark(ctx) == WATERMARK


def test_records_are_grouped_into_chunks_of_the_size_given() -> None:
    records = [sf_id() for _ in range(5)]
    assert [len(c) for c in read.chunks(records, size=2)] == [2, 2, 1]  # type: ignore[arg-type]
    assert list(read.chunks([], size=2)) == []


def test_a_run_that_lost_its_claim_stops_before_a_chunk(ctx: RunContext, chunks: Chunks) -> None:
    ctx.heartbeat.lost.set()
    source = FakeSalesforce(sf_opportunity(sf_id(), minute=1))
    with pytest.raises(Stop):
        read.changed(ctx, source, ReadSpec(), skip=set())
    assert chunks.seen == []
    assert _watermark(ctx) is None


# --- rows still waiting --------------------------------------------------------------------------


def test_waiting_rows_are_re_read_by_id_whatever_the_watermark(
    ctx: RunContext, chunks: Chunks
) -> None:
    ctx.integration.watermark = WATERMARK
    old = ledger(ctx, state=State.PENDING, xero_invoice_id="")
    ledger(ctx, state=State.SYNCED)
    source = FakeSalesforce(sf_opportunity(old.salesforce_id, minute=1))
    done = read.waiting(ctx, source, ReadSpec(since=WATERMARK))
    assert done == {old.salesforce_id}
    assert chunks.seen == [[old.salesforce_id]]
    # The watermark does not move here.
    assert _watermark(ctx) is None


def test_no_waiting_rows_no_query(ctx: RunContext, chunks: Chunks) -> None:
    source = FakeSalesforce()
    assert read.waiting(ctx, source, ReadSpec()) == set()
    assert source.queries == []


def test_a_waiting_row_that_no_longer_counts_is_withdrawn(ctx: RunContext, chunks: Chunks) -> None:
    counting = ledger(ctx, state=State.PENDING, xero_invoice_id="")
    lost = ledger(ctx, state=State.PENDING, xero_invoice_id="")
    gone = ledger(ctx, state=State.PENDING, xero_invoice_id="")
    source = FakeSalesforce(
        sf_opportunity(counting.salesforce_id),
        sf_opportunity(lost.salesforce_id, won=False, stage="Closed Lost"),
    )
    done = read.waiting(ctx, source, ReadSpec())
    assert done == {counting.salesforce_id}
    rows = {r.pk: (r.state, r.withdrawn) for r in LedgerEntry.objects.all()}
    assert rows[counting.pk] == (State.PENDING, "")
    assert rows[lost.pk] == (State.WITHDRAWN, "lost")
    assert rows[gone.pk] == (State.WITHDRAWN, "deleted")
    assert [e.outcome for e in entries(ctx)] == ["skipped", "skipped"]


# --- a first sync's progress -------------------------------------------------------------------


def test_a_first_sync_counts_what_it_reads_and_saves_its_progress_per_chunk(
    ctx: RunContext, chunks: Chunks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read, "chunks", functools.partial(read.chunks, size=2))
    ledger(ctx, state=State.PENDING, xero_invoice_id="")
    source = FakeSalesforce(*(sf_opportunity(sf_id(), minute=m) for m in range(5)))
    saved: list[int] = []

    def watching(chunk_ctx: RunContext, chunk: list[Opportunity], **kwargs: object) -> None:
        saved.append(SyncRun.objects.get(pk=ctx.run.pk).read_count)

    monkeypatch.setattr(read, "process_chunk", watching)
    spec = read.read_spec(ctx, ctx.config, multi_currency=False)
    assert read.count_first_sync(ctx, source, spec) == 5
    assert SyncRun.objects.get(pk=ctx.run.pk).expected_count == 6  # the waiting row too
    read.changed(ctx, source, spec, skip=set())
    # Each chunk's count is in the database before the next chunk is processed.
    assert saved == [0, 2, 4]
    assert SyncRun.objects.get(pk=ctx.run.pk).read_count == 5


def test_an_ordinary_run_counts_nothing(ctx: RunContext, chunks: Chunks) -> None:
    ctx.integration.watermark = WATERMARK
    source = FakeSalesforce(sf_opportunity(sf_id(), minute=40))
    spec = read.read_spec(ctx, ctx.config, multi_currency=False)
    assert read.count_first_sync(ctx, source, spec) is None
    assert source.queries == []
    read.changed(ctx, source, spec, skip=set())
    assert SyncRun.objects.get(pk=ctx.run.pk).expected_count is None


def test_a_first_sync_stopped_early_is_counted_again_by_the_run_that_continues_it(
    ctx: RunContext, chunks: Chunks
) -> None:
    SyncRun.objects.filter(pk=ctx.run.pk).update(
        status=SyncRun.Status.STOPPED, expected_count=10, started_at=WATERMARK
    )
    ctx.run = SyncRun.objects.create(integration=ctx.integration)
    ctx.integration.watermark = WATERMARK
    source = FakeSalesforce(sf_opportunity(sf_id(), minute=40), sf_opportunity(sf_id(), minute=1))
    spec = read.read_spec(ctx, ctx.config, multi_currency=False)
    assert read.count_first_sync(ctx, source, spec) == 1
    assert SyncRun.objects.get(pk=ctx.run.pk).expected_count == 1

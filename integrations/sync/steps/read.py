"""Reading: rows still waiting, then won opportunities changed since the watermark, then a
back-fill if a person asked for one — each in chunks of 50 through ``chunk.process_chunk``.

Rows still waiting (a retry, a settled unknown, a rate-limited send, a rule that could not be
applied) are re-read by id first: the watermark query may never return their opportunities
again. The watermark advances only past chunks that were fully processed; a run stopped early
re-reads from there next time (reads are idempotent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from django.utils import timezone

from integrations.connections.salesforce.reader import (
    PageSource,
    ReadSpec,
    build_count_soql,
    read_opportunities,
    read_opportunities_by_id,
)
from integrations.connections.salesforce.records import Opportunity
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.specs import fields_needed
from integrations.sync.context import RunContext
from integrations.sync.models import Backfill, LedgerEntry, PushNotification, SyncRun
from integrations.sync.protocol import Stop
from integrations.sync.steps import contacts, lifecycle
from integrations.sync.steps.chunk import process_chunk

# Opportunities processed together (their contacts matched and created together; invoices
# still go 50 a request); the watermark passes a group once all of it is settled.
CHUNK_SIZE = 1000
PAGE_SIZE = 2000
# A first sync this large reads the organisation's contacts once instead of looking them up
# group by group: one page of 1,000 contacts is worth it for every 100 opportunities.
INDEX_FROM = 500
OPPORTUNITIES_PER_CONTACT_PAGE = 100


def chunks(records: Iterable[Opportunity], size: int = CHUNK_SIZE) -> Iterator[list[Opportunity]]:
    chunk: list[Opportunity] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_spec(ctx: RunContext, config: SyncConfig, *, multi_currency: bool) -> ReadSpec:
    opportunity_fields, account_fields = fields_needed(config, ctx.rules)
    if config.reference_field != "Name" and config.reference_field not in opportunity_fields:
        opportunity_fields = (*opportunity_fields, config.reference_field)
    return ReadSpec(
        since=ctx.integration.watermark,
        stage=config.stage or None,
        start_date=config.start_date,
        multi_currency=multi_currency,
        opportunity_fields=opportunity_fields,
        account_fields=account_fields,
    )


class BudgetSpent(Exception):
    """The run read its share (``RunBudget``): the rest is left to its continuation."""


def _spent(ctx: RunContext) -> None:
    """At a chunk boundary, once the chunk's progress is saved: stops reading at the budget."""
    if ctx.budget.exhausted:
        raise BudgetSpent


def _process(
    ctx: RunContext,
    chunk: list[Opportunity],
    settled: Callable[[Opportunity], None] | None = None,
) -> None:
    if ctx.heartbeat.lost.is_set():
        raise Stop("This run lost its claim to another worker and stopped; nothing is lost.")
    ctx.run.read_count += len(chunk)
    skipped = ctx.run.skipped_count
    process_chunk(ctx, chunk, settled=settled)
    ctx.budget.spend(len(chunk) - (ctx.run.skipped_count - skipped))
    if ctx.run.expected_count is not None:
        # A counted run is watched in the panel while it goes: its progress is saved per chunk
        # (one UPDATE per thousand opportunities), not only when the run ends.
        SyncRun.objects.filter(pk=ctx.run.pk).update(read_count=ctx.run.read_count)


def waiting(ctx: RunContext, source: PageSource, spec: ReadSpec) -> set[str]:
    """Processes the opportunities of PENDING rows; returns the ids processed.

    A waiting row whose opportunity no longer counts is withdrawn (with the reason read from
    Salesforce). The watermark does not move here: these records may be newer than others not
    yet read.
    """
    ids = list(
        LedgerEntry.objects.filter(integration=ctx.integration, state=LedgerEntry.State.PENDING)
        .order_by("salesforce_id")
        .values_list("salesforce_id", flat=True)
    )
    done: set[str] = set()
    if not ids:
        return done
    for chunk in chunks(read_opportunities_by_id(source, spec, ids, batch_size=PAGE_SIZE)):
        _process(ctx, chunk)
        done.update(o.salesforce_id for o in chunk)
        # Stopped here, the rows not read yet stay PENDING: the continuation reads them first.
        _spent(ctx)
    gone = [i for i in ids if i not in done]
    if gone:
        lifecycle.explain_gone(ctx, source, gone)
    return done


def pushed(ctx: RunContext, source: PageSource, spec: ReadSpec, skip: set[str]) -> set[str]:
    """The opportunities Salesforce pushed (``PushNotification``), re-read by id and processed
    like any other; returns the ids processed.

    Only the notifications received before this step started are taken, and only those are
    deleted once processed: an opportunity notified again meanwhile stays pending (a newer
    ``received_at``) for the next run. Opportunities that do not count (not won, outside the
    configured stage or dates) are read as nothing and produce nothing; the ones in ``skip``
    were processed by this run already.
    """
    started = timezone.now()
    mine = PushNotification.objects.filter(integration=ctx.integration, received_at__lte=started)
    ids = sorted(set(mine.values_list("salesforce_id", flat=True)))
    done: set[str] = set()
    if not ids:
        return done
    unread = [i for i in ids if i not in skip]
    for chunk in chunks(read_opportunities_by_id(source, spec, unread, batch_size=PAGE_SIZE)):
        _process(ctx, chunk)
        taken = [o.salesforce_id for o in chunk]
        done.update(taken)
        # Consumed as each chunk is settled: a run stopped later re-reads only the rest.
        mine.filter(salesforce_id__in=taken).delete()
        _spent(ctx)
    mine.filter(salesforce_id__in=ids).delete()
    return done


def index_contacts(ctx: RunContext, source: PageSource, spec: ReadSpec) -> None:
    """Before a large first sync: the organisation's contacts read once (if there are not so
    many that the lookups they replace would cost less)."""
    total = count_first_sync(ctx, source, spec)
    if spec.since is not None or total is None or total < INDEX_FROM:
        return
    contacts.index_organisation(ctx, budget=total // OPPORTUNITIES_PER_CONTACT_PAGE)


def count_first_sync(ctx: RunContext, source: PageSource, spec: ReadSpec) -> int | None:
    """How many opportunities a first sync reads (one COUNT query), saved on the run as what
    it expects (with the rows still waiting, which it reads first) so the panel shows its
    progress; None for an ordinary run.

    A first sync stopped early (a rate limit) continues in later runs from its watermark: a
    run following a counted one that did not finish counts what is left the same way.
    """
    if spec.since is not None and not _continues_first_sync(ctx):
        return None
    total = int(next(source.query_pages(build_count_soql(spec))).get("totalSize") or 0)
    waiting = LedgerEntry.objects.filter(
        integration=ctx.integration, state=LedgerEntry.State.PENDING
    ).count()
    ctx.run.expected_count = total + waiting
    SyncRun.objects.filter(pk=ctx.run.pk).update(expected_count=ctx.run.expected_count)
    return total


def _continues_first_sync(ctx: RunContext) -> bool:
    previous = (
        SyncRun.objects.filter(integration=ctx.integration, started_at__lte=ctx.run.started_at)
        .exclude(pk=ctx.run.pk)
        .exclude(trigger__in=(SyncRun.Trigger.PUSH, SyncRun.Trigger.WRITEBACK))
        .values_list("expected_count", "status")
        .first()
    )
    return (
        previous is not None
        and previous[0] is not None
        and previous[1] in (SyncRun.Status.STOPPED, SyncRun.Status.FAILED)
    )


def changed(ctx: RunContext, source: PageSource, spec: ReadSpec, skip: set[str]) -> None:
    """Won opportunities changed since the watermark (its 5-minute overlap included)."""
    integration = ctx.integration
    records = (
        r
        for r in read_opportunities(source, spec, batch_size=PAGE_SIZE)
        if r.salesforce_id not in skip
    )

    def advance(done: list[Opportunity]) -> None:
        newest = max(o.system_modstamp for o in done)
        if integration.watermark is None or newest > integration.watermark:
            integration.watermark = newest
            Integration.objects.filter(pk=integration.pk).update(watermark=newest)

    for chunk in chunks(records):
        position = {o.salesforce_id: i for i, o in enumerate(chunk)}

        def settled(
            upto: Opportunity,
            chunk: list[Opportunity] = chunk,
            position: dict[str, int] = position,
        ) -> None:
            advance(chunk[: position[upto.salesforce_id] + 1])

        _process(ctx, chunk, settled)
        # Every opportunity of the chunk is settled: the watermark may pass them.
        advance(chunk)
        _spent(ctx)


def backfill(ctx: RunContext, source: PageSource, spec: ReadSpec) -> None:
    """Continues the running back-fill (if a person asked for one) where it left off."""
    running = Backfill.objects.filter(integration=ctx.integration, status=Backfill.Status.RUNNING)
    job = running.first()
    if job is None:
        return
    ctx.run.trigger = SyncRun.Trigger.BACKFILL
    ctx.history = True
    read = dataclasses.replace(spec, since=job.watermark, start_date=job.since)
    if job.total is None:
        job.total = int(next(source.query_pages(build_count_soql(read))).get("totalSize") or 0)
        job.save(update_fields=["total"])
    this = Backfill.objects.filter(pk=job.pk, status=Backfill.Status.RUNNING)
    # A continuation re-reads the watermark's overlap (settled rows: skipped, no call); they
    # were counted by the run that read them first, so progress counts only what is past it.
    resumed_at = job.watermark
    for chunk in chunks(read_opportunities(source, read, batch_size=PAGE_SIZE)):
        _process(ctx, chunk)
        job.processed += sum(
            1 for o in chunk if resumed_at is None or o.system_modstamp > resumed_at
        )
        job.watermark = max(o.system_modstamp for o in chunk)
        # Conditional: a person may have cancelled it meanwhile; then it stops here.
        if not this.update(processed=job.processed, watermark=job.watermark):
            return
        _spent(ctx)
    this.update(status=Backfill.Status.DONE, finished_at=timezone.now())

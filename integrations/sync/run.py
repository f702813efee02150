"""One sync run of one integration: the claim, the order of the steps, the finish.

The steps, in order (each in ``integrations/sync/steps/``):

1. **settle** — writes whose outcome was lost are looked up in Xero (``protocol.settle``);
2. **lifecycle** — opportunities that stopped counting (reopened, lost, deleted) and the work
   their invoices need, recorded with the news;
3. **read** — rows still waiting, by id; then the opportunities Salesforce pushed (Outbound
   Messages), by id; then opportunities changed since the watermark; then a back-fill (not in a
   push run) — each chunk of 50 decided, translated and written (``chunk``: organisation,
   contacts, items, invoices);
4. **credit notes** — pending news turned into voids, deletions, credit notes and allocations;
5. **payments** — every scheduled payment whose day has come.

The database is the truth (ARCHITECTURE §7): every write goes through the write-ahead protocol
(``integrations.sync.protocol``), so a run stopped anywhere — a rate limit, a lost answer, a
lost claim, a killed worker — leaves work the next run picks up, never a duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid

from django.core.cache import cache
from django.utils import timezone

from carrytheone import logcontext
from integrations.connections.providers import ProviderError, ReauthorizationRequired
from integrations.connections.salesforce.client import salesforce_client
from integrations.connections.salesforce.reader import org_has_currency
from integrations.connections.xero.api import XeroApi
from integrations.connections.xero.client import XeroRateLimited
from integrations.connections.xero.metadata import organisation_metadata
from integrations.core.behaviours import paused_behaviours
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.health import integration_record_run
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_pause
from integrations.rules.selectors import rule_set_for
from integrations.sync import protocol
from integrations.sync.claim import (
    AccountAtCapacity,
    ClaimHeartbeat,
    claim_ttl,
    close_dead_runs,
    integration_claim,
    integration_release,
)
from integrations.sync.context import RunContext
from integrations.sync.models import SyncLogEntry, SyncRun
from integrations.sync.protocol import Stop
from integrations.sync.steps import credit_notes, lifecycle, payments, read

logger = logging.getLogger(__name__)


def sync_integration(*, integration_id: int, trigger: str = "poll") -> SyncRun | None:
    """Syncs one integration once; None when another worker holds it (or it is off/paused).

    Transient provider errors are recorded on the run and then re-raised, so the Celery task can
    retry with backoff; a rate limit or an unknown outcome just stops the run (the next poll
    continues), and a connection that needs re-authorisation fails the run with its reason.
    Every run's outcome feeds the integration's health (``integrations.core.health``).
    """
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ttl = claim_ttl()
    try:
        fence = integration_claim(integration_id=integration_id, worker=worker, ttl=ttl)
    except AccountAtCapacity as busy:
        _note_wait(integration_id, str(busy))
        raise
    if fence is None:
        return None
    try:
        # Holding the claim, every other run of this integration still "running" is dead.
        close_dead_runs(integration_id=integration_id)
        integration = Integration.objects.select_related(
            "salesforce_connection", "xero_connection"
        ).get(pk=integration_id)
        run = SyncRun.objects.create(integration=integration, trigger=trigger, worker=worker)
        with (
            logcontext.bind(
                account_id=integration.account_id, integration_id=integration_id, run_id=run.pk
            ),
            ClaimHeartbeat(integration_id=integration_id, worker=worker, ttl=ttl) as heartbeat,
        ):
            outcome = _run(
                integration, run, worker=worker, fence=fence, ttl=ttl, heartbeat=heartbeat
            )
        integration_record_run(
            integration_id=integration_id,
            failed=outcome.failed or run.status == SyncRun.Status.FAILED,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
        )
        if outcome.reraise is not None:
            raise outcome.reraise
        return run
    finally:
        integration_release(integration_id=integration_id, worker=worker)


# A wait for the account's share is written to the integration's log at most this often: the
# refused claim is retried every few seconds while the account's other runs go on.
WAIT_LOGGED_EVERY = dt.timedelta(minutes=10)


def _note_wait(integration_id: int, message: str) -> None:
    """The log says why the integration waits (once per ``WAIT_LOGGED_EVERY``), as for other
    waits; no run is recorded for a claim that was never taken."""
    logger.info("integration %s: %s", integration_id, message)
    key = f"sync:share-wait-logged:{integration_id}"
    if cache.add(key, 1, WAIT_LOGGED_EVERY.total_seconds()):
        SyncLogEntry.objects.create(
            run=None,
            integration_id=integration_id,
            step="sync",
            outcome=SyncLogEntry.Outcome.WAITING,
            message=message,
        )


class _Outcome:
    def __init__(self) -> None:
        self.failed = False
        self.reraise: ProviderError | None = None


def _run(
    integration: Integration,
    run: SyncRun,
    *,
    worker: str,
    fence: int,
    ttl: dt.timedelta,
    heartbeat: ClaimHeartbeat,
) -> _Outcome:
    outcome = _Outcome()
    wait: float | None = None
    ctx: RunContext | None = None
    try:
        ctx = _context(integration, run, worker=worker, fence=fence, ttl=ttl, heartbeat=heartbeat)
        _steps(ctx)
    except Stop as stop:
        run.status = SyncRun.Status.STOPPED
        run.error = stop.message
        outcome.reraise = stop.transient
        wait = stop.retry_after
        outcome.failed = stop.unavailable
    except XeroRateLimited as exc:
        # A read refused by the limit (writes turn it into a Stop themselves): polite too.
        run.status = SyncRun.Status.STOPPED
        run.error = f"{exc.message} The sync resumes where it stopped."
        wait = exc.retry_after
    except ReauthorizationRequired as exc:
        run.status = SyncRun.Status.FAILED
        run.error = exc.message
    except ConfigError as exc:
        run.status = SyncRun.Status.FAILED
        run.error = f"The configuration cannot be used: {exc}"
        # Every run would fail the same way: paused until the configuration changes.
        integration_pause(
            integration_id=integration.pk,
            cause=PauseCause.CONFIGURATION,
            message=f"{run.error} Fix it in the settings; syncing resumes then.",
        )
    except ProviderError as exc:
        run.status = SyncRun.Status.FAILED
        run.error = exc.message
        if not exc.permanent and exc.retry_after:
            # The provider named a time (a used-up daily allowance): retrying sooner with
            # backoff would only spend calls; polling resumes then.
            wait = exc.retry_after
        else:
            outcome.reraise = None if exc.permanent else exc
    if wait:
        run.retry_after = timezone.now() + dt.timedelta(seconds=wait)
        integration_pause(
            integration_id=integration.pk,
            cause=PauseCause.RATE_LIMIT,
            message=run.error or "Xero or Salesforce asked us to wait.",
            until=run.retry_after,
        )
    _finish(ctx, run)
    return outcome


def _context(
    integration: Integration,
    run: SyncRun,
    *,
    worker: str,
    fence: int,
    ttl: dt.timedelta,
    heartbeat: ClaimHeartbeat,
) -> RunContext:
    if integration.salesforce_connection is None or integration.xero_connection is None:
        raise ProviderError("Connect both Salesforce and Xero to sync.", permanent=True)
    config = SyncConfig.from_json(integration.config)
    xero = XeroApi.for_connection(integration.xero_connection)
    return RunContext(
        integration=integration,
        run=run,
        worker=worker,
        fence=fence,
        ttl=ttl,
        heartbeat=heartbeat,
        config=config,
        rules=rule_set_for(integration.pk),
        # The organisation's tax rates, currencies, accounts and tracking (cached an hour),
        # read through this run's client so its calls are counted.
        metadata=organisation_metadata(integration.xero_connection, client=xero.client),
        # Behaviours whose configuration no longer matches Xero or Salesforce (found by the
        # configuration check) are held back until it is fixed; the rest keeps working.
        paused=paused_behaviours(integration),
        xero=xero,
    )


def _steps(ctx: RunContext) -> None:
    protocol.settle(ctx)
    connection = ctx.integration.salesforce_connection
    assert connection is not None
    with salesforce_client(connection) as salesforce:
        ctx.salesforce = salesforce
        describe = salesforce.describe("Opportunity")
        spec = read.read_spec(ctx, ctx.config, multi_currency=org_has_currency(describe))
        lifecycle.withdrawals(ctx, salesforce, spec)
        read.index_contacts(ctx, salesforce, spec)
        try:
            done = read.waiting(ctx, salesforce, spec)
            done |= read.pushed(ctx, salesforce, spec, skip=done)
            # The watermark read costs Salesforce calls only (nothing new: nothing for Xero).
            read.changed(ctx, salesforce, spec, skip=done)
            if ctx.run.trigger != SyncRun.Trigger.PUSH:
                # A person's back-fill is long work: left to the poll, a push run stays quick.
                read.backfill(ctx, salesforce, spec)
        except read.BudgetSpent:
            # The rest of the reading waits for the continuation (queued by the task); what
            # this run invoiced still gets its credit notes and payments now.
            ctx.run.left_more = True
        credit_notes.act(ctx)
        payments.pay_due(ctx)


def _finish(ctx: RunContext | None, run: SyncRun) -> None:
    if ctx is not None:
        ctx.flush_logs()
        run.xero_calls = ctx.xero_calls
        run.salesforce_calls = ctx.salesforce_calls
    if run.status != SyncRun.Status.RUNNING:
        # Stopped or failed on its own account after the budget: that outcome decides (a rate
        # limit's wait, a retry), not an immediate continuation.
        run.left_more = False
    if run.status == SyncRun.Status.RUNNING and run.left_more:
        # "Stopped early; continues next run", as a rate limit's stop shows in the panel.
        run.status = SyncRun.Status.STOPPED
        run.error = (
            f"Read this run's share ({run.read_count} opportunities); the rest continues in "
            "the next run, queued at once."
        )
    if run.status == SyncRun.Status.RUNNING:
        run.status = (
            SyncRun.Status.PARTIAL
            if (ctx is not None and ctx.had_failures) or run.failed_count or run.attention_count
            else SyncRun.Status.SUCCEEDED
        )
    run.finished_at = timezone.now()
    run.save()

"""The sync engine: won opportunities become Xero invoices, exactly once, in batches of 50.

Orchestration only (ARCHITECTURE §2, §7): the reader streams opportunities, the pure translation
layer builds documents, and this module decides what to write, writes intent before each call
and records each element's own outcome after it. The database is the truth:

- Before an invoice call, the chunk's ledger rows are committed as ``SENDING`` with their
  content hash, idempotency key and the Reference/number sent; the Xero ids are stored in the
  same transaction that marks them ``SYNCED``. A row left ``SENDING``/``UNKNOWN`` (crash,
  timeout, 5xx) is settled on a later run by looking its invoice up by number or ``Reference``
  before anything is re-sent — only once Xero has had time to finish the lost request.
- Rows still waiting (``PENDING``) have their opportunities re-read by id at the start of each
  run, before the watermark read: the watermark query may never return them again. A person's
  retry (:func:`ledger_retry`) makes a row waiting.
- Opportunities that stop counting (reopened, lost, deleted) are found by a light query of
  their own (``queryAll``, its own watermark): a row with nothing in Xero is withdrawn; a row
  with an invoice needs a person (credit notes are the accounting rules' business).
- Unchanged content (same hash, already settled) makes no Xero call at all.
- The watermark advances only past chunks that were fully processed; a run stopped by a rate
  limit or an unknown outcome re-reads from there next time (reads are idempotent).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from integrations.connections.models import ProviderSettings
from integrations.connections.providers import ProviderError, ReauthorizationRequired
from integrations.connections.ratelimit import Priority
from integrations.connections.salesforce.client import (
    SalesforceApiError,
    SalesforceClient,
    salesforce_client,
)
from integrations.connections.salesforce.reader import (
    PageSource,
    ReadSpec,
    build_count_soql,
    build_lifecycle_soql,
    build_status_soql,
    org_has_currency,
    parse_datetime,
    read_opportunities,
    read_opportunities_by_id,
)
from integrations.connections.salesforce.records import Opportunity
from integrations.connections.xero.client import (
    XeroClient,
    XeroRateLimited,
    XeroUnavailable,
    xero_client,
)
from integrations.connections.xero.metadata import (
    currency_enable,
    organisation_metadata,
    tracking_options_create,
)
from integrations.connections.xero.metadata_types import OrganisationMetadata
from integrations.connections.xero.where import any_of as _where_groups
from integrations.connections.xero.where import equals as _equals
from integrations.connections.xero.where import join_or as _join_terms
from integrations.core.behaviours import paused_behaviours
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.health import integration_record_run
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_pause
from integrations.rules.payments import payment_account_for, payment_method_for
from integrations.rules.problems import RuleProblem
from integrations.rules.selectors import rule_set_for
from integrations.rules.specs import PaymentMethodSpec, RuleSet, fields_needed
from integrations.rules.tax import tax_type_for
from integrations.rules.tracking import tracking_for
from integrations.sync.accounting import AccountingSteps, PaymentPlan, _line_from_xero, today
from integrations.sync.claim import (
    ClaimHeartbeat,
    claim_ttl,
    close_dead_runs,
    integration_claim,
    integration_extend_claim,
    integration_release,
)
from integrations.sync.models import (
    OPEN_OUTCOMES,
    Backfill,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
)
from integrations.sync.translate import (
    ContactDraft,
    InvoiceDraft,
    InvoiceLineDraft,
    InvoiceRules,
    ItemDraft,
    TranslationError,
    contact_for,
    content_hash,
    credit_lines_for,
    idempotency_key,
    invoice_for,
    item_for,
)
from integrations.sync.xero_values import batch_key as _batch_key
from integrations.sync.xero_values import ms_date
from integrations.sync.xero_values import text as _value

logger = logging.getLogger(__name__)

CHUNK_SIZE = 50
_CONFIGURATION_REQUIRED = (
    "Configuration required: the integration's settings no longer match Xero or Salesforce "
    "(see the integration's setup page). Invoices wait until it is fixed."
)
# A fresh read of an organisation's settings (connections.xero.metadata) makes this many calls.
METADATA_READ_CALLS = 6
PAGE_SIZE = 2000
# Xero lets an invoice change only in these states, and only while nothing is paid.
UPDATABLE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
# Settled rows whose content has not changed are skipped: SYNCED is done; FAILED and
# NEEDS_ATTENTION wait for a person (or a change in Salesforce or the configuration).
SETTLED = frozenset(
    {LedgerEntry.State.SYNCED, LedgerEntry.State.FAILED, LedgerEntry.State.NEEDS_ATTENTION}
)
State = LedgerEntry.State
Outcome = SyncLogEntry.Outcome
Withdrawal = LedgerEntry.Withdrawal


class _Stop(Exception):
    """Ends the run early but politely: what is done stays done, the rest waits for next run."""

    def __init__(
        self,
        message: str,
        *,
        transient: ProviderError | None = None,
        retry_after: float | None = None,
        unavailable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after
        self.unavailable = unavailable
        """Stopped because Xero did not answer: counts as a failure for the health shown."""


def sync_integration(*, integration_id: int, trigger: str = "poll") -> SyncRun | None:
    """Syncs one integration once; None when another worker holds it (or it is off/paused).

    Transient provider errors are recorded on the run and then re-raised, so the Celery task can
    retry with backoff; a rate limit or an unknown outcome just stops the run (the next poll
    continues), and a connection that needs re-authorisation fails the run with its reason.
    Every run's outcome feeds the integration's health (``integrations.core.health``).
    """
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ttl = claim_ttl()
    if not integration_claim(integration_id=integration_id, worker=worker, ttl=ttl):
        return None
    try:
        # Holding the claim, every other run of this integration still "running" is dead.
        close_dead_runs(integration_id=integration_id)
        integration = Integration.objects.select_related(
            "salesforce_connection", "xero_connection"
        ).get(pk=integration_id)
        run = SyncRun.objects.create(integration=integration, trigger=trigger, worker=worker)
        with ClaimHeartbeat(integration_id=integration_id, worker=worker, ttl=ttl) as heartbeat:
            engine = _Engine(integration, run, worker=worker, ttl=ttl, heartbeat=heartbeat)
            reraise: ProviderError | None = None
            wait: float | None = None
            failed = False
            try:
                engine.run()
            except _Stop as stop:
                run.status = SyncRun.Status.STOPPED
                run.error = stop.message
                reraise = stop.transient
                wait = stop.retry_after
                failed = stop.unavailable
            except ReauthorizationRequired as exc:
                run.status = SyncRun.Status.FAILED
                run.error = exc.message
            except ConfigError as exc:
                run.status = SyncRun.Status.FAILED
                run.error = f"The configuration cannot be used: {exc}"
                # Every run would fail the same way: paused until the configuration changes.
                integration_pause(
                    integration_id=integration_id,
                    cause=PauseCause.CONFIGURATION,
                    message=f"{run.error} Fix it in the settings; syncing resumes then.",
                )
            except ProviderError as exc:
                run.status = SyncRun.Status.FAILED
                run.error = exc.message
                if not exc.permanent and exc.retry_after:
                    # The provider named a time (a used-up daily allowance): retrying sooner
                    # with backoff would only spend calls; polling resumes then.
                    wait = exc.retry_after
                else:
                    reraise = None if exc.permanent else exc
            if wait:
                run.retry_after = timezone.now() + dt.timedelta(seconds=wait)
                integration_pause(
                    integration_id=integration_id,
                    cause=PauseCause.RATE_LIMIT,
                    message=run.error or "Xero or Salesforce asked us to wait.",
                    until=run.retry_after,
                )
            engine.finish()
        integration_record_run(
            integration_id=integration_id,
            failed=failed or run.status == SyncRun.Status.FAILED,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
        )
        if reraise is not None:
            raise reraise
        return run
    finally:
        integration_release(integration_id=integration_id, worker=worker)


class _CountingSource:
    """The reader's page source, counting Salesforce calls for the run."""

    def __init__(self, inner: PageSource, engine: _Engine) -> None:
        self.inner = inner
        self.engine = engine

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        for page in self.inner.query_pages(
            soql, include_deleted=include_deleted, batch_size=batch_size
        ):
            self.engine.run_row.salesforce_calls += 1
            yield page

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        self.engine.run_row.salesforce_calls += 1
        return self.inner.query_more(next_records_url)


@dataclasses.dataclass
class _Work:
    """One opportunity of a chunk on its way to Xero."""

    opportunity: Opportunity
    ledger: LedgerEntry
    draft: InvoiceDraft
    contact: ContactDraft
    hash: str
    contact_id: str = ""
    contact_name: str = ""
    problem: str = ""
    plan: PaymentPlan | None = None
    credit_lines: tuple[InvoiceLineDraft, ...] = ()
    invoice: Any = None
    """Xero's answer for this invoice, once written."""


# An invoice line's place in the books: (account code, tracking pairs).
_LineKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclasses.dataclass(frozen=True)
class _Decision:
    """What the accounting rules decided for one opportunity, before translation."""

    rules: InvoiceRules
    method: PaymentMethodSpec | None
    currency: str
    new_options: tuple[tuple[str, str], ...] = ()
    """(category, option) pairs to create in Xero before the invoice."""


def _money(amount: Any, currency: str) -> str:
    value = Decimal(str(amount if amount is not None else 0))
    return f"{currency} {value:,.2f}".strip()


def _chunks(records: Iterable[Opportunity], size: int) -> Iterator[list[Opportunity]]:
    chunk: list[Opportunity] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Engine(AccountingSteps):
    def __init__(
        self,
        integration: Integration,
        run: SyncRun,
        *,
        worker: str,
        ttl: dt.timedelta,
        heartbeat: ClaimHeartbeat,
    ) -> None:
        self.integration = integration
        self.run_row = run
        self.worker = worker
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.had_failures = False
        # Per-run caches: a contact or item found once is not looked up again in this run.
        self.contacts: dict[str, tuple[str, str]] = {}
        self.items: set[str] = set()
        self.xero: XeroClient | None = None
        self.logs: list[SyncLogEntry] = []
        self.rates: RateTable | None = None
        self.salesforce: SalesforceClient | None = None

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        integration = self.integration
        if integration.salesforce_connection is None or integration.xero_connection is None:
            raise ProviderError("Connect both Salesforce and Xero to sync.", permanent=True)
        config = SyncConfig.from_json(integration.config)
        self.config = config
        # Behaviours whose configuration no longer matches Xero or Salesforce (found by the
        # configuration check) are held back until it is fixed; the rest keeps working.
        self.paused = paused_behaviours(integration)
        # SENDING rows at the start of a run belong to a worker that died mid-call (the claim
        # guarantees nobody else is sending): their outcome is unknown.
        LedgerEntry.objects.filter(integration=integration, state=State.SENDING).update(
            state=State.UNKNOWN
        )
        self.xero = xero_client(integration.xero_connection)
        self.rules = rule_set_for(integration.pk)
        self.metadata = self._organisation_metadata()
        self._settle_unknown()
        with salesforce_client(integration.salesforce_connection) as salesforce:
            self.salesforce = salesforce
            describe = salesforce.describe("Opportunity")
            self.run_row.salesforce_calls += 1
            spec = self._read_spec(config, multi_currency=org_has_currency(describe))
            source = _CountingSource(salesforce, self)
            self._lifecycle(source, spec)
            # Rows still waiting (a retry, a settled unknown, a rate-limited send) first, by
            # id: the watermark query may never return their opportunities again.
            done = self._waiting(source, spec)
            records = (
                r
                for r in read_opportunities(source, spec, batch_size=PAGE_SIZE)
                if r.salesforce_id not in done
            )
            for chunk in _chunks(records, CHUNK_SIZE):
                self.run_row.read_count += len(chunk)
                self._chunk(chunk)
                # Every opportunity of the chunk is settled: the watermark may pass them.
                newest = max(o.system_modstamp for o in chunk)
                if integration.watermark is None or newest > integration.watermark:
                    integration.watermark = newest
                    Integration.objects.filter(pk=integration.pk).update(watermark=newest)
                self._keep_claim()
            self._backfill(source, spec)
        if "payments" not in self.paused:
            self._pay_due()

    def _keep_claim(self) -> None:
        if self.heartbeat.lost.is_set() or not integration_extend_claim(
            integration_id=self.integration.pk, worker=self.worker, ttl=self.ttl
        ):
            # Another worker took the integration over (this one stalled past the claim's TTL):
            # stop before two workers send the same rows.
            raise _Stop("This run lost its claim to another worker and stopped; nothing is lost.")

    def _waiting(self, source: _CountingSource, spec: ReadSpec) -> set[str]:
        """Processes the opportunities of PENDING rows; returns the ids processed.

        A waiting row whose opportunity no longer counts is withdrawn (with the reason read from
        Salesforce). The watermark does not move here: these records may be newer than others
        not yet read.
        """
        ids = list(
            LedgerEntry.objects.filter(integration=self.integration, state=State.PENDING)
            .order_by("salesforce_id")
            .values_list("salesforce_id", flat=True)
        )
        done: set[str] = set()
        if not ids:
            return done
        records = read_opportunities_by_id(source, spec, ids, batch_size=PAGE_SIZE)
        for chunk in _chunks(records, CHUNK_SIZE):
            self.run_row.read_count += len(chunk)
            self._chunk(chunk)
            done.update(o.salesforce_id for o in chunk)
            self._keep_claim()
        gone = [i for i in ids if i not in done]
        if gone:
            self._explain_gone(source, gone)
        return done

    # --- opportunities that stop counting ------------------------------------------------------

    def _lifecycle(self, source: _CountingSource, spec: ReadSpec) -> None:
        """Finds opportunities we hold a row for that were reopened, lost or deleted since last.

        One ``queryAll`` of light fields for opportunities changed since the lifecycle watermark
        that do not count (any more), deleted ones included; only ids we hold rows for matter.
        """
        integration = self.integration
        since = integration.lifecycle_watermark or integration.watermark
        if since is None:
            # Nothing was ever read, so nothing can have been withdrawn: start watching now.
            stamp = timezone.now() - spec.overlap
            integration.lifecycle_watermark = stamp
            Integration.objects.filter(pk=integration.pk).update(lifecycle_watermark=stamp)
            return
        soql = build_lifecycle_soql(spec, since)
        newest = integration.lifecycle_watermark
        for page in source.query_pages(soql, include_deleted=True, batch_size=PAGE_SIZE):
            raws = page.get("records", [])
            if not raws:
                continue
            self._withdraw_rows({str(r["Id"]): r for r in raws})
            stamp = max(parse_datetime(str(r["SystemModstamp"])) for r in raws)
            if newest is None or stamp > newest:
                newest = stamp
        if newest is not None and newest != integration.lifecycle_watermark:
            integration.lifecycle_watermark = newest
            Integration.objects.filter(pk=integration.pk).update(lifecycle_watermark=newest)

    def _explain_gone(self, source: _CountingSource, ids: list[str]) -> None:
        """Withdraws waiting rows whose opportunities no longer count, with Salesforce's reason."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 200):
            soql = build_status_soql(ids[start : start + 200])
            for page in source.query_pages(soql, include_deleted=True):
                for raw in page.get("records", []):
                    found[str(raw["Id"])] = raw
        # Not even in the recycle bin: deleted for good.
        for sf_id in ids:
            found.setdefault(sf_id, {"Id": sf_id, "IsDeleted": True})
        self._withdraw_rows(found)

    def _withdraw_rows(self, raws: dict[str, dict[str, Any]]) -> None:
        rows = LedgerEntry.objects.filter(
            integration=self.integration, salesforce_id__in=list(raws)
        ).exclude(state__in=(State.WITHDRAWN, State.DISMISSED))
        now = timezone.now()
        resolved: list[int] = []
        to_credit: list[LedgerEntry] = []
        texts: dict[int, str] = {}
        for ledger in rows:
            raw = raws[ledger.salesforce_id]
            reason = _withdrawal(raw)
            if ledger.withdrawn == reason:
                continue  # seen again through the overlap window
            ledger.withdrawn = reason
            ledger.withdrawn_at = now
            name = ledger.opportunity_name or ledger.salesforce_id
            what = _withdrawal_text(reason, raw)
            if ledger.state in (State.UNKNOWN, State.SENDING):
                # Settled first (it may exist in Xero); the settle step reads this reason.
                ledger.save(update_fields=["withdrawn", "withdrawn_at", "updated_at"])
                continue
            # A payment not yet recorded is not needed any more.
            PaymentEntry.objects.filter(
                ledger=ledger, state__in=(PaymentEntry.State.PLANNED, PaymentEntry.State.SCHEDULED)
            ).update(state=PaymentEntry.State.CANCELLED)
            if ledger.xero_invoice_id:
                texts[ledger.pk] = f"Opportunity {name!r} was {what}"
                if self.config.credit_note_on_withdrawal and "credit_notes" not in self.paused:
                    ledger.save(update_fields=["withdrawn", "withdrawn_at", "updated_at"])
                    to_credit.append(ledger)
                    continue
                self._needs_credit(ledger, texts[ledger.pk])
            else:
                ledger.state = State.WITHDRAWN
                ledger.last_error = ""
                ledger.save()
                resolved.append(ledger.pk)
                self.run_row.skipped_count += 1
                self._log(
                    ledger,
                    ledger.salesforce_id,
                    Outcome.SKIPPED,
                    f"Opportunity {name!r} was {what}; nothing was sent to Xero, and nothing "
                    "will be unless it is won again.",
                )
        self._resolve_entries(resolved)
        if to_credit:
            for ledger in self._credit_withdrawn(to_credit):
                self._needs_credit(ledger, texts[ledger.pk])

    def _needs_credit(self, ledger: LedgerEntry, what: str) -> None:
        ledger.state = State.NEEDS_ATTENTION
        ledger.last_error = (
            f"{what} after invoice {ledger.xero_invoice_number or ledger.xero_invoice_id} was "
            "created; the invoice still stands in Xero. Void it or raise a credit note there "
            "if it should not."
        )
        ledger.save()
        self.had_failures = True
        self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, ledger.last_error)

    def _resolve_entries(self, ledger_ids: list[int]) -> None:
        """Earlier failures of these rows no longer need a person: the rows are settled."""
        if ledger_ids:
            SyncLogEntry.objects.filter(
                ledger_id__in=ledger_ids, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
            ).update(dismissed_at=timezone.now())

    # --- back-fill -----------------------------------------------------------------------------

    def _backfill(self, source: _CountingSource, spec: ReadSpec) -> None:
        """Continues the running back-fill (if a person asked for one) where it left off."""
        backfill = Backfill.objects.filter(
            integration=self.integration, status=Backfill.Status.RUNNING
        ).first()
        if backfill is None:
            return
        self.run_row.trigger = SyncRun.Trigger.BACKFILL
        read = dataclasses.replace(spec, since=backfill.watermark, start_date=backfill.since)
        if backfill.total is None:
            pages = source.query_pages(build_count_soql(read))
            backfill.total = int(next(pages).get("totalSize") or 0)
            backfill.save(update_fields=["total"])
        running = Backfill.objects.filter(pk=backfill.pk, status=Backfill.Status.RUNNING)
        for chunk in _chunks(read_opportunities(source, read, batch_size=PAGE_SIZE), CHUNK_SIZE):
            self.run_row.read_count += len(chunk)
            self._chunk(chunk)
            backfill.processed += len(chunk)
            backfill.watermark = max(o.system_modstamp for o in chunk)
            # Conditional: a person may have cancelled it meanwhile; then it stops here.
            if not running.update(processed=backfill.processed, watermark=backfill.watermark):
                return
            self._keep_claim()
        running.update(status=Backfill.Status.DONE, finished_at=timezone.now())

    def _read_spec(self, config: SyncConfig, *, multi_currency: bool) -> ReadSpec:
        opportunity_fields, account_fields = fields_needed(config, self.rules)
        if config.reference_field != "Name" and config.reference_field not in opportunity_fields:
            opportunity_fields = (*opportunity_fields, config.reference_field)
        return ReadSpec(
            since=self.integration.watermark,
            stage=config.stage or None,
            start_date=config.start_date,
            multi_currency=multi_currency,
            opportunity_fields=opportunity_fields,
            account_fields=account_fields,
        )

    def _organisation_metadata(self) -> OrganisationMetadata:
        """The organisation's tax rates, currencies, accounts and tracking (cached per hour)."""
        connection = self.integration.xero_connection
        assert connection is not None
        before = ProviderSettings.objects.filter(connection=connection).values_list(
            "fetched_at", flat=True
        )
        was = before.first()
        metadata = organisation_metadata(connection)
        if before.first() != was:
            self.run_row.xero_calls += METADATA_READ_CALLS
        return metadata

    def finish(self) -> None:
        self._flush_logs()
        run = self.run_row
        if run.status == SyncRun.Status.RUNNING:
            if self.had_failures or run.failed_count or run.attention_count:
                run.status = SyncRun.Status.PARTIAL
            else:
                run.status = SyncRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()

    def _call(
        self, method: str, *args: Any, priority: Priority = Priority.NEW, **kwargs: Any
    ) -> Any:
        """One Xero call, counted. ``priority=UPDATE`` lets new invoices keep the day's last
        calls (see ``XERO_DAY_RESERVE``)."""
        assert self.xero is not None
        self.run_row.xero_calls += 1
        try:
            return self.xero.call(method, *args, priority=priority, **kwargs).data
        except XeroRateLimited as exc:
            raise _Stop(
                f"{exc.message} The sync resumes where it stopped.",
                retry_after=exc.retry_after,
            ) from exc

    def _log(self, ledger: LedgerEntry | None, sf_id: str, outcome: str, message: str) -> None:
        # Buffered and written in bulk at the end of each chunk: one INSERT, not one per record.
        if outcome == Outcome.ATTENTION:
            self.run_row.attention_count += 1
        self.logs.append(
            SyncLogEntry(
                run=self.run_row,
                integration=self.integration,
                ledger=ledger,
                salesforce_id=sf_id,
                outcome=outcome,
                message=message,
            )
        )

    def _flush_logs(self) -> None:
        if self.logs:
            for entry in self.logs:
                # Rows created after the entry was written down have their ids now; a row never
                # saved (nothing was sent for it) leaves the entry without a link.
                if entry.ledger is not None:
                    if entry.ledger.pk is None:
                        entry.ledger = None
                    else:
                        entry.ledger_id = entry.ledger.pk
            SyncLogEntry.objects.bulk_create(self.logs)
            self.logs = []

    # --- one chunk of up to 50 ---------------------------------------------------------------

    def _chunk(self, chunk: list[Opportunity]) -> None:
        try:
            self._chunk_body(chunk)
        finally:
            self._flush_logs()

    def _chunk_body(self, chunk: list[Opportunity]) -> None:
        integration = self.integration
        ids = [o.salesforce_id for o in chunk]
        # One query for the chunk's ledger rows, not one per record.
        ledgers = {
            row.salesforce_id: row
            for row in LedgerEntry.objects.filter(integration=integration, salesforce_id__in=ids)
        }
        work: list[_Work] = []
        new_options: set[tuple[str, str]] = set()
        for opportunity in chunk:
            ledger = ledgers.get(opportunity.salesforce_id) or LedgerEntry(
                integration=integration, salesforce_id=opportunity.salesforce_id
            )
            ledger.opportunity_name = opportunity.name[:255]
            ledger.system_modstamp = opportunity.system_modstamp
            if ledger.withdrawn:
                self._won_again(ledger)
            try:
                decision = self._decide(opportunity)
            except RuleProblem as problem:
                self._wait(ledger, opportunity, problem.message)
                continue
            if decision.method is not None and not decision.method.create_invoice:
                self._not_invoiced(ledger, opportunity, decision.method)
                continue
            try:
                contact = contact_for(opportunity, self.config)
                draft = invoice_for(opportunity, self.config, rules=decision.rules)
                credit_lines = (
                    credit_lines_for(opportunity, self.config, decision.rules)
                    if decision.rules.negative_lines_apart
                    else ()
                )
            except TranslationError as exc:
                self._fail_translation(ledger, opportunity, str(exc))
                continue
            # The hash is of the draft naming the contact by number, so that matching the
            # contact differently later does not count as a change.
            document = draft.to_xero()
            if credit_lines:
                # Negative lines kept apart are part of what is sent: a new return is a change.
                document = {"invoice": document, "credit": [c.to_xero() for c in credit_lines]}
            digest = content_hash(document)
            if ledger.pk and ledger.content_hash == digest and ledger.state in SETTLED:
                self.run_row.skipped_count += 1
                continue
            plan = (
                PaymentPlan(decision.method, decision.currency, draft.date)
                if decision.method is not None and decision.method.apply_payment
                else None
            )
            work.append(_Work(opportunity, ledger, draft, contact, digest, plan=plan))
            work[-1].credit_lines = credit_lines
            new_options.update(decision.new_options)
        # A row still UNKNOWN is being settled (too soon to look it up): never send it now.
        work = [w for w in work if w.ledger.state not in (State.UNKNOWN, State.SENDING)]
        if not work:
            return
        if "invoices" in self.paused:
            for w in work:
                self._wait(w.ledger, w.opportunity, _CONFIGURATION_REQUIRED)
            return
        self._prepare_xero(work, new_options)
        self._match_contacts(work)
        self._match_items(work)
        self._write_invoices(work)

    # --- the accounting rules' decisions ---------------------------------------------------------

    def _decide(self, opportunity: Opportunity) -> _Decision:
        """Payment method, tax, tracking and currency for one opportunity; RuleProblem: wait."""
        return decide(
            opportunity, self.config, self.rules, self.metadata, rate=self._salesforce_rate
        )

    def _salesforce_rate(self, opportunity: Opportunity, currency: str) -> Decimal:
        if self.rates is None:
            assert self.salesforce is not None
            self.rates, calls = load_rates(self.salesforce)
            self.run_row.salesforce_calls += calls
        return rate_between(self.rates, opportunity, currency, self.metadata.base_currency)

    def _prepare_xero(self, work: list[_Work], new_options: set[tuple[str, str]]) -> None:
        """Currencies to enable and tracking options to create, before the invoices use them."""
        connection = self.integration.xero_connection
        assert connection is not None
        currencies = {
            w.draft.currency_code
            for w in work
            if w.draft.currency_code and w.draft.currency_code not in self.metadata.currencies
        }
        changed = False
        for code in sorted(currencies):
            try:
                currency_enable(connection, code)
                self.run_row.xero_calls += 1
                changed = True
                self._log(None, "", Outcome.UPDATED, f"Currency {code} enabled in Xero.")
            except (ProviderError, ValueError) as exc:
                for w in work:
                    if w.draft.currency_code == code:
                        w.problem = f"Currency {code} could not be enabled in Xero: {exc}"
        by_category: dict[str, list[str]] = {}
        for category, option in sorted(new_options):
            by_category.setdefault(category, []).append(option)
        for category, options in by_category.items():
            info = self.metadata.tracking_categories.get(category)
            if info is None:
                continue
            try:
                tracking_options_create(connection, info.category_id, options)
                self.run_row.xero_calls += len(options)
                changed = True
            except (ProviderError, ValueError) as exc:
                message = f"Tracking options {', '.join(options)} could not be created: {exc}"
                for w in work:
                    if any((category, o) in w.draft.lines[0].tracking for o in options):
                        w.problem = message
        if changed:
            self.metadata = organisation_metadata(connection)

    def _wait(self, ledger: LedgerEntry, opportunity: Opportunity, message: str) -> None:
        """A rule cannot be applied: the opportunity waits (re-read each run) until it can."""
        told = (
            ledger.pk is not None and ledger.state == State.PENDING and ledger.last_error == message
        )
        ledger.state = State.PENDING
        ledger.last_error = message
        ledger.content_hash = ""
        ledger.save()
        if not told:
            self.had_failures = True
            self._log(ledger, opportunity.salesforce_id, Outcome.ATTENTION, message)

    def _not_invoiced(
        self, ledger: LedgerEntry, opportunity: Opportunity, method: PaymentMethodSpec
    ) -> None:
        if ledger.state == State.NOT_INVOICED:
            self.run_row.skipped_count += 1
            return
        if ledger.xero_invoice_id:
            # Invoiced before its payment method changed: nothing is undone automatically.
            ledger.state = State.NEEDS_ATTENTION
            ledger.last_error = (
                f"Opportunity {opportunity.name!r} is now paid by {method.name!r}, which is not "
                f"invoiced, but invoice {ledger.xero_invoice_number} already exists: void it "
                "in Xero if it should not."
            )
            ledger.save()
            self.had_failures = True
            self._log(ledger, opportunity.salesforce_id, Outcome.ATTENTION, ledger.last_error)
            return
        ledger.state = State.NOT_INVOICED
        ledger.last_error = ""
        ledger.save()
        self._resolve_entries([ledger.pk])
        self.run_row.skipped_count += 1
        self._log(
            ledger,
            opportunity.salesforce_id,
            Outcome.SKIPPED,
            f"Not invoiced: {opportunity.name!r} is paid by {method.name!r}, which is set not "
            "to create invoices.",
        )

    def _fail_translation(self, ledger: LedgerEntry, opportunity: Opportunity, msg: str) -> None:
        ledger.state = State.FAILED
        ledger.last_error = msg
        ledger.save()
        self.run_row.failed_count += 1
        self._log(ledger, opportunity.salesforce_id, Outcome.FAILED, msg)

    def _won_again(self, ledger: LedgerEntry) -> None:
        """An opportunity we had withdrawn counts again (won again, or restored)."""
        was = ledger.get_withdrawn_display().lower()
        ledger.withdrawn = Withdrawal.NONE
        ledger.withdrawn_at = None
        cancelled = CreditNoteEntry.objects.filter(
            ledger=ledger,
            reason=CreditNoteEntry.Reason.WITHDRAWN,
            state=CreditNoteEntry.State.DONE,
            superseded=False,
        ).exists()
        if ledger.state == State.WITHDRAWN:
            ledger.state = State.PENDING
            ledger.content_hash = ""
        elif ledger.pk and cancelled:
            # Its invoice was voided or credited when it was withdrawn: a new one is due.
            self._log(
                ledger,
                ledger.salesforce_id,
                Outcome.WARNING,
                f"Opportunity {ledger.opportunity_name!r} counts again after being {was}; its "
                f"invoice {ledger.xero_invoice_number} was voided or credited then, so a new "
                "invoice is created.",
            )
            CreditNoteEntry.objects.filter(
                ledger=ledger, reason=CreditNoteEntry.Reason.WITHDRAWN
            ).update(superseded=True)
            ledger.state = State.PENDING
            ledger.content_hash = ""
            ledger.xero_invoice_id = ""
            ledger.xero_invoice_number = ""
            ledger.sent_reference = ""
            ledger.sent_invoice_number = ""
            ledger.generation += 1
        elif ledger.xero_invoice_id and ledger.state == State.NEEDS_ATTENTION:
            ledger.state = State.SYNCED
            ledger.last_error = ""
            self._resolve_entries([ledger.pk])
            self._log(
                ledger,
                ledger.salesforce_id,
                Outcome.UPDATED,
                f"Opportunity {ledger.opportunity_name!r} counts again after being {was}; "
                f"invoice {ledger.xero_invoice_number} stands as it is.",
            )
        ledger.save()

    # --- unknown outcomes ----------------------------------------------------------------------

    def _settle_unknown(self) -> None:
        """Settles rows whose last send has an unknown outcome, by looking the invoice up.

        Works from the ledger alone (the Reference or number sent, the ContactID chosen), so an
        opportunity deleted meanwhile is settled too. An update (the row knows its InvoiceID) is
        simply sent again: updating an invoice to the same content twice is harmless. A create
        is looked up by invoice number when we set it, else by Reference plus ContactID; found →
        synced (with the hash that was sent), not found → waiting to be sent again. Rows sent
        too recently are left for a later run: a request Xero is still processing would not be
        found yet, and sending it again in another batch (another Idempotency-Key) could create
        it twice (``SYNC_UNKNOWN_SETTLE_AFTER`` seconds).
        """
        wait = dt.timedelta(seconds=float(getattr(settings, "SYNC_UNKNOWN_SETTLE_AFTER", 120)))
        cutoff = timezone.now() - wait
        rows = list(
            LedgerEntry.objects.filter(integration=self.integration, state=State.UNKNOWN)
            .filter(models.Q(last_sent_at__isnull=True) | models.Q(last_sent_at__lte=cutoff))
            .order_by("pk")
        )
        for start in range(0, len(rows), CHUNK_SIZE):
            self._settle_chunk(rows[start : start + CHUNK_SIZE])

    def _settle_chunk(self, rows: list[LedgerEntry]) -> None:
        creates = [r for r in rows if not r.xero_invoice_id]
        invoices: list[Any] = []
        numbers = [r.sent_invoice_number for r in creates if r.sent_invoice_number]
        references = [
            r.sent_reference for r in creates if r.sent_reference and not r.sent_invoice_number
        ]
        for where in _where_groups("InvoiceNumber", numbers):
            invoices += self._call("get_invoices", where=where).invoices or []
        for where in _where_groups("Reference", references):
            invoices += self._call("get_invoices", where=where).invoices or []
        found: dict[str, Any] = {}
        if invoices:
            known = set(
                LedgerEntry.objects.filter(integration=self.integration)
                .exclude(xero_invoice_id="")
                .values_list("xero_invoice_id", flat=True)
            )
            for invoice in invoices:
                if _value(invoice.status) in ("DELETED", "VOIDED"):
                    continue
                if _value(invoice.type) != "ACCREC" or str(invoice.invoice_id) in known:
                    continue
                contact_id = _value(getattr(invoice.contact, "contact_id", None))
                found.setdefault(f"n:{_value(invoice.invoice_number).lower()}", invoice)
                found.setdefault(f"r:{_value(invoice.reference).lower()}|{contact_id}", invoice)
        resolved: list[int] = []
        with transaction.atomic():
            for ledger in rows:
                if ledger.xero_invoice_id:
                    ledger.state = State.PENDING
                elif not (ledger.sent_invoice_number or ledger.sent_reference):
                    # Nothing to search by (an invoice with neither number nor Reference):
                    # re-sending could duplicate it, so a person checks Xero.
                    ledger.state = State.NEEDS_ATTENTION
                    ledger.last_error = (
                        "Xero's answer to this invoice was lost and it has no Reference or "
                        "number to look it up by. Check Xero for it, then retry or dismiss."
                    )
                    self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, ledger.last_error)
                else:
                    key = (
                        f"n:{ledger.sent_invoice_number.lower()}"
                        if ledger.sent_invoice_number
                        else f"r:{ledger.sent_reference.lower()}|{ledger.xero_contact_id}"
                    )
                    invoice = found.pop(key, None)
                    if invoice is None:
                        ledger.state = State.WITHDRAWN if ledger.withdrawn else State.PENDING
                    else:
                        self._found_after_loss(ledger, invoice)
                        if ledger.state == State.SYNCED:
                            resolved.append(ledger.pk)
                ledger.save()
        self._resolve_entries(resolved)

    def _found_after_loss(self, ledger: LedgerEntry, invoice: Any) -> None:
        ledger.xero_invoice_id = str(invoice.invoice_id)
        ledger.xero_invoice_number = _value(invoice.invoice_number)
        ledger.xero_contact_id = str(invoice.contact.contact_id)
        if ledger.withdrawn:
            ledger.state = State.NEEDS_ATTENTION
            ledger.last_error = (
                f"Invoice {ledger.xero_invoice_number} was created in Xero (its answer was "
                f"lost), but the opportunity was {ledger.get_withdrawn_display().lower()} "
                "meanwhile. Void it or raise a credit note in Xero if it should not stand."
            )
            self.had_failures = True
            self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, ledger.last_error)
            return
        ledger.state = State.SYNCED
        ledger.last_error = ""
        self.run_row.created_count += 1
        self._log(
            ledger,
            ledger.salesforce_id,
            Outcome.CREATED,
            f"Invoice {ledger.xero_invoice_number} was found in Xero after an interrupted send "
            "and linked; nothing was sent twice.",
        )
        # Its payment was planned with the intent: it is due like any other now.
        self._schedule_payments([(ledger, Decimal(str(invoice.total or 0)))])

    # --- contacts ------------------------------------------------------------------------------

    def _match_contacts(self, work: list[_Work]) -> None:
        """ContactNumber (our earlier link) → exact name → email; otherwise created.

        One lookup for the chunk (numbers, names and emails ORed together) and one write for
        what is missing. Archived contacts are never used. A contact found by name or email
        without a ContactNumber is linked and given ours in the same write, so the next run
        finds it by number even if renamed. A contact found by name that carries another
        ContactNumber is another record with the same name: the configured rule either links to
        it anyway or creates "Name (Account id)" (Xero forbids two active contacts with one
        name); logged either way.
        """
        wanted = {w.contact.contact_number: w.contact for w in work}
        missing = {n: c for n, c in wanted.items() if n not in self.contacts}
        if missing:
            claims, creates = self._find_contacts(missing, work)
            if claims or creates:
                self._write_contacts(claims, creates, work)
        for w in work:
            if w.contact.contact_number in self.contacts:
                w.contact_id, w.contact_name = self.contacts[w.contact.contact_number]

    def _find_contacts(
        self, missing: dict[str, ContactDraft], work: list[_Work]
    ) -> tuple[list[tuple[str, str]], list[ContactDraft]]:
        """Links what the lookup finds; returns (ContactID, number) claims and drafts to create."""
        terms = [_equals("ContactNumber", n) for n in missing]
        terms += [_equals("Name", c.name) for c in missing.values()]
        terms += [_equals("EmailAddress", c.email) for c in missing.values() if c.email]
        by_number: dict[str, Any] = {}
        by_name: dict[str, Any] = {}
        by_email: dict[str, Any] = {}
        for where in _join_terms(terms):
            for contact in self._call("get_contacts", where=where).contacts or []:
                if _value(contact.contact_status) == "ARCHIVED":
                    continue
                if contact.contact_number:
                    by_number.setdefault(_value(contact.contact_number), contact)
                by_name.setdefault(_value(contact.name).lower(), contact)
                if contact.email_address:
                    by_email.setdefault(_value(contact.email_address).lower(), contact)
        creates: list[ContactDraft] = []
        claims: list[tuple[str, str]] = []
        for number, draft in missing.items():
            if number in by_number:
                found = by_number[number]
                self.contacts[number] = (str(found.contact_id), _value(found.name))
                continue
            named = by_name.get(draft.name.lower())
            mailed = by_email.get(draft.email.lower()) if draft.email else None
            match = named
            if match is None and mailed is not None and not _value(mailed.contact_number):
                match = mailed
            if match is None:
                creates.append(draft)
                continue
            other = _value(match.contact_number)
            if not other:
                self.contacts[number] = (str(match.contact_id), _value(match.name))
                claims.append((str(match.contact_id), number))
                continue
            if self.config.contact_name_collision == "link":
                self.contacts[number] = (str(match.contact_id), _value(match.name))
                message = (
                    f"Xero contact {_value(match.name)!r} belongs to another record "
                    f"(ContactNumber {other}); the invoice is addressed to it, as configured."
                )
            else:
                suffix = f" ({number})"
                renamed = dataclasses.replace(
                    draft, name=draft.name[: 255 - len(suffix)].rstrip() + suffix
                )
                creates.append(renamed)
                message = (
                    f"Xero contact {_value(match.name)!r} belongs to another record "
                    f"(ContactNumber {other}); a contact named {renamed.name!r} is used for "
                    "this customer, as configured."
                )
            for w in work:
                if w.contact.contact_number == number:
                    self._log(w.ledger, w.opportunity.salesforce_id, Outcome.WARNING, message)
        return claims, creates

    def _write_contacts(
        self, claims: list[tuple[str, str]], creates: list[ContactDraft], work: list[_Work]
    ) -> None:
        """Our ContactNumber onto matched contacts (POST), and the new contacts (PUT).

        Two calls rather than one POST for both: a POST without ContactID updates whichever
        contact already has that name — an archived one included — where PUT only creates.
        """
        if claims:
            bodies = [{"ContactID": cid, "ContactNumber": number} for cid, number in claims]
            key = _batch_key(self.integration.pk, "claim", [content_hash(b) for b in bodies])
            try:
                self._call(
                    "update_or_create_contacts",
                    {"Contacts": bodies},
                    summarize_errors=False,
                    idempotency_key=key,
                )
            except XeroUnavailable as exc:
                # The links stand for this run; without the numbers the next run matches by
                # name again and retries.
                logger.warning("integration %s: numbers not set: %s", self.integration.pk, exc)
        if not creates:
            return
        bodies = [d.to_xero() for d in creates]
        key = _batch_key(self.integration.pk, "contacts", [content_hash(b) for b in bodies])
        result = self._call(
            "create_contacts", {"Contacts": bodies}, summarize_errors=False, idempotency_key=key
        )
        answers = list(result.contacts or [])
        for index, draft in enumerate(creates):
            contact = answers[index] if index < len(answers) else None
            errors = list(getattr(contact, "validation_errors", None) or []) if contact else []
            if contact is None or errors or not contact.contact_id:
                messages = "; ".join(_value(e.message) for e in errors) or "no answer"
                for w in work:
                    if w.contact.contact_number == draft.contact_number:
                        w.problem = f"Xero refused the contact {draft.name!r}: {messages}"
                continue
            self.contacts[draft.contact_number] = (str(contact.contact_id), draft.name)

    # --- items ---------------------------------------------------------------------------------

    def _match_items(self, work: list[_Work]) -> None:
        """One lookup for the chunk's item codes, one batch create for those missing."""
        drafts: dict[str, ItemDraft] = {}
        for w in work:
            for line, draft_line in zip(w.opportunity.lines, w.draft.lines, strict=False):
                if draft_line.item_code and draft_line.item_code not in self.items:
                    drafts.setdefault(draft_line.item_code, item_for(line, self.config))
        if drafts:
            for where in _where_groups("Code", drafts):
                for item in self._call("get_items", where=where).items or []:
                    self.items.add(_value(item.code))
            missing = [d for code, d in drafts.items() if code not in self.items]
            if missing and self.config.create_missing_items:
                bodies = [d.to_xero() for d in missing]
                key = _batch_key(self.integration.pk, "items", [content_hash(b) for b in bodies])
                result = self._call(
                    "create_items", {"Items": bodies}, summarize_errors=False, idempotency_key=key
                )
                for draft, item in zip(missing, result.items or [], strict=False):
                    if not getattr(item, "validation_errors", None):
                        self.items.add(draft.code)
            for draft in missing:
                if draft.shortened_from:
                    self._log(
                        None,
                        "",
                        Outcome.WARNING,
                        f"Product code {draft.shortened_from!r} is longer than Xero's 30 "
                        f"characters: its Xero item is {draft.code!r} (the same every time).",
                    )
        for w in work:
            dropped = [
                ln.item_code
                for ln in w.draft.lines
                if ln.item_code and ln.item_code not in self.items
            ]
            if dropped:
                lines = tuple(
                    ln if ln.item_code in self.items else dataclasses.replace(ln, item_code="")
                    for ln in w.draft.lines
                )
                w.draft = dataclasses.replace(w.draft, lines=lines)
                self._log(
                    w.ledger,
                    w.opportunity.salesforce_id,
                    Outcome.WARNING,
                    f"No Xero item for {', '.join(sorted(set(dropped)))}: the invoice lines "
                    "carry no item code (turn on creating missing items, or add them in Xero).",
                )

    # --- invoices ------------------------------------------------------------------------------

    def _write_invoices(self, work: list[_Work]) -> None:
        ready: list[_Work] = []
        for w in work:
            if w.problem or not w.contact_id:
                self._fail(w, w.problem or "No Xero contact could be matched or created.")
            else:
                ready.append(w)
        updates = [w for w in ready if w.ledger.xero_invoice_id]
        if updates:
            ready = [w for w in ready if not w.ledger.xero_invoice_id]
            ready += self._updatable(updates)
        if not ready:
            return
        integration_id = self.integration.pk
        now = timezone.now()
        # Intent first, committed before the call (ARCHITECTURE §7).
        with transaction.atomic():
            for w in ready:
                ledger = w.ledger
                ledger.state = State.SENDING
                ledger.content_hash = w.hash
                ledger.idempotency_key = idempotency_key(
                    integration_id=integration_id,
                    kind="invoice",
                    salesforce_id=ledger.salesforce_id,
                    # A new invoice after a void must not be answered with the voided one.
                    content_hash=f"{w.hash}:g{ledger.generation}" if ledger.generation else w.hash,
                )
                ledger.xero_contact_id = w.contact_id
                ledger.sent_reference = w.draft.reference[:255]
                ledger.sent_invoice_number = w.draft.invoice_number[:255]
                ledger.attempts += 1
                ledger.last_sent_at = now
            new_rows = [w.ledger for w in ready if not w.ledger.pk]
            LedgerEntry.objects.bulk_create(new_rows)
            old_rows = [w.ledger for w in ready if w.ledger.pk and w.ledger not in new_rows]
            LedgerEntry.objects.bulk_update(
                old_rows,
                [
                    "state",
                    "content_hash",
                    "idempotency_key",
                    "xero_contact_id",
                    "sent_reference",
                    "sent_invoice_number",
                    "attempts",
                    "last_sent_at",
                    "opportunity_name",
                    "system_modstamp",
                ],
            )
            self._plan_payments([w for w in ready if not w.ledger.xero_invoice_id])
        creates = [w for w in ready if not w.ledger.xero_invoice_id]
        changes = [w for w in ready if w.ledger.xero_invoice_id]
        for method, group in (("create_invoices", creates), ("update_or_create_invoices", changes)):
            if group:
                self._send(method, group)

    def _updatable(self, updates: list[_Work]) -> list[_Work]:
        """The updates Xero still allows; the rest need a person ("changed after payment")."""
        ids = [w.ledger.xero_invoice_id for w in updates]
        current = {
            str(inv.invoice_id): inv
            # ``page`` makes Xero include the line items (an amount-drop credit needs them).
            for inv in self._call(
                "get_invoices", i_ds=ids, page=1, unitdp=4, priority=Priority.UPDATE
            ).invoices
            or []
        }
        allowed: list[_Work] = []
        for w in updates:
            invoice = current.get(w.ledger.xero_invoice_id)
            status = _value(invoice.status) if invoice is not None else "MISSING"
            paid = Decimal(str(getattr(invoice, "amount_paid", 0) or 0)) if invoice else Decimal(0)
            if status in UPDATABLE_STATUSES and not paid:
                allowed.append(w)
                continue
            if invoice is not None and self._credit_drop(w, invoice):
                continue
            ledger = w.ledger
            ledger.state = State.NEEDS_ATTENTION
            ledger.content_hash = w.hash
            ledger.last_error = (
                f"Changed after payment: the opportunity changed after invoice "
                f"{ledger.xero_invoice_number} was paid or closed in Xero (status {status}, "
                f"paid {paid:,.2f}); it was not updated. Adjust it in Xero."
            )
            ledger.save()
            self.had_failures = True
            self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, ledger.last_error)
        return allowed

    def _credit_drop(self, w: _Work, invoice: Any) -> bool:
        """A paid invoice whose opportunity's amount fell: credit the difference (configured).

        Line amounts are compared per (account, tracking) — the tax type on Xero's lines may be
        the account's default where ours is empty — less what earlier amount-drop credits
        already took off; each fall is credited with the invoice line's own tax type, so the
        credit's tax follows the invoice's. True when credited (the row is then settled).
        """
        if "credit_notes" in self.paused:
            return False
        if not self.config.credit_note_on_amount_drop or _value(invoice.status) in (
            "VOIDED",
            "DELETED",
        ):
            return False
        old: dict[_LineKey, Decimal] = {}
        taxes: dict[_LineKey, set[str]] = {}
        for line in invoice.line_items or []:
            xero_line = _line_from_xero(line)
            key = (xero_line.account_code, xero_line.tracking)
            old[key] = old.get(key, Decimal(0)) + Decimal(str(line.line_amount or 0))
            taxes.setdefault(key, set()).add(xero_line.tax_type)
        ledger = w.ledger
        for earlier in CreditNoteEntry.objects.filter(
            ledger=ledger, reason=CreditNoteEntry.Reason.AMOUNT_DROP, superseded=False
        ).exclude(state=CreditNoteEntry.State.FAILED):
            for account, tracking, amount in earlier.lines or []:
                key = (str(account), tuple((str(n), str(o)) for n, o in tracking))
                old[key] = old.get(key, Decimal(0)) - Decimal(str(amount))
        new: dict[_LineKey, Decimal] = {}
        for draft_line in w.draft.lines:
            key = (draft_line.account_code, draft_line.tracking)
            new[key] = new.get(key, Decimal(0)) + draft_line.amount
        if not old or any(key not in old for key in new):
            return False  # a new account or tracking: that needs a person, not a credit
        if any(new.get(key, Decimal(0)) > amount for key, amount in old.items()):
            return False  # something rose: that needs a person
        if any(len(taxes.get(key, set())) > 1 for key in old):
            return False  # one account, several tax types: which one fell is not knowable
        lines = [
            InvoiceLineDraft(
                description=f"Reduction: {w.opportunity.name}"[:4000],
                quantity=Decimal(1),
                unit_amount=amount - new.get(key, Decimal(0)),
                account_code=key[0],
                tax_type=next(iter(taxes.get(key, {""}))),
                tracking=key[1],
            )
            for key, amount in old.items()
            if amount - new.get(key, Decimal(0)) > 0
        ]
        if not lines:
            return False
        if not self._credit(
            ledger,
            invoice,
            reason=CreditNoteEntry.Reason.AMOUNT_DROP,
            lines=lines,
            news=f"drop:{ledger.xero_invoice_id}:{w.hash}",
        ):
            return False
        ledger.state = State.SYNCED
        ledger.content_hash = w.hash
        ledger.last_error = ""
        ledger.save()
        self._resolve_entries([ledger.pk])
        return True

    def _send(self, method: str, group: list[_Work]) -> None:
        bodies: list[dict[str, Any]] = []
        for w in group:
            draft = dataclasses.replace(w.draft, contact_id=w.contact_id)
            body = draft.to_xero()
            if w.ledger.xero_invoice_id:
                body["InvoiceID"] = w.ledger.xero_invoice_id
            # Xero echoes a refused element as sent, and the SDK only parses its own date form
            # back: send dates as ``/Date(ms+0000)/`` (as the SDK itself does).
            for field in ("Date", "DueDate"):
                if field in body:
                    body[field] = ms_date(dt.date.fromisoformat(body[field]))
            bodies.append(body)
        key = _batch_key(self.integration.pk, method, [w.ledger.idempotency_key for w in group])
        try:
            result = self._call(
                method,
                {"Invoices": bodies},
                summarize_errors=False,
                unitdp=4,
                idempotency_key=key,
                priority=Priority.NEW if method == "create_invoices" else Priority.UPDATE,
            )
        except _Stop:
            # 429: Xero did not process the request; the rows wait for the next run.
            self._set_state(group, State.PENDING)
            raise
        except XeroUnavailable as exc:
            # A timeout or 5xx after sending: Xero may have created them. Resolved by lookup.
            self._set_state(group, State.UNKNOWN)
            raise _Stop(
                f"Xero's answer was lost ({exc.message}); checked next run.", unavailable=True
            ) from exc
        except ProviderError:
            self._set_state(group, State.UNKNOWN)
            raise
        invoices = list(result.invoices or [])
        now = timezone.now()
        # Recorded in the transaction that also logs the outcome. Synced rows differ only by
        # their Xero ids (the hash went in with the intent): a plain UPDATE for the shared
        # fields and a two-field bulk update are far cheaper than one wide CASE per field.
        with transaction.atomic():
            for index, w in enumerate(group):
                invoice = invoices[index] if index < len(invoices) else None
                self._record(w, invoice, updated=method != "create_invoices")
                w.ledger.updated_at = now
            synced = [w.ledger for w in group if w.ledger.state == State.SYNCED]
            others = [w.ledger for w in group if w.ledger.state != State.SYNCED]
            if synced:
                LedgerEntry.objects.filter(pk__in=[row.pk for row in synced]).update(
                    state=State.SYNCED, last_error="", updated_at=now
                )
                LedgerEntry.objects.bulk_update(synced, ["xero_invoice_id", "xero_invoice_number"])
            if others:
                LedgerEntry.objects.bulk_update(
                    others, ["state", "content_hash", "last_error", "updated_at"]
                )
            done = [w for w in group if w.ledger.state == State.SYNCED]
            if method == "create_invoices":
                self._schedule_payments(
                    [(w.ledger, Decimal(str(w.invoice.total or 0))) for w in done if w.plan]
                )
            else:
                for w in done:
                    # An unpaid scheduled payment follows the invoice's new total.
                    PaymentEntry.objects.filter(
                        ledger=w.ledger, state=PaymentEntry.State.SCHEDULED
                    ).update(amount=Decimal(str(w.invoice.total or 0)))
            self._resolve_entries([w.ledger.pk for w in group if w.ledger.state == State.SYNCED])
            self._flush_logs()
        for w in group:
            if w.credit_lines and w.ledger.state == State.SYNCED:
                if "credit_notes" in self.paused:
                    self._log(
                        w.ledger,
                        w.ledger.salesforce_id,
                        Outcome.ATTENTION,
                        f"The negative lines of {w.opportunity.name!r} were not credited: credit "
                        "notes are on hold until the configuration is fixed. Credit them in Xero.",
                    )
                    continue
                self._credit_negative_lines(w.ledger, w.invoice, list(w.credit_lines))

    def _set_state(self, group: list[_Work], state: str) -> None:
        for w in group:
            w.ledger.state = state
        LedgerEntry.objects.bulk_update([w.ledger for w in group], ["state"])

    def _record(self, w: _Work, invoice: Any, *, updated: bool) -> None:
        """One element's outcome onto its row (saved by the caller, with the group's)."""
        ledger = w.ledger
        if invoice is None:
            # Fewer elements came back than were sent: this one may exist. Looked up later.
            ledger.state = State.UNKNOWN
            return
        errors = list(getattr(invoice, "validation_errors", None) or [])
        if errors or not invoice.invoice_id:
            messages = "; ".join(_value(e.message) for e in errors) or "no reason given"
            self._fail(w, f"Xero refused the invoice: {messages}", save=False)
            return
        ledger.state = State.SYNCED
        ledger.xero_invoice_id = str(invoice.invoice_id)
        ledger.xero_invoice_number = _value(invoice.invoice_number)
        ledger.last_error = ""
        w.invoice = invoice
        verb = "updated" if updated else "created"
        lines = len(invoice.line_items or []) or len(w.draft.lines)
        message = (
            f"Invoice {ledger.xero_invoice_number} {verb} for {w.contact_name or w.contact.name}, "
            f"{lines} line{'s' if lines != 1 else ''}, "
            f"{_money(invoice.total, _value(invoice.currency_code))}"
        )
        if updated:
            self.run_row.updated_count += 1
        else:
            self.run_row.created_count += 1
        self._log(
            ledger, ledger.salesforce_id, Outcome.UPDATED if updated else Outcome.CREATED, message
        )

    def _fail(self, w: _Work, message: str, *, save: bool = True) -> None:
        ledger = w.ledger
        ledger.state = State.FAILED
        ledger.content_hash = w.hash
        ledger.last_error = message
        if save:
            ledger.save()
        self.run_row.failed_count += 1
        self._log(ledger, ledger.salesforce_id, Outcome.FAILED, message)


def _withdrawal(raw: dict[str, Any]) -> str:
    if raw.get("IsDeleted"):
        return str(Withdrawal.DELETED)
    if raw.get("IsClosed") and not raw.get("IsWon"):
        return str(Withdrawal.LOST)
    return str(Withdrawal.REOPENED)


def _withdrawal_text(reason: str, raw: dict[str, Any]) -> str:
    stage = raw.get("StageName")
    if reason == Withdrawal.DELETED:
        return "deleted in Salesforce"
    if reason == Withdrawal.LOST:
        return f"closed lost ({stage})" if stage else "closed lost"
    return f"reopened (stage {stage})" if stage else "reopened"


def decide(
    opportunity: Opportunity,
    config: SyncConfig,
    rules: RuleSet,
    metadata: OrganisationMetadata,
    *,
    rate: Callable[[Opportunity, str], Decimal],
) -> _Decision:
    """What the accounting rules decide for one opportunity (no I/O but ``rate``).

    Raises :class:`RuleProblem` when a rule cannot be applied: the opportunity must wait.
    """
    method = payment_method_for(opportunity, config, rules)
    if method is not None and not method.create_invoice:
        return _Decision(InvoiceRules(), method, "")
    tax_type = tax_type_for(opportunity, config, rules, metadata)
    tracking = tracking_for(opportunity, rules, metadata)
    currency = opportunity.currency or config.default_currency or metadata.base_currency
    if currency not in metadata.currencies and not config.enable_missing_currencies:
        raise RuleProblem(
            "currencies",
            f"{opportunity.name!r} is in {currency}, which is not enabled in "
            f"{metadata.name}: add {currency} in Xero (Settings → Currencies), or let "
            "CarryTheOne enable missing currencies. The opportunity waits until then.",
        )
    if method is not None and method.apply_payment:
        # A payment that could not be recorded is caught now, while the opportunity can wait.
        payment_account_for(method, currency, metadata)
    currency_rate = None
    if config.use_salesforce_rates and currency != metadata.base_currency:
        currency_rate = rate(opportunity, currency)
    return _Decision(
        rules=InvoiceRules(
            tax_type=tax_type,
            tracking=tuple((c.category_name, c.option_name) for c in tracking),
            status=method.status_for(config) if method else None,
            payment_terms_days=method.terms_for(config) if method else None,
            currency_rate=currency_rate,
            negative_lines_apart=config.negative_lines == "credit_note",
        ),
        method=method,
        currency=currency,
        new_options=tuple((c.category_name, c.option_name) for c in tracking if c.needs_creating),
    )


RateTable = dict[str, list[tuple[dt.date, dt.date, Decimal]]]


def load_rates(salesforce: SalesforceClient) -> tuple[RateTable, int]:
    """Every conversion rate of the org (dated with advanced currency management, else the
    static ones), and the number of Salesforce calls it took."""
    rates: RateTable = {}
    try:
        pages = list(
            salesforce.query_pages(
                "SELECT IsoCode, ConversionRate, StartDate, NextStartDate FROM DatedConversionRate"
            )
        )
        dated = True
    except SalesforceApiError as exc:
        if exc.error_code != "INVALID_TYPE":
            raise
        pages = list(
            salesforce.query_pages(
                "SELECT IsoCode, ConversionRate FROM CurrencyType WHERE IsActive = true"
            )
        )
        dated = False
    for page in pages:
        for row in page.get("records", []):
            start = dt.date.fromisoformat(row["StartDate"]) if dated else dt.date.min
            end = dt.date.fromisoformat(row["NextStartDate"]) if dated else dt.date.max
            rates.setdefault(str(row["IsoCode"]), []).append(
                (start, end, Decimal(str(row["ConversionRate"])))
            )
    return rates, len(pages) + (0 if dated else 1)


def rate_between(rates: RateTable, opportunity: Opportunity, currency: str, base: str) -> Decimal:
    """Salesforce's rate on the close date, as Xero's CurrencyRate (currency per base unit).

    Salesforce rates are units per unit of the corporate currency, so the rate between the
    invoice currency and Xero's base currency is their quotient (the corporate currency need
    not be Xero's base currency).
    """
    day = opportunity.close_date or today()

    def rate_of(code: str) -> Decimal | None:
        for start, end, value in rates.get(code, []):
            if start <= day < end:
                return value
        return None

    ours, theirs = rate_of(currency), rate_of(base)
    if ours is None or theirs is None or theirs == 0:
        missing = currency if ours is None else base
        raise RuleProblem(
            "use_salesforce_rates",
            f"Salesforce has no conversion rate for {missing} on {day.isoformat()}: add it in "
            "Salesforce (Manage Currencies), or use Xero's daily rate instead.",
        )
    return (ours / theirs).quantize(Decimal("0.000001"))

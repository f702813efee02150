"""What every step of one sync run shares: the integration as loaded, its configuration and
rules, the clients (which count their own calls), the claim's fencing token, per-run caches, and
the buffered log."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from integrations.connections.salesforce.client import SalesforceClient
from integrations.connections.xero.api import XeroApi
from integrations.connections.xero.metadata_types import OrganisationMetadata
from integrations.connections.xero.records import Contact
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.specs import RuleSet
from integrations.sync.claim import ClaimHeartbeat
from integrations.sync.models import OPEN_OUTCOMES, LedgerEntry, SyncLogEntry, SyncRun

Outcome = SyncLogEntry.Outcome


class ContactDirectory:
    """The organisation's live contacts by ContactNumber, name and email (lower case)."""

    def __init__(self) -> None:
        self.by_number: dict[str, Contact] = {}
        self.by_name: dict[str, Contact] = {}
        self.by_email: dict[str, Contact] = {}

    def add(self, contact: Contact) -> None:
        if contact.status == "ARCHIVED":
            return
        if contact.number:
            self.by_number.setdefault(contact.number, contact)
        self.by_name.setdefault(contact.name.lower(), contact)
        if contact.email:
            self.by_email.setdefault(contact.email.lower(), contact)

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass
class RunBudget:
    """What one run may read before it leaves the rest to its continuation: opportunities that
    needed work (an unchanged one re-read in the watermark's overlap costs nothing) and seconds.

    Spent only at chunk boundaries (``steps.read``): the watermark and the back-fill's cursor
    have passed every chunk read, so the continuation starts where this run stopped.
    """

    opportunities: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    spent: int = 0
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def from_settings(cls) -> RunBudget:
        return cls(
            opportunities=int(settings.SYNC_RUN_MAX_OPPORTUNITIES),
            seconds=float(settings.SYNC_RUN_MAX_SECONDS),
        )

    def spend(self, opportunities: int) -> None:
        self.spent += opportunities

    @property
    def exhausted(self) -> bool:
        """Only once some work was done: a run that stopped before any would leave its
        continuation exactly where it started."""
        if self.spent <= 0:
            return False
        if self.opportunities > 0 and self.spent >= self.opportunities:
            return True
        return self.seconds > 0 and self.clock() - self.started >= self.seconds


@dataclass
class RunContext:
    integration: Integration
    run: SyncRun
    worker: str
    fence: int
    ttl: dt.timedelta
    heartbeat: ClaimHeartbeat
    config: SyncConfig
    rules: RuleSet
    metadata: OrganisationMetadata
    paused: frozenset[str]
    """Behaviours a configuration problem holds back (``core.behaviours``)."""
    xero: XeroApi
    salesforce: SalesforceClient | None = None
    had_failures: bool = False
    contacts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """ContactNumber → (ContactID, name) found or created in this run."""
    directory: ContactDirectory | None = None
    """Every contact of the organisation, read once at the start of a large first sync:
    contacts are then matched without a lookup per chunk."""
    items: set[str] = field(default_factory=set)
    """Item codes known to exist in this run."""
    logs: list[SyncLogEntry] = field(default_factory=list)
    history: bool = False
    """Reading history a person asked for (a back-fill): its rows were not won just now."""
    budget: RunBudget = field(default_factory=RunBudget.from_settings)

    @property
    def integration_id(self) -> int:
        return int(self.integration.pk)

    def log(
        self,
        outcome: str,
        message: str,
        *,
        ledger: LedgerEntry | None = None,
        step: str = "",
        document_number: str = "",
        problem_field: str = "",
    ) -> None:
        """One readable outcome; buffered and written in bulk (one INSERT per chunk).
        ``problem_field`` is the field of the RuleProblem it reports, if any: the fix link."""
        if outcome == Outcome.ATTENTION:
            self.run.attention_count += 1
            self.had_failures = True
        self.logs.append(
            SyncLogEntry(
                run=self.run,
                integration=self.integration,
                ledger=ledger,
                salesforce_id=ledger.salesforce_id if ledger is not None else "",
                record_name=(ledger.opportunity_name if ledger is not None else "")[:255],
                customer_name=(ledger.customer_name if ledger is not None else "")[:255],
                document_number=(
                    document_number or (ledger.xero_invoice_number if ledger is not None else "")
                )[:255],
                step=step[:24],
                problem_field=problem_field[:100],
                outcome=outcome,
                message=message,
            )
        )

    def flush_logs(self) -> None:
        if not self.logs:
            return
        for entry in self.logs:
            # A row saved after the entry was written down has its id now; one never saved
            # (nothing was sent for it) leaves the entry without a link.
            if entry.ledger is not None:
                if entry.ledger.pk is None:
                    entry.ledger = None
                else:
                    entry.ledger_id = entry.ledger.pk
        SyncLogEntry.objects.bulk_create(self.logs)
        self.logs = []

    def resolve_entries(self, ledger_ids: list[int]) -> None:
        """Earlier failures of these rows no longer need a person: the rows are settled."""
        if ledger_ids:
            SyncLogEntry.objects.filter(
                ledger_id__in=ledger_ids, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
            ).update(dismissed_at=timezone.now())

    @property
    def xero_calls(self) -> int:
        return self.xero.calls

    @property
    def salesforce_calls(self) -> int:
        return self.salesforce.calls if self.salesforce is not None else 0

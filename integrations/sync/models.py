"""The sync's memory: the ledger (Salesforce id ↔ Xero ids), runs, and per-record log entries.

The database is the truth and Celery messages are hints (ARCHITECTURE §7): everything pending
can be re-found here, so a lost message delays work but never loses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models.functions import Upper
from django.utils import timezone


def bulk_set(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Saves ``fields`` of ``rows`` (of one model): one prepared UPDATE by primary key, executed
    for every row. What ``bulk_update`` does, without building a CASE per field and row — in
    the run's hot path that cost more CPU than everything else the engine does."""
    if not rows:
        return
    meta = type(rows[0])._meta
    columns: list[models.Field[object, object]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field), name
        columns.append(field)
    quote = connection.ops.quote_name
    # Names from the model's own options, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(field.column)} = %s" for field in columns)
        + f" WHERE {quote(meta.pk.column or 'id')} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns]
        + [row.pk]
        for row in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


class LedgerEntry(models.Model):
    """One opportunity of one integration, and what Xero holds for it.

    Exactly once toward Xero: every write of its invoice is a :class:`XeroOperation` (the
    write-ahead record: intent committed before the call, outcome after, a lost outcome
    settled by looking the invoice up). ``state`` follows the invoice operation (``SENDING``,
    ``UNKNOWN``) and says the rest in business terms (in Xero, waiting, needs a person...).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        UNKNOWN = "unknown", "Outcome unknown; being checked"
        SYNCED = "synced", "In Xero"
        FAILED = "failed", "Failed"
        NEEDS_ATTENTION = "needs_attention", "Needs a person"
        DISMISSED = "dismissed", "Dismissed"
        WITHDRAWN = "withdrawn", "No longer won; nothing in Xero"
        NOT_INVOICED = "not_invoiced", "Not invoiced (its payment method)"

    class Withdrawal(models.TextChoices):
        """Why an opportunity stopped counting after we first saw it as won."""

        NONE = "", "Still counts"
        REOPENED = "reopened", "Reopened"
        LOST = "lost", "Closed lost"
        DELETED = "deleted", "Deleted"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="ledger"
    )
    salesforce_id = models.CharField(max_length=18)
    opportunity_name = models.CharField(max_length=255, blank=True)
    system_modstamp = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    content_hash = models.CharField(max_length=64, blank=True)
    """Hash of the invoice last sent (or being sent): unchanged content means no write."""
    customer_name = models.CharField(max_length=255, blank=True)
    xero_contact_id = models.CharField(max_length=36, blank=True)
    xero_invoice_id = models.CharField(max_length=36, blank=True)
    xero_invoice_number = models.CharField(max_length=255, blank=True)
    withdrawn = models.CharField(
        max_length=16, choices=Withdrawal.choices, default=Withdrawal.NONE, blank=True
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    generation = models.PositiveIntegerField(
        default=0,
        help_text="Bumped when the opportunity is invoiced anew after a void or credit, or "
        "retried by a person: part of the Idempotency-Key, so Xero does not replay an old answer.",
    )
    last_error = models.TextField(blank=True)
    first_seen_won_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The opportunity's SystemModstamp when we first read it as won (Salesforce's "
        "clock, not ours); empty for history imported by a back-fill.",
    )
    invoiced_at = models.DateTimeField(
        null=True, blank=True, help_text="When Xero confirmed its invoice (the first one)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "salesforce_id"), name="sync_ledger_unique_opportunity"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=("integration", "state")),
            # The dashboard's won-to-invoiced figures: the last 30 days of invoicing.
            models.Index(fields=("integration", "invoiced_at"), name="sync_ledger_invoiced_idx"),
            # The log page's record search: most recently changed first (make loadtest: 24,000
            # records in one integration, 50 shown).
            models.Index(fields=("integration", "-updated_at", "-id"), name="sync_ledger_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.salesforce_id} → {self.xero_invoice_number or self.state}"

    # What a run copies from the opportunity it read, saved with whatever else it changes.
    READ_FIELDS: ClassVar[tuple[str, ...]] = (
        "opportunity_name",
        "customer_name",
        "system_modstamp",
    )

    def save_fields(self, *fields: str) -> None:
        """Saves ``fields`` and what the run read (a new row whole): a run holds a row for a
        while, and a full save would write back what a person changed meanwhile — a retry's
        new ``generation``, say."""
        if self.pk is None:
            self.save()
        else:
            self.save(update_fields=[*fields, *self.READ_FIELDS, "updated_at"])


class SyncRun(models.Model):
    """One execution of the sync for one integration."""

    class Trigger(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        PUSH = "push", "Change notification"
        MANUAL = "manual", "Started by a person"
        BACKFILL = "backfill", "Back-fill"
        WRITEBACK = "writeback", "Write-back to Salesforce"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Completed; some records have problems"
        STOPPED = "stopped", "Stopped early; continues next run"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="runs"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    attention_count = models.PositiveIntegerField(
        default=0, help_text="Records that wait for a person (not failures of the run)."
    )
    worker = models.CharField(
        max_length=100, blank=True, help_text="The worker holding the claim while it ran."
    )
    xero_calls = models.PositiveIntegerField(default=0)
    salesforce_calls = models.PositiveIntegerField(default=0)
    expected_count = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Opportunities a first sync (or its continuation) counted before reading: "
        "the panel's progress; empty for ordinary runs.",
    )
    error = models.TextField(blank=True, help_text="Why the whole run failed, if it did.")
    retry_after = models.DateTimeField(
        null=True, blank=True, help_text="Xero or Salesforce asked us to wait until then."
    )
    left_more = models.BooleanField(
        default=False,
        help_text="It read its share (SYNC_RUN_MAX_OPPORTUNITIES / SYNC_RUN_MAX_SECONDS) and "
        "left the rest to a continuation queued at once.",
    )

    class Meta:
        ordering = ("-started_at",)
        indexes: ClassVar = [models.Index(fields=("integration", "-started_at"))]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.integration_id} ({self.status})"


class SyncLogEntry(models.Model):
    """The readable outcome of one record in one run. Failures stay until fixed or dismissed."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        ATTENTION = "attention", "Needs a person"
        WARNING = "warning", "Warning"
        WAITING = "waiting", "Waiting"
        RESOLVED = "resolved", "Resolved"

    run = models.ForeignKey(
        SyncRun,
        on_delete=models.CASCADE,
        related_name="entries",
        null=True,
        blank=True,
        help_text="Empty for what happened outside a run (a refused push message).",
    )
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="log_entries"
    )
    ledger = models.ForeignKey(
        LedgerEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="log"
    )
    salesforce_id = models.CharField(max_length=18, blank=True)
    record_name = models.CharField(
        max_length=255, blank=True, help_text="The opportunity's name when the entry was written."
    )
    customer_name = models.CharField(max_length=255, blank=True)
    document_number = models.CharField(
        max_length=255, blank=True, help_text="The Xero invoice or credit note number it is about."
    )
    step = models.CharField(
        max_length=24, blank=True, help_text="The kind of work: invoice, payment, credit_note..."
    )
    problem_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="The setting or rule a configuration problem names (RuleProblem.field): where "
        "the log links to fix it.",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-created_at", "-id")
        # For the log's search (integrations.sync.search), which pages by (created_at, id)
        # within one integration. On PostgreSQL, migration 0018 also adds trigram GIN indexes
        # on UPPER(record_name) and UPPER(customer_name) for "contains" matches; they are not
        # declared here because SQLite (``make run``) cannot build them, and a table SQLite
        # rebuilds re-creates every index its model declares.
        indexes: ClassVar = [
            models.Index(fields=("integration", "-created_at", "-id"), name="sync_log_recent"),
            models.Index(
                fields=("integration", "outcome", "-created_at", "-id"), name="sync_log_outcome"
            ),
            models.Index(
                fields=("integration", "-created_at", "-id"),
                condition=models.Q(outcome__in=("failed", "attention"), dismissed_at__isnull=True),
                name="sync_log_open",
            ),
            models.Index(fields=("integration", "salesforce_id"), name="sync_log_salesforce_id"),
            # What ``document_number__iexact`` compares: UPPER(document_number).
            models.Index(
                models.F("integration"), Upper("document_number"), name="sync_log_document"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.message[:60]}"


class Backfill(models.Model):
    """An explicit request to import won opportunities that closed since a date.

    Polling only reads what changed since the integration started (or since its start date):
    history is imported only when a person asks for it, here, with progress to watch. A
    back-fill runs inside the normal sync runs (same claim, same ledger, so nothing is sent
    twice) and continues across runs until its read reaches the end.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="backfills"
    )
    since = models.DateField(help_text="Opportunities closing on or after this date.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    watermark = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration",),
                condition=models.Q(status="running"),
                name="sync_one_running_backfill",
            ),
        ]

    def __str__(self) -> str:
        return f"Back-fill since {self.since} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed / self.total))


OPEN_OUTCOMES = (SyncLogEntry.Outcome.FAILED, SyncLogEntry.Outcome.ATTENTION)
"""What a person must look at: listed under "needs attention" until resolved or dismissed."""


class PaymentEntry(models.Model):
    """A payment to record in Xero against one synced invoice: scheduled, then sent once.

    A row is the schedule: it is created with the invoice (same transaction) and paid on
    ``pay_on`` (close date plus the payment method's clearing delay) by whichever run comes
    first after that day, so a restart loses nothing. Exactly once like invoices: the intent is
    committed before the call; an unknown outcome is settled by the invoice's AmountPaid.
    """

    class State(models.TextChoices):
        PLANNED = "planned", "Waiting for its invoice"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Being sent"
        UNKNOWN = "unknown", "Outcome unknown; being checked"
        PAID = "paid", "Recorded in Xero"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Not needed"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="payments"
    )
    ledger = models.ForeignKey(LedgerEntry, on_delete=models.CASCADE, related_name="payments")
    method = models.CharField(max_length=255)
    account_code = models.CharField(max_length=10)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    pay_on = models.DateField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    xero_payment_id = models.CharField(max_length=36, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=("integration", "state", "pay_on"))]
        constraints: ClassVar = [
            # At most one payment under way per invoice; paid, failed and cancelled are history.
            models.UniqueConstraint(
                fields=("ledger",),
                condition=models.Q(state__in=("planned", "scheduled", "sending", "unknown")),
                name="sync_one_open_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.amount} on {self.pay_on} ({self.state})"


class CreditNoteEntry(models.Model):
    """A credit note (or void) raised for one opportunity's invoice, and why."""

    class Reason(models.TextChoices):
        WITHDRAWN = "withdrawn", "Opportunity reopened, lost or deleted"
        AMOUNT_DROP = "amount_drop", "Amount fell after payment"
        NEGATIVE_LINES = "negative_lines", "Negative lines"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        UNKNOWN = "unknown", "Outcome unknown; being checked"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Not needed"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="credit_notes"
    )
    ledger = models.ForeignKey(LedgerEntry, on_delete=models.CASCADE, related_name="credit_notes")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    action = models.CharField(
        max_length=16,
        blank=True,
        help_text="credit_note, voided or deleted: what was done to the invoice (empty: not "
        "decided yet; a withdrawal is decided when its invoice is read).",
    )
    content_hash = models.CharField(max_length=64)
    """What this entry answers (e.g. the invoice and amounts): the same news never twice."""
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    allocated = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    xero_credit_note_id = models.CharField(max_length=36, blank=True)
    xero_credit_note_number = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    lines = models.JSONField(
        default=list,
        blank=True,
        help_text="What was credited per (account, tracking): [[account, tracking, amount]].",
    )
    superseded = models.BooleanField(
        default=False, help_text="The opportunity was won again and invoiced anew since."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("ledger", "reason", "content_hash"), name="sync_credit_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} for {self.ledger_id} ({self.reason})"


class RecordAction(models.Model):
    """What a person did to a record of the sync log (sent it again, dismissed it), for its
    history: who, when, what, and why when they said."""

    class Action(models.TextChoices):
        RETRY = "retry", "Sent again"
        DISMISS = "dismiss", "Dismissed"
        RESYNC = "resync", "Re-synced from scratch"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="record_actions"
    )
    ledger = models.ForeignKey(
        LedgerEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="actions"
    )
    log_entry = models.ForeignKey(
        SyncLogEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class XeroOperation(models.Model):
    """One write to Xero, written ahead: the one mechanism every write goes through.

    The intent (kind, subject, content, Idempotency-Key, the claim's fencing token) is
    committed before the call; the outcome is recorded after, in the transaction that also
    records what it means (the ledger's invoice id, a payment paid...). An outcome that is lost
    — a timeout, a 5xx, a short answer, a killed worker — leaves the operation ``UNKNOWN``
    until a later run looks the document up in Xero (``integrations.sync.steps.settle``): found
    → done, not found → waiting, sent again. A refusal before sending (a rate limit, a token
    that cannot be refreshed) returns it to waiting. See docs/write-protocol.md.
    """

    class Kind(models.TextChoices):
        CONTACT = "contact", "Create a contact"
        CONTACT_NUMBER = "contact_number", "Give a contact our ContactNumber"
        ITEM = "item", "Create an item"
        CURRENCY = "currency", "Enable a currency"
        TRACKING_OPTION = "tracking_option", "Create a tracking option"
        INVOICE = "invoice", "Create an invoice"
        INVOICE_UPDATE = "invoice_update", "Update an invoice"
        PAYMENT = "payment", "Record a payment"
        CREDIT_NOTE = "credit_note", "Raise a credit note"
        ALLOCATION = "allocation", "Allocate a credit note"
        VOID = "void", "Void or delete an invoice"

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        UNKNOWN = "unknown", "Outcome unknown; being checked"
        DONE = "done", "Done"
        FAILED = "failed", "Refused by Xero"
        CANCELLED = "cancelled", "Not needed any more"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="operations"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING)
    subject = models.CharField(
        max_length=255, help_text="What is written: a ledger row, a contact number, an item code…"
    )
    ledger = models.ForeignKey(
        LedgerEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="operations"
    )
    payment = models.ForeignKey(
        PaymentEntry, on_delete=models.CASCADE, null=True, blank=True, related_name="operations"
    )
    credit_note = models.ForeignKey(
        CreditNoteEntry,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="operations",
    )
    content_hash = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True)
    batch_key = models.CharField(
        max_length=128, blank=True, help_text="The Idempotency-Key of the request it went in."
    )
    fence = models.BigIntegerField(
        default=0, help_text="The claim's fencing token when the intent was committed."
    )
    body = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="What is (or was) sent."
    )
    lookup = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What a lookup after a lost answer searches by.",
    )
    result_id = models.CharField(max_length=64, blank=True)
    result_number = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            # One open write per thing written: a second intent updates the first.
            models.UniqueConstraint(
                fields=("integration", "kind", "subject"),
                condition=models.Q(state__in=("waiting", "sending", "unknown")),
                name="sync_one_open_operation",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=("integration", "state", "kind")),
            # The dashboard's documents written per day: a range of finished_at, kind read
            # from the index itself.
            models.Index(
                fields=("integration", "state", "finished_at", "kind"),
                name="sync_operation_finished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.state})"


OPEN_OPERATION_STATES = (
    XeroOperation.State.WAITING,
    XeroOperation.State.SENDING,
    XeroOperation.State.UNKNOWN,
)


class OperationAttempt(models.Model):
    """One send of an operation and what came of it: what Xero answered, for people.

    Written by the protocol in the transaction that records the outcome (never across the
    call), one ``bulk_create`` per batch. ``answer`` is a short summary of Xero's answer (ids,
    number, status, amounts, validation messages), never the whole document; what was sent is
    the operation's ``body`` while ``content_hash`` matches the operation's.
    """

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused by Xero"
        UNKNOWN = "unknown", "Answer lost"
        REFUSED_BEFORE_SEND = "refused_before_send", "Held back before reaching Xero"

    operation = models.ForeignKey(
        XeroOperation, on_delete=models.CASCADE, related_name="attempt_history"
    )
    number = models.PositiveIntegerField(help_text="The operation's attempt count at the send.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Xero's HTTP status; empty when no answer came."
    )
    content_hash = models.CharField(max_length=64, blank=True)
    answer = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="A summary of Xero's answer: ids, number, status, amounts, its messages.",
    )

    class Meta:
        ordering = ("operation_id", "number", "id")

    def __str__(self) -> str:
        return f"Attempt {self.number} of operation {self.operation_id}: {self.outcome}"


class ContactLink(models.Model):
    """A Salesforce Account's Xero contact, as last found or created in Xero.

    Later runs address invoices to it without looking it up again while the link is fresh
    (``XERO_LOOKUP_TTL``): a deal pushed on its own then costs one Xero call, its invoice. A
    Xero CONTACT event about the contact (an archive, a merge, a rename) or an invoice Xero
    refuses makes the link stale at once, so the next run looks the contact up.
    """

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    contact_number = models.CharField(max_length=50, help_text="Our ContactNumber in Xero.")
    xero_contact_id = models.CharField(max_length=36, db_index=True)
    name = models.CharField(max_length=255)
    verified_at = models.DateTimeField(help_text="When Xero last showed this contact to us.")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "contact_number"), name="sync_contact_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_number} → {self.xero_contact_id}"


class ItemLink(models.Model):
    """An item code last seen in (or created in) the organisation's Xero: like
    :class:`ContactLink`, used by later runs without a lookup while fresh; an invoice Xero
    refuses makes the integration's item links stale."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    code = models.CharField(max_length=30)
    verified_at = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=("integration", "code"), name="sync_item_link_unique")
        ]

    def __str__(self) -> str:
        return self.code


# --- real-time push (Salesforce Outbound Messages) ---------------------------------------------


class PushEndpoint(models.Model):
    """The inbound URL of one integration for Salesforce Outbound Messages, and its health.

    The URL's token is a secret: stored encrypted (the panel shows the full URL to the people
    who set Salesforce up) beside its SHA-256, by which a message finds its integration without
    decrypting anything. Rotating replaces both; the old digest is kept only to tell a message
    sent to the old URL from a random one (answered 404 either way, but logged for the former).
    """

    integration = models.OneToOneField(
        "integrations.Integration", on_delete=models.CASCADE, related_name="push_endpoint"
    )
    token = models.TextField(
        help_text="The URL token, encrypted (integrations.connections.crypto)."
    )
    token_digest = models.CharField(max_length=64, unique=True)
    previous_token_digest = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(
        null=True, blank=True, help_text="When an accepted message last arrived."
    )
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True, help_text="Why the last refused message was.")
    test_requested_at = models.DateTimeField(
        null=True, blank=True, help_text='When a person pressed "Send a test message".'
    )
    test_received_at = models.DateTimeField(
        null=True, blank=True, help_text="When a message (any) first arrived after that."
    )

    def __str__(self) -> str:
        return f"Push endpoint of {self.integration_id}"


class PushReceipt(models.Model):
    """One Outbound Message notification already recorded: Salesforce repeats a delivery until
    it is acknowledged (for up to 24 hours), and a repeat must do nothing twice."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    notification_id = models.CharField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "notification_id"), name="sync_push_receipt_unique"
            )
        ]

    def __str__(self) -> str:
        return self.notification_id


class PushNotification(models.Model):
    """An opportunity Salesforce said changed, waiting for a run to re-read it.

    One row per opportunity: a second notification only moves ``received_at``, so a run that
    took the first one (and deletes only rows it took) leaves the newer news for the next run.
    """

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    salesforce_id = models.CharField(max_length=18)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=("integration", "salesforce_id"), name="sync_push_pending_unique"
            )
        ]

    def __str__(self) -> str:
        return self.salesforce_id


class PushTally(models.Model):
    """Messages and refusals of one integration in one hour: the panel's push health, in a
    bounded number of rows however many messages arrive."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField()
    messages = models.PositiveIntegerField(default=0)
    notifications = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=("integration", "hour"), name="sync_push_tally_unique")
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.hour:%Y-%m-%d %H}h: {self.messages}"


# --- write-back (Xero webhooks → Salesforce) -------------------------------------------------


class XeroWebhookEvent(models.Model):
    """One event of a signed Xero webhook delivery, stored before it is answered.

    Xero sends only ids (and retries a delivery it did not see answered 200), so an event is a
    hint to read the document again: the same event twice is one row (``key``), and one that
    concerns no organisation or document of ours is marked ignored, quietly.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be processed"
        DONE = "done", "Processed"
        IGNORED = "ignored", "Not about a document of ours"

    key = models.CharField(
        max_length=64,
        unique=True,
        help_text="Hash of tenant, resource, category, type and date: one row per event.",
    )
    tenant_id = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    event_category = models.CharField(max_length=16)
    event_type = models.CharField(max_length=16)
    event_date = models.DateTimeField()
    sequence = models.BigIntegerField(
        default=0, help_text="The delivery's lastEventSequence (Xero's order of events)."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=("state", "received_at"))]

    def __str__(self) -> str:
        return f"{self.event_category} {self.event_type} {self.resource_id} ({self.state})"


class WritebackState(models.Model):
    """What the write-back last wrote onto one opportunity, and whether Xero changed since.

    ``requested_at`` is set by every event about the row's documents; a write-back clears it
    only if it is still the value it read, so an event arriving meanwhile is never lost.
    """

    ledger = models.OneToOneField(LedgerEntry, on_delete=models.CASCADE, related_name="writeback")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="writebacks"
    )
    values = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Opportunity field → the value last written (as sent to Salesforce).",
    )
    requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while Xero has news not written back yet."
    )
    written_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=("integration", "requested_at"))]

    def __str__(self) -> str:
        return f"Write-back of {self.ledger_id}"

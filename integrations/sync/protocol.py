"""The one write-ahead protocol every write to Xero goes through (docs/write-protocol.md).

For a batch of documents of one kind, :func:`write`:

1. commits the **intent** — one :class:`XeroOperation` per document (kind, subject, content
   hash, Idempotency-Key, what a lookup would search by) marked ``SENDING``, in a transaction
   that first checks the claim's **fencing token**: a worker that lost its claim stops here,
   before sending anything;
2. makes the call (one request, one Idempotency-Key for the batch);
3. records each element's **outcome** (done, refused, or unknown for an element missing from a
   short answer) in one transaction, together with what it means — the kind's
   :class:`Handler` updates the ledger, schedules the payment, logs the outcome.

A call refused before Xero processed it (our rate limiter gave no slot, a 429, a token that
could not be refreshed) returns the operations to ``WAITING``: each kind's step sends them
again. A call whose answer was lost (a timeout, a 5xx, a killed worker leaving ``SENDING``)
leaves them ``UNKNOWN``; :func:`settle` looks each one up in Xero on a later run — found →
done, exactly as if the answer had arrived; not found → waiting. Nothing is ever sent twice
blindly, and every operation that waits, fails or is unknown has a log entry saying why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.connections.providers import ProviderError, ReauthorizationRequired
from integrations.connections.xero.client import (
    XeroNotFound,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
)
from integrations.sync.claim import ClaimLost, integration_fence_check
from integrations.sync.context import RunContext
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    CreditNoteEntry,
    LedgerEntry,
    OperationAttempt,
    PaymentEntry,
    XeroOperation,
    bulk_set,
)
from integrations.sync.translate import content_hash, idempotency_key

Kind = XeroOperation.Kind
State = XeroOperation.State
Attempt = OperationAttempt.Outcome
# Where each kind's answer carries Xero's id of what was written.
ID_FIELDS = ("invoice_id", "credit_note_id", "payment_id", "contact_id", "item_id", "option_id")


class Stop(Exception):
    """Ends the run early but politely: what is done stays done, the rest waits for next run."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        unavailable: bool = False,
        transient: ProviderError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.unavailable = unavailable
        """Stopped because Xero did not answer: counts as a failure in the health shown."""
        self.transient = transient
        """Re-raised after the run is recorded, so the task retries with backoff."""


@dataclass
class Element:
    """One document to write, and what it belongs to."""

    subject: str
    body: dict[str, Any]
    content_hash: str = ""
    key_part: str = ""
    """What makes its Idempotency-Key (defaults to the content hash): a new generation of the
    same content must not be answered with an old document."""
    lookup: dict[str, Any] = field(default_factory=dict)
    ledger: LedgerEntry | None = None
    payment: PaymentEntry | None = None
    credit_note: CreditNoteEntry | None = None
    data: Any = None
    """What the step knows of it beyond the operation (not stored): handed to ``sending``."""


class Handler(ABC):
    """What one kind of write means for our records; the steps register one per kind."""

    kind: ClassVar[str]
    settles_waiting: ClassVar[bool] = False
    """Prerequisites (contacts, items, currencies, tracking options) are re-derived whenever
    needed: a waiting one is looked up too, and cancelled when not found."""
    waiting_picked_up_by: ClassVar[str]
    """Which step sends a waiting operation of this kind again (for people and the dead-state
    test): every non-terminal state has a step that picks it up."""

    @abstractmethod
    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Any]:
        """The document Xero holds for each operation whose outcome is unknown (by op id);
        absent: not found."""

    @abstractmethod
    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        """Records a confirmed write (``found``: by a lookup after a lost answer)."""

    def done_all(
        self, ctx: RunContext, confirmed: Sequence[tuple[XeroOperation, Any]], *, found: bool
    ) -> None:
        """Records a batch of confirmed writes; a kind that writes rows per document does it
        in a few queries for the batch instead of a few per document."""
        for op, answer in confirmed:
            self.done(ctx, op, answer, found=found)

    @abstractmethod
    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        """Records Xero's refusal, with its words."""

    def sending(  # noqa: B027 - most kinds mirror nothing
        self, ctx: RunContext, ops: list[XeroOperation], elements: Sequence[Element]
    ) -> None:
        """Mirrors the intent onto the records the operations serve, and records what is
        planned with it (in the intent's transaction); ``elements`` are in ``ops``' order."""

    def unknown(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        """The outcome is lost: mirrored, and logged."""
        for op in ops:
            ctx.log(
                "waiting",
                f"{op.get_kind_display()}: Xero's answer was lost ({why}); it is looked up in "
                "Xero before anything is sent again.",
                ledger=op.ledger,
                step=op.kind,
            )

    def waiting(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        """Back to waiting (refused before sending, or not found after a lost answer)."""
        for op in ops:
            ctx.log("waiting", f"{op.get_kind_display()}: {why}", ledger=op.ledger, step=op.kind)

    def cancelled(  # noqa: B027 - prerequisites are planned again when needed
        self, ctx: RunContext, ops: list[XeroOperation]
    ) -> None:
        """A prerequisite not found and not needed now: re-planned when it is."""


HANDLERS: dict[str, Handler] = {}

# The order in which lost outcomes are settled: what others depend on first.
SETTLE_ORDER: tuple[str, ...] = (
    Kind.CURRENCY,
    Kind.TRACKING_OPTION,
    Kind.CONTACT,
    Kind.CONTACT_NUMBER,
    Kind.ITEM,
    Kind.INVOICE,
    Kind.INVOICE_UPDATE,
    Kind.VOID,
    Kind.PAYMENT,
    Kind.CREDIT_NOTE,
    Kind.ALLOCATION,
)


def register(handler: Handler) -> Handler:
    HANDLERS[handler.kind] = handler
    return handler


Sender = Callable[[list[dict[str, Any]], str], Sequence[Any | None]]


def batch_key(integration_id: int, kind: str, keys: Sequence[str]) -> str:
    """The Idempotency-Key of one request: the same documents give the same key."""
    return f"cto:{integration_id}:{kind}:{content_hash({'keys': list(keys)})}"[:128]


def _now() -> dt.datetime:
    return timezone.now()


def intent(ctx: RunContext, kind: str, elements: Sequence[Element]) -> list[XeroOperation]:
    """Commits the operations as ``SENDING`` (the one open operation per subject is reused),
    after checking that the claim is still this run's."""
    handler = HANDLERS[kind]
    now = _now()
    with transaction.atomic():
        integration_fence_check(integration_id=ctx.integration_id, fence=ctx.fence, ttl=ctx.ttl)
        subjects = [e.subject for e in elements]
        existing = {
            op.subject: op
            for op in XeroOperation.objects.select_for_update().filter(
                integration_id=ctx.integration_id,
                kind=kind,
                subject__in=subjects,
                state__in=OPEN_OPERATION_STATES,
            )
        }
        ops: list[XeroOperation] = []
        for element in elements:
            op = existing.get(element.subject) or XeroOperation(
                integration_id=ctx.integration_id, kind=kind, subject=element.subject
            )
            op.state = State.SENDING
            op.body = element.body
            op.content_hash = element.content_hash
            op.lookup = element.lookup
            op.ledger = element.ledger
            op.payment = element.payment
            op.credit_note = element.credit_note
            op.idempotency_key = idempotency_key(
                integration_id=ctx.integration_id,
                kind=kind,
                salesforce_id=element.subject,
                content_hash=element.key_part or element.content_hash or "-",
            )
            op.fence = ctx.fence
            op.attempts += 1
            op.sent_at = now
            op.last_error = ""
            ops.append(op)
        XeroOperation.objects.bulk_create([op for op in ops if op.pk is None])
        bulk_set(
            [op for op in ops if op.pk is not None and op.subject in existing],
            [
                "state",
                "body",
                "content_hash",
                "lookup",
                "ledger",
                "payment",
                "credit_note",
                "idempotency_key",
                "fence",
                "attempts",
                "sent_at",
                "last_error",
            ],
        )
        batch = batch_key(ctx.integration_id, kind, [op.idempotency_key for op in ops])
        XeroOperation.objects.filter(pk__in=[op.pk for op in ops]).update(batch_key=batch)
        for op in ops:
            op.batch_key = batch
        handler.sending(ctx, ops, elements)
    return ops


def plan(ctx: RunContext, kind: str, element: Element) -> XeroOperation:
    """An operation recorded as waiting, to be sent by its step (in the caller's transaction:
    the news and the work it requires are recorded together)."""
    op, _ = XeroOperation.objects.update_or_create(
        integration_id=ctx.integration_id,
        kind=kind,
        subject=element.subject,
        state__in=OPEN_OPERATION_STATES,
        defaults={
            "state": State.WAITING,
            "body": element.body,
            "content_hash": element.content_hash,
            "lookup": element.lookup,
            "ledger": element.ledger,
            "payment": element.payment,
            "credit_note": element.credit_note,
        },
    )
    return op


def write(
    ctx: RunContext, kind: str, elements: Sequence[Element], send: Sender
) -> list[tuple[XeroOperation, Any | None]]:
    """Writes one batch through the protocol; returns each operation with Xero's answer
    (``None`` when refused or unknown). Raises :class:`Stop` when the run must stop."""
    if not elements:
        return []
    if ctx.heartbeat.lost.is_set():
        raise Stop("This run lost its claim to another worker and stopped; nothing is lost.")
    handler = HANDLERS[kind]
    try:
        ops = intent(ctx, kind, elements)
    except ClaimLost as exc:
        raise Stop(str(exc)) from exc
    try:
        answers = list(send([op.body for op in ops], ops[0].batch_key))
    except XeroRateLimited as exc:
        _set_state(ctx, ops, State.WAITING, exc.message, Attempt.REFUSED_BEFORE_SEND, exc.status)
        handler.waiting(ctx, ops, f"{exc.message} It is sent again once Xero allows.")
        ctx.flush_logs()
        raise Stop(
            f"{exc.message} The sync resumes where it stopped.", retry_after=exc.retry_after
        ) from exc
    except (XeroValidationError, XeroNotFound) as exc:
        # The whole request refused as sent (summarizeErrors=false answers 200 otherwise).
        messages = getattr(exc, "messages", None) or [exc.message]
        _finish(ctx, handler, [(op, None, tuple(messages)) for op in ops], status=exc.status)
        return [(op, None) for op in ops]
    except XeroUnavailable as exc:
        _set_state(ctx, ops, State.UNKNOWN, exc.message, Attempt.UNKNOWN, exc.status)
        handler.unknown(ctx, ops, exc.message)
        ctx.flush_logs()
        raise Stop(
            f"Xero's answer was lost ({exc.message}); checked next run.", unavailable=True
        ) from exc
    except ReauthorizationRequired:
        _set_state(
            ctx,
            ops,
            State.WAITING,
            "the connection needs re-authorisation",
            Attempt.REFUSED_BEFORE_SEND,
        )
        handler.waiting(ctx, ops, "waits until Xero is reconnected.")
        ctx.flush_logs()
        raise
    except ProviderError as exc:
        # Before the request (a token endpoint down): Xero never saw it.
        _set_state(ctx, ops, State.WAITING, exc.message, Attempt.REFUSED_BEFORE_SEND)
        handler.waiting(ctx, ops, f"{exc.message} It is sent again on the next run.")
        ctx.flush_logs()
        raise Stop(exc.message, unavailable=True, transient=exc) from exc
    outcomes: list[tuple[XeroOperation, Any | None, tuple[str, ...]]] = []
    for index, op in enumerate(ops):
        answer = answers[index] if index < len(answers) else None
        outcomes.append((op, answer, tuple(getattr(answer, "errors", ()) or ())))
    _finish(ctx, handler, outcomes)
    return [(op, answer if not errors else None) for op, answer, errors in outcomes]


def _finish(
    ctx: RunContext,
    handler: Handler,
    outcomes: list[tuple[XeroOperation, Any | None, tuple[str, ...]]],
    *,
    status: int = 200,
) -> None:
    now = _now()
    with transaction.atomic():
        unknown: list[XeroOperation] = []
        confirmed: list[tuple[XeroOperation, Any]] = []
        attempts: list[OperationAttempt] = []
        for op, answer, errors in outcomes:
            if answer is None and not errors:
                # Fewer elements came back than were sent: this one may exist.
                op.state = State.UNKNOWN
                unknown.append(op)
                attempts.append(
                    _attempt(op, Attempt.UNKNOWN, status, {"missing": True}, finished=now)
                )
            elif errors:
                op.state = State.FAILED
                op.last_error = "; ".join(errors)[:4000]
                op.finished_at = now
                handler.failed(ctx, op, errors)
                attempts.append(
                    _attempt(op, Attempt.REFUSED, status, answer_summary(answer, errors), now)
                )
            else:
                op.state = State.DONE
                op.result_id = _result_id(answer)
                op.result_number = _result_number(answer)
                op.finished_at = now
                confirmed.append((op, answer))
                attempts.append(_attempt(op, Attempt.DONE, status, answer_summary(answer), now))
        OperationAttempt.objects.bulk_create(attempts)
        if confirmed:
            handler.done_all(ctx, confirmed, found=False)
        bulk_set(
            [op for op, _, _ in outcomes],
            ["state", "last_error", "result_id", "result_number", "finished_at"],
        )
        if unknown:
            handler.unknown(ctx, unknown, "Xero's answer did not include it")
        ctx.flush_logs()


def _set_state(
    ctx: RunContext,
    ops: list[XeroOperation],
    state: str,
    why: str,
    attempt: str,
    status: int | None = None,
) -> None:
    """The batch's new state and, in the same transaction, each send's outcome."""
    now = _now()
    with transaction.atomic():
        for op in ops:
            op.state = state
            op.last_error = why[:4000]
        bulk_set(ops, ["state", "last_error"])
        OperationAttempt.objects.bulk_create(
            [_attempt(op, attempt, status or None, {"error": why[:ERROR_CAP]}, now) for op in ops]
        )


ERROR_CAP = 500
ERRORS_KEPT = 20
ANSWER_CAP = 4000
"""A summary of Xero's answer is kept to this many characters of JSON."""
# What of a parsed answer people need: Xero's ids, the number, the status, the money. Never
# the lines or a contact's email and phones (the document itself stays in Xero).
ANSWER_FIELDS = (
    *ID_FIELDS,
    "number",
    "code",
    "name",
    "status",
    "currency_code",
    "total",
    "amount",
    "amount_due",
    "amount_paid",
    "amount_credited",
    "remaining_credit",
)


def answer_summary(answer: Any, errors: Sequence[str] = ()) -> dict[str, Any]:
    """What Xero answered for one element, small enough to keep for every attempt."""
    summary: dict[str, Any] = {}
    if dataclasses.is_dataclass(answer) and not isinstance(answer, type):
        for name in ANSWER_FIELDS:
            value = getattr(answer, name, None)
            if value is None or value == "":
                continue
            if isinstance(value, Decimal):
                summary[name] = str(value)
            elif isinstance(value, str | int | bool):
                summary[name] = value if not isinstance(value, str) else value[:255]
        lines = getattr(answer, "lines", None)
        if lines:
            summary["lines"] = len(lines)
    if errors:
        summary["errors"] = [str(e)[:ERROR_CAP] for e in errors[:ERRORS_KEPT]]
        if len(errors) > ERRORS_KEPT:
            summary["more_errors"] = len(errors) - ERRORS_KEPT
    while len(json.dumps(summary)) > ANSWER_CAP and summary.get("errors"):
        summary["errors"] = summary["errors"][:-1]
        summary["more_errors"] = int(summary.get("more_errors", 0)) + 1
    return summary


def _attempt(
    op: XeroOperation,
    outcome: str,
    status: int | None,
    answer: dict[str, Any],
    finished: dt.datetime,
) -> OperationAttempt:
    return OperationAttempt(
        operation=op,
        number=op.attempts,
        started_at=op.sent_at,
        finished_at=finished,
        outcome=outcome,
        http_status=status,
        content_hash=op.content_hash,
        answer=answer,
    )


def _result_id(answer: Any) -> str:
    for name in ID_FIELDS:
        value = getattr(answer, name, "")
        if value:
            return str(value)
    return ""


def _result_number(answer: Any) -> str:
    for name in ("number", "code", "name"):
        value = getattr(answer, name, "")
        if value:
            return str(value)[:255]
    return ""


# --- lost outcomes -------------------------------------------------------------------------------


def settle(ctx: RunContext) -> None:
    """At the start of a run: operations left ``SENDING`` belong to a worker that died mid-call
    (the claim guarantees nobody else sends now); with ``UNKNOWN`` ones old enough, each is
    looked up in Xero — found → done, not found → waiting (prerequisites: cancelled)."""
    left = list(
        XeroOperation.objects.filter(
            integration_id=ctx.integration_id, state=State.SENDING
        ).select_related("ledger", "payment", "credit_note")
    )
    if left:
        for kind in SETTLE_ORDER:
            ops = [op for op in left if op.kind == kind]
            if ops:
                with transaction.atomic():
                    _set_state(
                        ctx,
                        ops,
                        State.UNKNOWN,
                        "the worker stopped during the call",
                        Attempt.UNKNOWN,
                    )
                    HANDLERS[kind].unknown(ctx, ops, "the worker stopped during the call")
        ctx.flush_logs()
    wait = dt.timedelta(seconds=float(settings.SYNC_UNKNOWN_SETTLE_AFTER))
    cutoff = _now() - wait
    for kind in SETTLE_ORDER:
        handler = HANDLERS[kind]
        states = [State.UNKNOWN, State.WAITING] if handler.settles_waiting else [State.UNKNOWN]
        ops = list(
            XeroOperation.objects.filter(
                integration_id=ctx.integration_id, kind=kind, state__in=states
            )
            # Too soon after the send: Xero may still be processing it; looked up later.
            .filter(Q(sent_at__isnull=True) | Q(sent_at__lte=cutoff) | Q(state=State.WAITING))
            .select_related("ledger", "payment", "credit_note")
            .order_by("pk")
        )
        for start in range(0, len(ops), 50):
            settle_ops(ctx, handler, ops[start : start + 50])


def settle_ops(ctx: RunContext, handler: Handler, ops: list[XeroOperation]) -> None:
    found = handler.lookup(ctx, ops)
    now = _now()
    with transaction.atomic():
        back: list[XeroOperation] = []
        cancelled: list[XeroOperation] = []
        # By whether the answer was lost (a waiting prerequisite found is not "found again").
        confirmed: dict[bool, list[tuple[XeroOperation, Any]]] = {True: [], False: []}
        for op in ops:
            answer = found.get(op.pk)
            if answer is not None:
                confirmed[op.state == State.UNKNOWN].append((op, answer))
                op.state = State.DONE
                op.result_id = _result_id(answer)
                op.result_number = _result_number(answer)
                op.finished_at = now
            elif handler.settles_waiting:
                op.state = State.CANCELLED
                op.finished_at = now
                cancelled.append(op)
            else:
                op.state = State.WAITING
                back.append(op)
        for was_unknown, batch in confirmed.items():
            if batch:
                handler.done_all(ctx, batch, found=was_unknown)
        bulk_set(ops, ["state", "result_id", "result_number", "finished_at"])
        if back:
            handler.waiting(
                ctx, back, "not found in Xero after its answer was lost; it is sent again."
            )
        if cancelled:
            handler.cancelled(ctx, cancelled)
        ctx.flush_logs()

"""The write-ahead protocol on its own: intent before the call, outcome after, lost outcomes
settled by lookup, the fencing token checked, and no state without a step that picks it up."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import integrations.sync.run  # noqa: F401 - registers every kind's handler
from integrations.connections.models import Connection
from integrations.connections.xero.client import XeroRateLimited, XeroUnavailable
from integrations.connections.xero.records import Contact, Invoice
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.specs import RuleSet
from integrations.sync import protocol
from integrations.sync.claim import ClaimHeartbeat
from integrations.sync.context import RunContext
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    OperationAttempt,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)
from integrations.sync.protocol import HANDLERS, SETTLE_ORDER, Element, Handler, Stop
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

Kind = XeroOperation.Kind
State = XeroOperation.State


@dataclass(frozen=True)
class Answer:
    code: str
    errors: tuple[str, ...] = ()


class Recorder(Handler):
    """A handler that records what the protocol told it (in place of a real kind's)."""

    kind = Kind.ITEM
    settles_waiting = False
    waiting_picked_up_by = "the test"

    def __init__(self, found: Mapping[str, Answer] | None = None) -> None:
        self.found = dict(found or {})
        self.events: list[tuple[str, str]] = []

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Any]:
        return {op.pk: self.found[op.subject] for op in ops if op.subject in self.found}

    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        self.events.append(("found" if found else "done", op.subject))

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        self.events.append(("failed", op.subject))

    def sending(
        self, ctx: RunContext, ops: list[XeroOperation], elements: Sequence[Element]
    ) -> None:
        self.events += [("sending", op.subject) for op in ops]


@pytest.fixture
def ctx(settings: Any) -> RunContext:
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 0
    account = AccountFactory.create()
    integration = Integration.objects.create(
        account=account,
        name="Main",
        is_enabled=True,
        xero_connection=Connection.objects.create(
            account=account, provider="xero", external_id="t", credentials={}
        ),
    )
    Integration.objects.filter(pk=integration.pk).update(sync_fence=7)
    run = SyncRun.objects.create(integration=integration)
    heartbeat = ClaimHeartbeat(integration_id=integration.pk, worker="w", ttl=dt.timedelta(60))
    return RunContext(
        integration=integration,
        run=run,
        worker="w",
        fence=7,
        ttl=dt.timedelta(seconds=60),
        heartbeat=heartbeat,
        config=SyncConfig(),
        rules=RuleSet(),
        metadata=None,  # type: ignore[arg-type]
        paused=frozenset(),
        xero=None,  # type: ignore[arg-type]
    )


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    handler = Recorder()
    monkeypatch.setitem(HANDLERS, Kind.ITEM, handler)
    return handler


def _elements(*codes: str) -> list[Element]:
    return [Element(subject=c, body={"Code": c}, content_hash=c, lookup={"code": c}) for c in codes]


def _ops(ctx: RunContext) -> dict[str, XeroOperation]:
    return {op.subject: op for op in XeroOperation.objects.filter(integration=ctx.integration)}


def test_the_intent_is_committed_with_the_fence_before_the_call(ctx, recorder):
    seen: list[tuple[str, int, str]] = []

    def send(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        # Another connection sees the intent: it was committed before the call.
        for op in XeroOperation.objects.filter(integration=ctx.integration):
            seen.append((op.state, op.fence, op.batch_key))
        return [Answer(b["Code"]) for b in bodies]

    results = protocol.write(ctx, Kind.ITEM, _elements("A", "B"), send)
    assert [s for s, _, _ in seen] == ["sending", "sending"]
    assert {f for _, f, _ in seen} == {7}
    assert len({k for _, _, k in seen}) == 1  # one Idempotency-Key for the batch
    assert [answer.code for _, answer in results if answer] == ["A", "B"]
    assert {op.state for op in _ops(ctx).values()} == {State.DONE}
    assert recorder.events == [("sending", "A"), ("sending", "B"), ("done", "A"), ("done", "B")]


def test_a_lost_claim_stops_before_anything_is_sent(ctx, recorder):
    Integration.objects.filter(pk=ctx.integration_id).update(sync_fence=F("sync_fence") + 1)
    sent: list[Any] = []

    def send(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        sent.append(bodies)
        return []

    with pytest.raises(Stop, match="lost its claim"):
        protocol.write(ctx, Kind.ITEM, _elements("A"), send)
    assert sent == []
    assert not XeroOperation.objects.exists()


def test_refused_before_sending_waits_with_a_log_entry(ctx, recorder):
    def refuse(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise XeroRateLimited("Xero's minute limit was reached.", retry_after=30, problem="minute")

    with pytest.raises(Stop) as stopped:
        protocol.write(ctx, Kind.ITEM, _elements("A"), refuse)
    assert stopped.value.retry_after == 30
    assert _ops(ctx)["A"].state == State.WAITING
    (entry,) = SyncLogEntry.objects.filter(integration=ctx.integration)
    assert (entry.outcome, entry.step) == ("waiting", "item")
    assert "minute limit" in entry.message


def test_a_lost_answer_is_unknown_then_settled_found_or_sent_again(ctx, recorder):
    def lose(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise XeroUnavailable("Xero did not answer (ReadTimeoutError); will retry.")

    with pytest.raises(Stop) as stopped:
        protocol.write(ctx, Kind.ITEM, _elements("A", "B"), lose)
    assert stopped.value.unavailable
    assert {op.state for op in _ops(ctx).values()} == {State.UNKNOWN}
    assert SyncLogEntry.objects.filter(outcome="waiting").count() == 2
    # The next run: A turns out to exist (found, never re-sent), B does not (waits to be sent).
    recorder.found = {"A": Answer("A")}
    protocol.settle(ctx)
    ops = _ops(ctx)
    assert (ops["A"].state, ops["B"].state) == (State.DONE, State.WAITING)
    assert ("found", "A") in recorder.events


def test_the_settle_waits_while_xero_may_still_be_processing(ctx, recorder, settings):
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 3600
    XeroOperation.objects.create(
        integration=ctx.integration,
        kind=Kind.ITEM,
        subject="A",
        state=State.UNKNOWN,
        sent_at=timezone.now(),
    )
    recorder.found = {"A": Answer("A")}
    protocol.settle(ctx)
    assert _ops(ctx)["A"].state == State.UNKNOWN


def test_a_worker_killed_mid_call_leaves_sending_which_the_next_run_settles(ctx, recorder):
    XeroOperation.objects.create(
        integration=ctx.integration, kind=Kind.ITEM, subject="A", state=State.SENDING
    )
    protocol.settle(ctx)
    # Not found: sent again by its step (never assumed to have failed or succeeded).
    assert _ops(ctx)["A"].state == State.WAITING
    assert SyncLogEntry.objects.filter(message__contains="worker stopped").exists()


def test_short_answers_and_refusals_are_recorded_per_element(ctx, recorder):
    def answer(bodies: list[dict[str, Any]], key: str) -> list[Answer | None]:
        return [Answer("A", errors=("Code is too long",))]  # B missing: a short answer

    protocol.write(ctx, Kind.ITEM, _elements("A", "B"), answer)
    ops = _ops(ctx)
    assert (ops["A"].state, ops["A"].last_error) == (State.FAILED, "Code is too long")
    assert ops["B"].state == State.UNKNOWN
    assert ("failed", "A") in recorder.events


def test_a_second_intent_reuses_the_open_operation(ctx, recorder):
    def refuse(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise XeroRateLimited("limit", retry_after=1, problem="minute")

    with pytest.raises(Stop):
        protocol.write(ctx, Kind.ITEM, _elements("A"), refuse)
    protocol.write(ctx, Kind.ITEM, _elements("A"), lambda bodies, key: [Answer("A")])
    (op,) = XeroOperation.objects.filter(integration=ctx.integration)
    assert (op.state, op.attempts) == (State.DONE, 2)


# --- no dead states -------------------------------------------------------------------------------


def test_every_kind_has_a_handler_and_every_open_state_a_step_that_picks_it_up():
    """SENDING and UNKNOWN are picked up by the settle step (every kind is in its order);
    WAITING by each kind's own step, or by the settle step for prerequisites."""
    for kind in Kind:
        assert kind in HANDLERS, f"no handler for {kind}"
        assert kind in SETTLE_ORDER, f"{kind}: lost outcomes would never be looked up"
        handler = HANDLERS[kind]
        assert handler.waiting_picked_up_by, f"{kind}: nothing sends a waiting operation"
    assert set(OPEN_OPERATION_STATES) == {State.WAITING, State.SENDING, State.UNKNOWN}
    terminal = {State.DONE, State.FAILED, State.CANCELLED}
    assert set(State) == set(OPEN_OPERATION_STATES) | terminal


# --- every attempt recorded with its outcome ---------------------------------------------------


def _attempts(ctx: RunContext) -> list[OperationAttempt]:
    return list(
        OperationAttempt.objects.filter(operation__integration=ctx.integration)
        .select_related("operation")
        .order_by("operation__subject", "number", "id")
    )


def test_each_element_s_attempt_records_its_outcome_and_xero_s_words(ctx, recorder):
    """Done, refused and missing from a short answer: one attempt each, with what Xero said."""

    def send(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        return [Answer("A"), Answer("", errors=("Code 'B' is already in use",))]

    protocol.write(ctx, Kind.ITEM, _elements("A", "B", "C"), send)
    done, refused, unknown = _attempts(ctx)
    assert (done.operation.subject, done.outcome, done.number) == ("A", "done", 1)
    assert done.http_status == 200
    assert done.answer == {"code": "A"}
    assert done.started_at == done.operation.sent_at
    assert done.started_at is not None
    assert done.finished_at >= done.started_at
    assert done.content_hash == "A"
    assert (refused.outcome, refused.answer["errors"]) == (
        "refused",
        ["Code 'B' is already in use"],
    )
    assert (unknown.outcome, unknown.answer) == ("unknown", {"missing": True})


def test_attempts_before_sending_and_with_a_lost_answer_are_recorded(ctx, recorder):
    """A 429 is a send held back before Xero processed it; a timeout an unknown outcome;
    the send after it is attempt 2 of the same operation."""

    def limited(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise XeroRateLimited("Xero's minute limit was reached.", retry_after=30, problem="minute")

    def lost(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise XeroUnavailable("Xero did not answer (ReadTimeoutError); will retry.")

    with pytest.raises(Stop):
        protocol.write(ctx, Kind.ITEM, _elements("A"), limited)
    with pytest.raises(Stop):
        protocol.write(ctx, Kind.ITEM, _elements("A"), lost)
    first, second = _attempts(ctx)
    assert first.operation_id == second.operation_id
    assert (first.number, first.outcome, first.http_status) == (1, "refused_before_send", 429)
    assert "minute limit" in first.answer["error"]
    assert (second.number, second.outcome, second.http_status) == (2, "unknown", None)
    assert "ReadTimeoutError" in second.answer["error"]


class Killed(BaseException):
    """The worker dying mid-call: nothing of the protocol runs after it."""


def test_a_worker_killed_mid_call_is_recorded_as_unknown_by_the_next_run(ctx, recorder):
    def killed(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        raise Killed

    with pytest.raises(Killed):
        protocol.write(ctx, Kind.ITEM, _elements("A"), killed)
    assert _attempts(ctx) == []
    protocol.settle(ctx)
    (attempt,) = _attempts(ctx)
    assert attempt.outcome == "unknown"
    assert "worker stopped" in attempt.answer["error"]


def test_a_batch_records_its_attempts_in_one_insert(ctx, recorder):
    def send(bodies: list[dict[str, Any]], key: str) -> list[Answer]:
        return [Answer(b["Code"]) for b in bodies]

    with CaptureQueriesContext(connection) as queries:
        protocol.write(ctx, Kind.ITEM, _elements(*(f"C{n}" for n in range(50))), send)
    inserts = [
        q for q in queries if q["sql"].startswith('INSERT INTO "integrations_operationattempt"')
    ]
    assert len(inserts) == 1
    assert OperationAttempt.objects.count() == 50


def test_the_answer_summary_is_small_and_never_the_whole_document():
    invoice = Invoice.parse(
        {
            "InvoiceID": "3f1c1a2e-0000-4000-8000-000000000001",
            "InvoiceNumber": "INV-0042",
            "Status": "AUTHORISED",
            "Total": Decimal("120.00"),
            "AmountPaid": Decimal("0"),
            "CurrencyCode": "GBP",
            "LineItems": [{"Description": "x" * 4000, "LineAmount": Decimal("120.00")}] * 30,
        }
    )
    summary = protocol.answer_summary(invoice)
    assert summary["invoice_id"] == "3f1c1a2e-0000-4000-8000-000000000001"
    assert summary["number"] == "INV-0042"
    assert summary["status"] == "AUTHORISED"
    assert summary["total"] == "120.00"
    assert summary["lines"] == 30
    assert "x" * 10 not in str(summary)
    contact = Contact.parse({"ContactID": "c1", "Name": "Globex", "EmailAddress": "ap@globex.io"})
    assert "ap@globex.io" not in str(protocol.answer_summary(contact))
    many = protocol.answer_summary(None, [f"error {n}: " + "y" * 600 for n in range(100)])
    assert len(many["errors"]) <= protocol.ERRORS_KEPT
    assert many["more_errors"] >= 100 - protocol.ERRORS_KEPT
    assert len(json.dumps(many)) <= protocol.ANSWER_CAP

"""Finding log entries: every field and filter, keyset pages, causes grouped, bulk retry, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection

from integrations.core.models import Integration
from integrations.sync import actions
from integrations.sync.export import HEADER, cell, csv_lines
from integrations.sync.models import LedgerEntry, RecordAction, SyncLogEntry, SyncRun
from integrations.sync.search import (
    BadCursor,
    LogQuery,
    Position,
    cursor_decode,
    cursor_encode,
    iter_log_entries,
    log_entries,
    log_page,
    open_causes,
)
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db

Outcome = SyncLogEntry.Outcome
SF_ID_15 = "0065g00000AbCdE"
SF_ID = "0065g00000AbCdEAAV"
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def user():
    return UserFactory.create()


@pytest.fixture
def integration(account) -> Integration:
    return Integration.objects.create(account=account, name="Main")


def _entry(integration: Integration, **kwargs) -> SyncLogEntry:
    values = {
        "integration": integration,
        "outcome": Outcome.CREATED,
        "message": "Invoice created.",
        "created_at": T0,
    }
    values.update(kwargs)
    return SyncLogEntry.objects.create(**values)


def _found(integration: Integration, **query) -> set[int]:
    return set(
        log_entries(integration=integration, query=LogQuery(open_only=False, **query)).values_list(
            "pk", flat=True
        )
    )


def test_text_matches_names_in_part_and_ids_and_numbers_whole(integration):
    globex = _entry(
        integration,
        record_name="Globex renewal 2026",
        customer_name="Globex Corporation",
        salesforce_id=SF_ID,
        document_number="INV-0042",
    )
    initech = _entry(integration, record_name="Initech pilot", customer_name="Initech LLC")
    assert _found(integration, text="NEWAL") == {globex.pk}  # opportunity name, any case
    assert _found(integration, text="initech ll") == {initech.pk}  # customer name
    assert _found(integration, text=SF_ID_15) == {globex.pk}  # 15-character id
    assert _found(integration, text=SF_ID) == {globex.pk}
    assert _found(integration, text=SF_ID_15.lower()) == set()  # another record in Salesforce
    assert _found(integration, text="inv-0042") == {globex.pk}  # number, any case
    assert _found(integration, text="INV-004") == set()  # a number matches whole
    assert _found(integration, text="100%") == set()  # LIKE's wildcards are literal


def test_credit_note_numbers_are_found_too(integration):
    credit = _entry(integration, step="credit_note", document_number="CN-0007")
    assert _found(integration, text="cn-0007") == {credit.pk}


def test_filters_by_outcome_step_and_utc_days(integration):
    failed = _entry(integration, outcome=Outcome.FAILED, step="invoice")
    attention = _entry(integration, outcome=Outcome.ATTENTION, step="payment")
    early = _entry(integration, created_at=dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC))
    late = _entry(integration, created_at=dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC))
    after = _entry(integration, created_at=dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC))
    assert _found(integration, outcomes=("failed", "attention")) == {failed.pk, attention.pk}
    assert _found(integration, step="payment") == {attention.pk}
    march = _found(integration, since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 31))
    assert {early.pk, late.pk} <= march
    assert after.pk not in march
    assert _found(integration, since=dt.date(2026, 4, 1)) == {after.pk}
    assert _found(integration, until=dt.date(2026, 3, 1)) == {early.pk}


def test_open_only_is_unresolved_failures_and_attention(integration):
    failed = _entry(integration, outcome=Outcome.FAILED)
    attention = _entry(integration, outcome=Outcome.ATTENTION)
    _entry(integration, outcome=Outcome.FAILED, dismissed_at=T0)
    _entry(integration, outcome=Outcome.CREATED)
    found = set(
        log_entries(integration=integration, query=LogQuery(open_only=True)).values_list(
            "pk", flat=True
        )
    )
    assert found == {failed.pk, attention.pk}


def test_the_search_never_reaches_another_integration(integration):
    other = Integration.objects.create(account=AccountFactory.create(), name="Theirs")
    _entry(other, record_name="Globex secret deal")
    assert _found(integration, text="Globex") == set()


def _walk(integration: Integration, query: LogQuery, size: int) -> list[list[int]]:
    pages: list[list[int]] = []
    position: Position | None = None
    while True:
        page = log_page(integration=integration, query=query, position=position, size=size)
        pages.append([e.pk for e in page.entries])
        if not page.next_cursor:
            return pages
        position = cursor_decode(page.next_cursor)


def test_keyset_pages_cover_everything_once_in_order(integration):
    # Equal timestamps too: the id breaks the tie.
    ids = [_entry(integration, created_at=T0 + dt.timedelta(minutes=i // 2)).pk for i in range(7)]
    newest_first = sorted(ids, key=lambda pk: (SyncLogEntry.objects.get(pk=pk).created_at, pk))[
        ::-1
    ]
    pages = _walk(integration, LogQuery(open_only=False), size=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [pk for p in pages for pk in p] == newest_first
    oldest = _walk(integration, LogQuery(open_only=False, oldest_first=True), size=3)
    assert [pk for p in oldest for pk in p] == newest_first[::-1]


def test_pages_neither_repeat_nor_skip_when_entries_arrive_between_loads(integration):
    original = [_entry(integration, created_at=T0 + dt.timedelta(minutes=i)).pk for i in range(6)]
    query = LogQuery(open_only=False)
    first = log_page(integration=integration, query=query, size=3)
    assert [e.pk for e in first.entries] == original[::-1][:3]
    # A newer entry (a run going on) and an older one (written late) arrive meanwhile.
    newer = _entry(integration, created_at=T0 + dt.timedelta(hours=1)).pk
    older = _entry(integration, created_at=T0 - dt.timedelta(hours=1)).pk
    second = log_page(
        integration=integration, query=query, position=cursor_decode(first.next_cursor), size=3
    )
    assert [e.pk for e in second.entries] == original[::-1][3:]
    third = log_page(
        integration=integration, query=query, position=cursor_decode(second.next_cursor), size=3
    )
    assert [e.pk for e in third.entries] == [older]
    assert not third.next_cursor
    # Back from the second page: the first page as it was, and now a newer one before it.
    back = log_page(
        integration=integration,
        query=query,
        position=cursor_decode(second.previous_cursor),
        size=3,
    )
    assert [e.pk for e in back.entries] == original[::-1][:3]
    assert back.previous_cursor
    newest = log_page(
        integration=integration, query=query, position=cursor_decode(back.previous_cursor), size=3
    )
    assert [e.pk for e in newest.entries] == [newer]
    assert not newest.previous_cursor


def test_a_tampered_cursor_is_refused():
    token = cursor_encode(Position(T0, 5, forward=True))
    assert cursor_decode(token) == Position(T0, 5, forward=True)
    with pytest.raises(BadCursor):
        cursor_decode(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(BadCursor):
        cursor_decode("not a cursor")


def test_the_export_reads_every_entry_in_batches(integration, django_assert_max_num_queries):
    ids = [_entry(integration, created_at=T0 + dt.timedelta(seconds=i)).pk for i in range(7)]
    with django_assert_max_num_queries(4):  # ceil(7 / 3) batches, the last one short
        seen = [
            e.pk
            for e in iter_log_entries(
                integration=integration, query=LogQuery(open_only=False), batch=3
            )
        ]
    assert seen == ids[::-1]


def _gbp(integration: Integration, name: str, ledger: LedgerEntry | None = None) -> SyncLogEntry:
    return _entry(
        integration,
        ledger=ledger,
        record_name=name,
        salesforce_id=ledger.salesforce_id if ledger else "",
        outcome=Outcome.ATTENTION,
        step="invoice",
        problem_field="currencies",
        message=f"{name!r} is in GBP, which is not enabled in Demo Pty Ltd: add GBP in Xero.",
        created_at=T0 + dt.timedelta(minutes=len(name)),
    )


def test_identical_causes_of_different_records_are_one_group(integration):
    for name in ("Alpha", "Bravo deal", "Charlie Ltd order", "Delta"):
        _gbp(integration, name)
    _entry(integration, outcome=Outcome.FAILED, step="invoice", message="Account code 999 unknown.")
    _entry(integration, outcome=Outcome.FAILED, step="invoice", message="Account code 999 unknown.")
    # Another step with the same words is another cause; a dismissed entry counts no more.
    _entry(integration, outcome=Outcome.FAILED, step="payment", message="Account code 999 unknown.")
    _gbp(integration, "Echo").__class__.objects.filter(record_name="Echo").update(dismissed_at=T0)
    groups = open_causes(integration=integration)
    assert [(g.count, g.step) for g in groups] == [(4, "invoice"), (2, "invoice")]
    gbp = groups[0]
    assert gbp.message == "'…' is in GBP, which is not enabled in Demo Pty Ltd: add GBP in Xero."
    assert gbp.problem_field == "currencies"
    assert [r.name for r in gbp.records] == [
        "Charlie Ltd order",
        "Bravo deal",
        "Delta",
    ]  # newest (id breaks ties)
    assert gbp.more == 1
    members = log_entries(integration=integration, query=LogQuery(cause=gbp.key))
    assert sorted(members.values_list("record_name", flat=True)) == [
        "Alpha",
        "Bravo deal",
        "Charlie Ltd order",
        "Delta",
    ]
    # The per-entry list leaves out what the groups show.
    rest = log_page(
        integration=integration, query=LogQuery(), exclude_causes=[g.key for g in groups]
    )
    assert [(e.step, e.message) for e in rest.entries] == [("payment", "Account code 999 unknown.")]


def _failed_record(integration: Integration, n: int, state: str = LedgerEntry.State.FAILED):
    ledger = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id=f"006{n:015d}",
        opportunity_name=f"Deal {n}",
        state=state,
        content_hash="old",
    )
    return ledger, _gbp(integration, f"Deal {n}", ledger)


def test_retry_all_of_a_group_audits_each_record_and_queues_one_sync(
    integration, user, django_capture_on_commit_callbacks
):
    records = [_failed_record(integration, n) for n in range(3)]
    sending, sending_entry = _failed_record(integration, 9, LedgerEntry.State.SENDING)
    cause = open_causes(integration=integration)[0].key
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = actions.retry_search(
            integration=integration, query=LogQuery(cause=cause), user=user
        )
    assert (result.retried, result.left, result.beyond_limit) == (3, 1, 0)
    assert "1 left as they are" in result.summary()
    assert len(callbacks) == 1  # one sync for all of them
    for ledger, entry in records:
        ledger.refresh_from_db()
        entry.refresh_from_db()
        assert (ledger.state, ledger.content_hash, ledger.generation) == ("pending", "", 1)
        assert entry.dismissed_by == user
    audit = RecordAction.objects.filter(integration=integration)
    assert sorted(audit.values_list("ledger_id", flat=True)) == sorted(r[0].pk for r in records)
    assert {a.action for a in audit} == {RecordAction.Action.RETRY}
    assert all(a.note.startswith("retry all of group") and a.user == user for a in audit)
    sending.refresh_from_db()
    sending_entry.refresh_from_db()
    assert sending.state == LedgerEntry.State.SENDING  # never made pending: could send twice
    assert sending_entry.dismissed_at is None


def test_retry_all_is_bounded(integration, user, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(actions, "BULK_LIMIT", 2)
    for n in range(5):
        _failed_record(integration, n)
    with django_capture_on_commit_callbacks(execute=False):
        result = actions.retry_search(integration=integration, query=LogQuery(), user=user)
    assert (result.retried, result.beyond_limit) == (2, 3)
    assert "3 more not retried" in result.summary()
    assert RecordAction.objects.count() == 2


def test_retry_all_of_a_run_takes_only_its_open_failures(
    integration, user, django_capture_on_commit_callbacks
):
    run = SyncRun.objects.create(integration=integration)
    mine, entry = _failed_record(integration, 1)
    entry.run = run
    entry.save()
    other, _ = _failed_record(integration, 2)  # another run's
    synced = LedgerEntry.objects.create(
        integration=integration, salesforce_id="006000000000000099", state="synced"
    )
    _entry(integration, run=run, ledger=synced, outcome=Outcome.CREATED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = actions.retry_run(integration=integration, run=run, user=user)
    assert result.retried == 1
    assert len(callbacks) == 1
    action = RecordAction.objects.get()
    assert (action.ledger_id, action.note) == (mine.pk, f"retry all of run #{run.pk}")
    other.refresh_from_db()
    synced.refresh_from_db()
    assert synced.state == "synced"
    assert other.state == LedgerEntry.State.FAILED


def test_nothing_to_retry_queues_nothing(integration, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = actions.retry_search(integration=integration, query=LogQuery(), user=user)
    assert result.retried == 0
    assert callbacks == []


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Acme = good", "Acme = good"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_cannot_start_a_formula(value, written):
    assert cell(value) == written


def test_csv_lines_escape_every_column(integration):
    _entry(
        integration,
        record_name="=cmd|' /C calc'!A0",
        customer_name="@evil",
        document_number="+INV",
        message="-1 failed",
        salesforce_id=SF_ID,
    )
    rows = list(csv.reader(io.StringIO("".join(csv_lines(SyncLogEntry.objects.all())))))
    assert tuple(rows[0]) == HEADER
    row = dict(zip(HEADER, rows[1], strict=True))
    assert row["opportunity name"] == "'=cmd|' /C calc'!A0"
    assert row["customer"] == "'@evil"
    assert row["document number"] == "'+INV"
    assert row["message"] == "'-1 failed"
    assert row["Salesforce id"] == SF_ID
    assert row["time (UTC)"] == "2026-03-10T12:00:00+00:00"


@pytest.mark.postgres
def test_postgres_serves_name_search_from_the_trigram_indexes(integration):
    """The trigram indexes' expression is the one ``icontains`` compiles to
    (``UPPER(col::text) LIKE UPPER(...)``), so PostgreSQL serves a rare "contains" match of a
    large integration from them rather than reading all its rows. Sequential and plain index
    scans are ruled out so that the plan does not depend on this small table's layout."""
    SyncLogEntry.objects.bulk_create(
        SyncLogEntry(
            integration=integration,
            record_name=f"Deal {n} of Customer {n % 50}",
            customer_name=f"Customer {n % 50}",
            document_number=f"INV-{n:05d}",
            outcome=Outcome.CREATED,
            message="ok",
        )
        for n in range(20_000)
    )
    names = log_entries(integration=integration, query=LogQuery(open_only=False, text="globex"))
    number = SyncLogEntry.objects.filter(
        integration=integration, document_number__iexact="inv-00042"
    )
    with connection.cursor() as cursor:
        # What autovacuum does in production: new rows leave GIN's pending list for the index.
        for index in ("sync_log_record_name_trgm", "sync_log_customer_name_trgm"):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE integrations_synclogentry")
        cursor.execute("SET LOCAL enable_seqscan = off")
        assert "sync_log_document" in number.explain()
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = names.explain()
    assert "sync_log_record_name_trgm" in plan
    assert "sync_log_customer_name_trgm" in plan

"""Finding log entries: a typed query, the filter it means, keyset pages and groups of causes.

Reads only, every query scoped by the integration (already the account's). Pages are keyset
pages on ``(created_at, id)`` — the order of the indexes in ``SyncLogEntry.Meta`` — never
``OFFSET``: a page costs the same at the millionth entry as at the first, and entries written
between two page loads neither repeat nor push others out of sight. Dates are UTC days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.core import signing
from django.db.models import Count, F, Func, Max, Q, QuerySet, TextField, Value, Window
from django.db.models.functions import MD5, Concat, RowNumber

from integrations.connections.salesforce.ids import to_18
from integrations.core.models import Integration
from integrations.sync.models import OPEN_OUTCOMES, SyncLogEntry

PAGE_SIZE = 50
GROUP_LIMIT = 20
"""Causes shown as groups on the "needs attention" view, the most frequent first."""
GROUP_NAMES = 3
"""Affected records named in a group's row (the rest are "and N more")."""
EXPORT_BATCH = 2000
_CURSOR_SALT = "integrations.sync.search.cursor"
ELIDED = "…"


@dataclass(frozen=True)
class LogQuery:
    """What a person looks for in one integration's log. Empty fields do not filter."""

    text: str = ""
    """An opportunity's or customer's name (contains, any case), a Salesforce id (15 or 18
    characters, exact) or a Xero invoice or credit-note number (exact, any case)."""
    outcomes: tuple[str, ...] = ()
    step: str = ""
    since: dt.date | None = None
    """First UTC day included."""
    until: dt.date | None = None
    """Last UTC day included."""
    open_only: bool = True
    """Only failures and "needs a person" not resolved or dismissed (the default view)."""
    oldest_first: bool = False
    cause: str = ""
    """A group's key (:func:`open_causes`): the entries of one cause."""
    run_id: int | None = None

    @property
    def is_plain(self) -> bool:
        """True for the unfiltered view (what groups of causes are shown on)."""
        return not (
            self.text
            or self.outcomes
            or self.step
            or self.since
            or self.until
            or self.cause
            or self.run_id
        )

    def describe(self) -> str:
        """The filter in words, for an audit note ("retry all of search ...")."""
        parts = []
        if self.text:
            parts.append(f"“{self.text}”")
        if self.outcomes:
            parts.append("outcome " + "/".join(self.outcomes))
        if self.step:
            parts.append(f"step {self.step}")
        if self.since or self.until:
            parts.append(f"{self.since or '…'} to {self.until or '…'} (UTC)")
        if self.run_id:
            parts.append(f"run #{self.run_id}")
        if self.cause:
            parts.append(f"cause {self.cause[:8]}")
        parts.append("open only" if self.open_only else "everything")
        return ", ".join(parts)


@dataclass(frozen=True)
class Position:
    """Where a page starts: after (``forward``) or before the entry ``(created_at, id)``, in
    the order the page is shown in."""

    created_at: dt.datetime
    id: int
    forward: bool


class BadCursor(ValueError):
    """A page link that was altered or does not parse."""


def cursor_encode(position: Position) -> str:
    """An opaque, signed page token: a person cannot forge a position (nor feed the query a
    value it does not expect), only follow the links the page gave."""
    return signing.dumps(
        [position.created_at.isoformat(), position.id, int(position.forward)], salt=_CURSOR_SALT
    )


def cursor_decode(token: str) -> Position:
    try:
        created, pk, forward = signing.loads(token, salt=_CURSOR_SALT)
        at = dt.datetime.fromisoformat(created)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadCursor("This page link is not valid: start again from the first page.") from exc
    if at.tzinfo is None or not isinstance(pk, int):
        raise BadCursor("This page link is not valid: start again from the first page.")
    return Position(created_at=at, id=pk, forward=bool(forward))


def normalised_message() -> Func:
    """The message with the entry's own names and numbers elided: identical causes of
    different records read the same ("'…' is in GBP, which is not enabled in Demo Pty Ltd")."""
    text: Func | F = F("message")
    # Longest first: an opportunity's name often contains its customer's.
    for column in ("record_name", "customer_name", "document_number", "salesforce_id"):
        # REPLACE with an empty search string leaves the text as it is (PostgreSQL, SQLite).
        text = Func(text, F(column), Value(ELIDED), function="REPLACE", output_field=TextField())
    assert isinstance(text, Func)
    return text


def cause_key() -> MD5:
    """A short key of (step, normalised message): what groups and the ``cause`` filter use."""
    return MD5(Concat(F("step"), Value("\n"), normalised_message(), output_field=TextField()))


def log_entries(*, integration: Integration, query: LogQuery) -> QuerySet[SyncLogEntry]:
    """The integration's entries matching ``query``, unordered."""
    entries = SyncLogEntry.objects.filter(integration=integration)
    if query.open_only:
        entries = entries.filter(outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True)
    if query.outcomes:
        entries = entries.filter(outcome__in=query.outcomes)
    if query.step:
        entries = entries.filter(step=query.step)
    if query.since:
        entries = entries.filter(created_at__gte=_utc_midnight(query.since))
    if query.until:
        entries = entries.filter(created_at__lt=_utc_midnight(query.until + dt.timedelta(days=1)))
    if query.run_id:
        entries = entries.filter(run_id=query.run_id)
    if query.text:
        entries = entries.filter(text_match(query.text))
    if query.cause:
        entries = entries.alias(cause=cause_key()).filter(cause=query.cause)
    return entries


def text_match(
    text: str,
    *,
    names: tuple[str, ...] = ("record_name", "customer_name"),
    number: str = "document_number",
) -> Q:
    """Names contain ``text`` in any case (``UPPER(col) LIKE UPPER('%text%')``, what the
    trigram indexes serve), or it is the record's Salesforce id (15 or 18 characters) or its
    Xero document's number (whole, any case). The ledger's columns are named otherwise."""
    match = Q(**{f"{number}__iexact": text})
    for name in names:
        match |= Q(**{f"{name}__icontains": text})
    salesforce_id = to_18(text)
    if salesforce_id is not None:
        match |= Q(salesforce_id=salesforce_id)
    return match


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@dataclass(frozen=True)
class LogPage:
    entries: list[SyncLogEntry]
    next_cursor: str = ""
    """Empty on the last page."""
    previous_cursor: str = ""
    """Empty on the first page."""


def _after(position: Position, *, descending: bool) -> Q:
    """Entries strictly past ``position`` walking in ``descending`` (or ascending) order. The
    redundant bound on ``created_at`` alone lets the index range-scan instead of filtering."""
    if descending:
        return Q(created_at__lte=position.created_at) & (
            Q(created_at__lt=position.created_at) | Q(id__lt=position.id)
        )
    return Q(created_at__gte=position.created_at) & (
        Q(created_at__gt=position.created_at) | Q(id__gt=position.id)
    )


def _ordered(entries: QuerySet[SyncLogEntry], *, descending: bool) -> QuerySet[SyncLogEntry]:
    return entries.order_by(*(("-created_at", "-id") if descending else ("created_at", "id")))


def log_page(
    *,
    integration: Integration,
    query: LogQuery,
    position: Position | None = None,
    size: int = PAGE_SIZE,
    exclude_causes: Sequence[str] = (),
) -> LogPage:
    """One page of matching entries, in the query's order, starting at ``position`` (the
    first page without one). ``exclude_causes`` leaves out entries shown as groups."""
    entries = log_entries(integration=integration, query=query).select_related(
        "run", "dismissed_by"
    )
    if exclude_causes:
        entries = entries.alias(cause=cause_key()).exclude(cause__in=list(exclude_causes))
    shown_descending = not query.oldest_first
    backward = position is not None and not position.forward
    # A previous page is read walking away from the cursor too, then put back in order.
    walk_descending = shown_descending != backward
    if position is not None:
        entries = entries.filter(_after(position, descending=walk_descending))
    rows = list(_ordered(entries, descending=walk_descending)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    if not rows:
        return LogPage(entries=[])
    first, last = rows[0], rows[-1]
    has_next = more if not backward else True
    has_previous = more if backward else position is not None
    return LogPage(
        entries=rows,
        next_cursor=cursor_encode(Position(last.created_at, last.pk, forward=True))
        if has_next
        else "",
        previous_cursor=cursor_encode(Position(first.created_at, first.pk, forward=False))
        if has_previous
        else "",
    )


def iter_log_entries(
    *, integration: Integration, query: LogQuery, batch: int = EXPORT_BATCH
) -> Iterator[SyncLogEntry]:
    """Every matching entry in the query's order, read a keyset batch at a time (an export
    of a million rows holds ``batch`` of them in memory, never all)."""
    descending = not query.oldest_first
    entries = log_entries(integration=integration, query=query)
    position: Position | None = None
    while True:
        page = (
            entries if position is None else entries.filter(_after(position, descending=descending))
        )
        rows = list(_ordered(page, descending=descending)[:batch])
        yield from rows
        if len(rows) < batch:
            return
        position = Position(rows[-1].created_at, rows[-1].pk, forward=True)


@dataclass(frozen=True)
class AffectedRecord:
    name: str
    ledger_id: int | None
    salesforce_id: str


@dataclass(frozen=True)
class CauseGroup:
    """Open entries of one integration with the same step and normalised message."""

    key: str
    step: str
    message: str
    """The normalised message: names and numbers of single records elided."""
    count: int
    problem_field: str
    latest: dt.datetime
    records: list[AffectedRecord] = field(default_factory=list)
    """The first few, newest first."""

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.records))


def open_causes(
    *, integration: Integration, minimum: int = 2, limit: int = GROUP_LIMIT
) -> list[CauseGroup]:
    """The integration's open failures grouped by cause (at least ``minimum`` entries each),
    the most frequent first; two queries whatever the number of groups."""
    open_entries = SyncLogEntry.objects.filter(
        integration=integration, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
    )
    rows = list(
        open_entries.annotate(key=cause_key(), text=normalised_message())
        .values("key", "step", "text")
        .annotate(count=Count("id"), latest=Max("created_at"), field=Max("problem_field"))
        .filter(count__gte=minimum)
        .order_by("-count", "-latest")[:limit]
    )
    if not rows:
        return []
    keys = [str(row["key"]) for row in rows]
    named: dict[str, list[AffectedRecord]] = {key: [] for key in keys}
    firsts = (
        open_entries.annotate(
            key=cause_key(),
            rank=Window(
                RowNumber(),
                partition_by=[cause_key()],
                order_by=[F("created_at").desc(), F("id").desc()],
            ),
        )
        .filter(key__in=keys, rank__lte=GROUP_NAMES)
        .values_list("key", "rank", "record_name", "ledger_id", "salesforce_id")
    )
    for key, _rank, name, ledger_id, salesforce_id in sorted(firsts, key=lambda r: r[1]):
        named[key].append(
            AffectedRecord(name=name, ledger_id=ledger_id, salesforce_id=salesforce_id)
        )
    return [
        CauseGroup(
            key=str(row["key"]),
            step=str(row["step"]),
            message=str(row["text"]),
            count=int(row["count"]),
            problem_field=str(row["field"] or ""),
            latest=row["latest"],
            records=named[str(row["key"])],
        )
        for row in rows
    ]

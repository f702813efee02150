"""The log as CSV: one row per entry, every cell safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from integrations.sync.models import SyncLogEntry

HEADER = (
    "time (UTC)",
    "run",
    "outcome",
    "step",
    "opportunity name",
    "Salesforce id",
    "customer",
    "document number",
    "message",
    "dismissed (UTC)",
)
# What a spreadsheet reads as the start of a formula (or, for tab and CR, as a way to slip one
# past a check of the first character): names and messages come from Salesforce and Xero.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """``value`` as text a spreadsheet shows as text (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def entry_row(entry: SyncLogEntry) -> list[str]:
    return [
        cell(value)
        for value in (
            entry.created_at.isoformat(timespec="seconds"),
            entry.run_id or "",
            entry.get_outcome_display(),
            entry.step,
            entry.record_name,
            entry.salesforce_id,
            entry.customer_name,
            entry.document_number,
            entry.message,
            entry.dismissed_at.isoformat(timespec="seconds") if entry.dismissed_at else "",
        )
    ]


class _Line:
    """A file-like object whose ``write`` returns the line: csv.writer then yields text."""

    def write(self, value: str) -> str:
        return value


def csv_lines(entries: Iterable[SyncLogEntry]) -> Iterator[str]:
    """The CSV text, a line at a time (for a streamed response)."""
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    for entry in entries:
        yield writer.writerow(entry_row(entry))

"""The sync log's search form: GET parameters → a typed :class:`LogQuery` (and a page)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.core.validators import RegexValidator

from integrations.sync.models import SyncLogEntry, XeroOperation
from integrations.sync.search import BadCursor, LogQuery, Position, cursor_decode

SHOW_CHOICES = (("open", "Needs attention"), ("all", "Everything"))
SORT_CHOICES = (("newest", "Newest first"), ("oldest", "Oldest first"))
# The kinds of work entries are written for (``SyncLogEntry.step``).
STEP_CHOICES = (
    ("", "Any step"),
    ("invoice", "Invoice"),
    ("payment", "Payment"),
    ("credit_note", "Credit note"),
    *(
        (kind, label)
        for kind, label in XeroOperation.Kind.choices
        if kind not in ("invoice", "payment", "credit_note")
    ),
    ("writeback", "Write-back to Salesforce"),
    ("push", "Change notification"),
)


class LogSearchForm(forms.Form):
    q = forms.CharField(
        label="Find",
        required=False,
        max_length=255,
        help_text="Opportunity or customer name (any part), Salesforce id, Xero invoice or "
        "credit note number (whole).",
    )
    show = forms.ChoiceField(label="Show", choices=SHOW_CHOICES, required=False)
    outcome = forms.MultipleChoiceField(
        label="Outcome",
        choices=SyncLogEntry.Outcome.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    step = forms.ChoiceField(label="Step", choices=STEP_CHOICES, required=False)
    since = forms.DateField(
        label="From (UTC)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the first day as a date, e.g. 2026-01-31."},
    )
    until = forms.DateField(
        label="To (UTC)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the last day as a date, e.g. 2026-01-31."},
    )
    sort = forms.ChoiceField(label="Order", choices=SORT_CHOICES, required=False)
    cause = forms.CharField(
        required=False,
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[0-9a-f]{32}$", "This group link is not valid.")],
    )
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    cursor = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)

    # What a page link or an action carries over; the cursor is the page's own.
    FILTER_FIELDS: ClassVar = (
        "q",
        "show",
        "outcome",
        "step",
        "since",
        "until",
        "sort",
        "cause",
        "run",
    )

    def clean_cursor(self) -> Position | None:
        token = self.cleaned_data.get("cursor") or ""
        if not token:
            return None
        try:
            return cursor_decode(token)
        except BadCursor as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since: dt.date | None = data.get("since")
        until: dt.date | None = data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The first day is after the last day: swap them.")
        return data

    def query(self) -> LogQuery:
        """The search asked for (call after ``is_valid()``; the default view when invalid)."""
        if not self.is_valid():
            return LogQuery()
        data = self.cleaned_data
        return LogQuery(
            text=(data.get("q") or "").strip(),
            outcomes=tuple(data.get("outcome") or ()),
            step=data.get("step") or "",
            since=data.get("since"),
            until=data.get("until"),
            open_only=(data.get("show") or "open") == "open",
            oldest_first=data.get("sort") == "oldest",
            cause=data.get("cause") or "",
            run_id=data.get("run"),
        )

    def position(self) -> Position | None:
        if not self.is_valid():
            return None
        position: Position | None = self.cleaned_data.get("cursor")
        return position

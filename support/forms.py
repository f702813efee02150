from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from accounts.forms import PlainLabelsMixin
from accounts.models import SupportAccessGrant
from integrations.sync.models import SyncLogEntry

GRANT_NONE = ""


def record_label(entry: SyncLogEntry) -> str:
    name = entry.record_name or (entry.ledger.opportunity_name if entry.ledger else "")
    return f"{name or entry.salesforce_id or 'A record'} — {entry.message[:140]}"


class SupportRequestForm(PlainLabelsMixin, forms.Form):
    subject = forms.CharField(label="Subject", max_length=200)
    message = forms.CharField(
        label="What happened, and what did you expect?",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    records = forms.TypedMultipleChoiceField(
        label="Records to send with it",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Their names, ids, states and last errors are copied into the request.",
    )
    all_records = forms.BooleanField(
        label="Send all the records that need attention", required=False
    )
    grant_hours = forms.TypedChoiceField(
        label="Let CarryTheOne staff view this account (read-only)",
        coerce=int,
        empty_value=None,
        required=False,
        choices=[
            (GRANT_NONE, "No"),
            *((d.value, f"Yes, for {d.label}") for d in SupportAccessGrant.Duration),
        ],
        help_text="They see what a Support member sees and can change nothing. Each visit is "
        "listed in the account's audit log; owners and admins can revoke the access there.",
    )

    def __init__(
        self, *args: Any, entries: Sequence[SyncLogEntry], can_grant: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.entries = {entry.pk: entry for entry in entries}
        records = self.fields["records"]
        assert isinstance(records, forms.TypedMultipleChoiceField)
        records.choices = [(entry.pk, record_label(entry)) for entry in entries]
        if not entries:
            del self.fields["records"]
            del self.fields["all_records"]
        if not can_grant:
            del self.fields["grant_hours"]

    def chosen_entries(self) -> list[SyncLogEntry]:
        if self.cleaned_data.get("all_records"):
            return list(self.entries.values())
        return [self.entries[pk] for pk in self.cleaned_data.get("records") or []]


class SupportReplyForm(PlainLabelsMixin, forms.Form):
    body = forms.CharField(
        label="Your reply", max_length=10_000, widget=forms.Textarea(attrs={"rows": 4})
    )

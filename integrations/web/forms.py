from __future__ import annotations

from django import forms

from accounts.forms import PlainLabelsMixin


class IntegrationCreateForm(PlainLabelsMixin, forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=120,
        initial="Salesforce → Xero",
        help_text="For your team: e.g. the Xero organisation or region it serves.",
    )


class BackfillForm(PlainLabelsMixin, forms.Form):
    since = forms.DateField(
        label="Import won opportunities closed since",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=(
            "Syncing normally covers only opportunities won from now on (or from the start date "
            "in the configuration). A back-fill imports older ones once; invoices already in "
            "Xero are recognised and not created again."
        ),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD."},
    )

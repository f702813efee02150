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

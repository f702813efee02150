"""The hosted pages' card form: Stripe's test card numbers, an expiry and a CVC."""

from __future__ import annotations

import re
from typing import Any

from django import forms

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


class CardForm(forms.Form):
    number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "cc-number",
                "placeholder": "4242 4242 4242 4242",
            }
        ),
    )
    expiry = forms.CharField(
        label="Expiry (MM / YY)",
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "12 / 34"}),
    )
    cvc = forms.CharField(
        label="CVC",
        max_length=4,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "cc-csc", "placeholder": "123"}
        ),
    )
    name = forms.CharField(label="Name on card", max_length=200, required=False)

    def clean_number(self) -> str:
        digits = re.sub(r"[\s-]", "", self.cleaned_data["number"])
        if not digits.isdigit() or not 13 <= len(digits) <= 19:
            raise forms.ValidationError("Your card number is incomplete.")
        return digits

    def clean_expiry(self) -> tuple[int, int]:
        match = _EXPIRY.match(self.cleaned_data["expiry"])
        if not match:
            raise forms.ValidationError("Your card's expiration date is incomplete.")
        month, year = int(match.group(1)), int(match.group(2))
        return month, year + 2000 if year < 100 else year

    def clean_cvc(self) -> str:
        cvc: str = self.cleaned_data["cvc"].strip()
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            raise forms.ValidationError("Your card's security code is incomplete.")
        return cvc

    def card(self) -> dict[str, Any]:
        month, year = self.cleaned_data["expiry"]
        return {
            "number": self.cleaned_data["number"],
            "exp_month": month,
            "exp_year": year,
            "name": self.cleaned_data.get("name") or "",
        }


class CheckoutForm(CardForm):
    email = forms.EmailField(label="Email", required=False)


class AdvanceForm(forms.Form):
    days = forms.FloatField(label="Days", min_value=0.01, max_value=400, initial=30)

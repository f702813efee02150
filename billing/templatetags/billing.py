"""Money in the billing pages: ``{{ amount|money:"GBP" }}`` gives £29.99."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


@register.filter
def money(amount: Decimal, currency: str = "GBP") -> str:
    symbol = _SYMBOLS.get(currency.upper())
    text = f"{Decimal(amount):,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"

"""Template filters of the simulated Stripe's pages."""

from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


@register.filter
def unix(value: int | str | None) -> dt.datetime | None:
    """A Unix timestamp (Stripe's dates) as an aware datetime."""
    if value is None or value == "":
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


@register.filter
def pence(value: int | str | None, currency: str = "gbp") -> str:
    from sandbox.stripe.billing import _money

    return _money(int(value or 0), currency or "gbp")

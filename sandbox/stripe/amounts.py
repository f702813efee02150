"""What a price costs for a quantity: per unit, or tiered (graduated or volume). Pure, in pence.

Stripe's rules: graduated tiers price each unit at its own tier's rate (plus each reached
tier's flat amount); volume tiers price every unit at the rate of the tier the total falls in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def _tier_cap(tier: dict[str, Any]) -> int | None:
    cap = tier.get("up_to")
    return None if cap is None or cap == "inf" else int(cap)


def _unit(tier_or_price: dict[str, Any]) -> Decimal:
    decimal_value = tier_or_price.get("unit_amount_decimal")
    if decimal_value not in (None, ""):
        return Decimal(str(decimal_value))
    return Decimal(int(tier_or_price.get("unit_amount") or 0))


def amount_for(price: dict[str, Any], quantity: int) -> int:
    """The amount in the currency's smallest unit for ``quantity`` of ``price``."""
    if price.get("billing_scheme") != "tiered":
        total = _unit(price) * quantity
    else:
        tiers = price.get("tiers") or []
        total = Decimal(0)
        if price.get("tiers_mode") == "volume":
            for tier in tiers:
                cap = _tier_cap(tier)
                if cap is None or quantity <= cap:
                    flat = int(tier.get("flat_amount") or 0) if quantity else 0
                    total = _unit(tier) * quantity + flat
                    break
        else:
            floor = 0
            for tier in tiers:
                if quantity <= floor:
                    break
                cap = _tier_cap(tier)
                units = quantity - floor if cap is None else min(quantity, cap) - floor
                total += _unit(tier) * units + int(tier.get("flat_amount") or 0)
                if cap is None:
                    break
                floor = cap
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorate(amount: int, *, remaining: int, period: int) -> int:
    """``amount`` for ``remaining`` seconds of a ``period`` of seconds, rounded as Stripe does."""
    if period <= 0:
        return 0
    share = Decimal(amount) * Decimal(remaining) / Decimal(period)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))

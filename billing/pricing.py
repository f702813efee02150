"""What a month costs: pure arithmetic on a plan's prices (no database, no I/O).

The prices themselves are data (``billing.models.Plan``, edited in the operator admin); this
module only applies them: each switched-on integration is priced by the tier its number falls
in (the 1st, the 2nd to 3rd...), at least one integration is billed, and the highest volume band
the account's invoices of the last 30 days exceed adds its monthly premium.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class TierPrice:
    first: int
    last: int | None
    """None: this price applies to every integration from ``first`` on."""
    unit_amount: Decimal


@dataclass(frozen=True)
class BandPrice:
    above: int
    """The premium applies when more invoices than this were created in 30 days."""
    monthly_amount: Decimal


@dataclass(frozen=True)
class PlanPrices:
    name: str
    currency: str
    tiers: tuple[TierPrice, ...]
    bands: tuple[BandPrice, ...] = ()


@dataclass(frozen=True)
class Line:
    label: str
    quantity: int
    unit: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Breakdown:
    currency: str
    integrations: int
    """Integrations billed: the switched-on ones, at least one."""
    invoices_30d: int
    lines: tuple[Line, ...]
    total: Decimal


class PricingError(ValueError):
    """The plan's tiers do not price this many integrations (a gap in the admin's data)."""


def _tier_label(tier: TierPrice) -> str:
    if tier.last == tier.first:
        return f"Integration {tier.first}"
    if tier.last is None:
        return f"Integrations {tier.first} and up"
    return f"Integrations {tier.first}\N{EN DASH}{tier.last}"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def band_reached(plan: PlanPrices, *, invoices_30d: int) -> BandPrice | None:
    """The one volume band that applies: the highest whose threshold was exceeded."""
    reached = [band for band in plan.bands if invoices_30d > band.above]
    return max(reached, key=lambda b: b.above) if reached else None


def minor_units(amount: Decimal) -> int:
    """Pence (or cents): what Stripe's amounts are in."""
    return int(_money(amount) * 100)


def tiers_version(plan: PlanPrices) -> str:
    """A short digest of the currency and tiers: a Stripe price is made per version, so an
    admin's edit of the tiers makes a new price and never changes one already billed."""
    text = (
        plan.currency.upper()
        + ";"
        + ";".join(
            f"{t.first}-{t.last or ''}={_money(t.unit_amount)}"
            for t in sorted(plan.tiers, key=lambda t: t.first)
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def breakdown(plan: PlanPrices, *, integrations: int, invoices_30d: int) -> Breakdown:
    """The month's price lines and total for ``integrations`` switched on and ``invoices_30d``
    invoices created in the last 30 days."""
    billed = max(1, integrations)
    lines: list[Line] = []
    priced = 0
    for tier in sorted(plan.tiers, key=lambda t: t.first):
        if tier.first > billed:
            break
        if tier.first != priced + 1:
            raise PricingError(f"{plan.name}: no price for integration {priced + 1}")
        last = billed if tier.last is None else min(tier.last, billed)
        quantity = last - tier.first + 1
        lines.append(
            Line(
                label=_tier_label(tier),
                quantity=quantity,
                unit=_money(tier.unit_amount),
                amount=_money(tier.unit_amount * quantity),
            )
        )
        priced = last
    if priced < billed:
        raise PricingError(f"{plan.name}: no price for integration {priced + 1}")
    band = band_reached(plan, invoices_30d=invoices_30d)
    if band is not None:
        lines.append(
            Line(
                label=f"Volume: over {band.above:,} invoices in 30 days",
                quantity=1,
                unit=_money(band.monthly_amount),
                amount=_money(band.monthly_amount),
            )
        )
    total = sum((line.amount for line in lines), Decimal("0"))
    return Breakdown(
        currency=plan.currency,
        integrations=billed,
        invoices_30d=invoices_30d,
        lines=tuple(lines),
        total=_money(total),
    )

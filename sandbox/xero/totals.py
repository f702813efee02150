"""Document totals as Xero computes them: per line, rounded to 2 dp, then summed.

Pure functions on ``Decimal``. Xero does not document its rounding mode; half-up is the one its
documents show, and it is stated explicitly in every ``quantize``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_unit(value: Decimal, unitdp: int) -> Decimal:
    """Unit amounts keep 4 decimals with ``unitdp=4``, else 2."""
    return value.quantize(Decimal(1).scaleb(-(4 if unitdp == 4 else 2)), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal
    tax_rate: Decimal
    """Percent, e.g. 20 for 20 %."""


@dataclass(frozen=True)
class LineResult:
    line_amount: Decimal
    tax_amount: Decimal
    discount_amount: Decimal


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineResult, ...]
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    total_discount: Decimal


def compute(lines: Sequence[LineInput], line_amount_types: str) -> Totals:
    """Totals for ``Exclusive``, ``Inclusive`` or ``NoTax`` line amounts."""
    results: list[LineResult] = []
    for line in lines:
        gross = line.quantity * line.unit_amount
        line_amount = round2(gross * (1 - line.discount_rate / HUNDRED))
        discount = round2(gross) - line_amount
        if line_amount_types == "NoTax":
            tax = Decimal("0.00")
        elif line_amount_types == "Inclusive":
            tax = round2(line_amount * line.tax_rate / (HUNDRED + line.tax_rate))
        else:
            tax = round2(line_amount * line.tax_rate / HUNDRED)
        results.append(LineResult(line_amount, tax, discount))
    total_tax = sum((r.tax_amount for r in results), Decimal("0.00"))
    amounts = sum((r.line_amount for r in results), Decimal("0.00"))
    if line_amount_types == "Inclusive":
        sub_total, total = amounts - total_tax, amounts
    else:
        sub_total, total = amounts, amounts + total_tax
    return Totals(
        lines=tuple(results),
        sub_total=sub_total,
        total_tax=total_tax,
        total=total,
        total_discount=sum((r.discount_amount for r in results), Decimal("0.00")),
    )

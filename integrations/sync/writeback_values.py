"""What the write-back puts on an opportunity, from the invoice as Xero holds it: pure, no I/O.

Values are compared in their stored form (:func:`stored`: text, money as a two-decimal string,
a date as ISO), so "unchanged" means exactly "the same as what we last wrote".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from integrations.connections.xero.records import Invoice

Value = str | Decimal | dt.date | None
"""A value as the Salesforce client sends it (None clears the field)."""
CENT: Final = Decimal("0.01")


def invoice_url(template: str, invoice_id: str) -> str:
    return template.replace("{invoice_id}", invoice_id)


def values_for(
    invoice: Invoice, fields: Mapping[str, str], *, url_template: str
) -> dict[str, Value]:
    """Opportunity field → value, for each chosen source (``fields``: source → field)."""
    by_source: dict[str, Value] = {
        "xero_invoice_number": invoice.number or None,
        "xero_invoice_status": invoice.status or None,
        "xero_amount_due": invoice.amount_due.quantize(CENT),
        "xero_amount_paid": invoice.amount_paid.quantize(CENT),
        "xero_credited_amount": invoice.amount_credited.quantize(CENT),
        "xero_fully_paid_date": invoice.fully_paid_on,
        "xero_invoice_url": invoice_url(url_template, invoice.invoice_id),
    }
    return {field: by_source[source] for source, field in fields.items() if source in by_source}


def stored(value: Value) -> str | None:
    """The form a value is remembered (and compared) in."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value.quantize(CENT))
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def changed(values: Mapping[str, Value], last: Mapping[str, object]) -> dict[str, Value]:
    """The values that differ from what was last written (a field never written counts)."""
    return {
        field: value
        for field, value in values.items()
        if field not in last or last[field] != stored(value)
    }

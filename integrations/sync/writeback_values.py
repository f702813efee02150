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


# Xero's invoice page without the organisation: opens in whichever organisation the person
# last used in Xero's web app.
PLAIN_INVOICE_URL: Final = "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={invoice_id}"


def invoice_url(template: str, invoice_id: str, short_code: str = "") -> str:
    """The invoice's page: ``{invoice_id}`` and ``{short_code}`` (the organisation's ShortCode,
    so the page opens in the right organisation) replaced; a template that needs a short code
    not known yet falls back to the page without one."""
    if "{short_code}" in template and not short_code:
        template = PLAIN_INVOICE_URL
    return template.replace("{short_code}", short_code).replace("{invoice_id}", invoice_id)


def xero_url(template: str, *, short_code: str, **ids: str) -> str:
    """A page of Xero's web app from a template naming ``{short_code}`` and the ids; "" when
    there is no template, or it needs a short code not known yet."""
    if not template or ("{short_code}" in template and not short_code):
        return ""
    url = template.replace("{short_code}", short_code)
    for name, value in ids.items():
        url = url.replace(f"{{{name}}}", value)
    return url


def values_for(
    invoice: Invoice, fields: Mapping[str, str], *, url_template: str, short_code: str = ""
) -> dict[str, Value]:
    """Opportunity field → value, for each chosen source (``fields``: source → field)."""
    by_source: dict[str, Value] = {
        "xero_invoice_number": invoice.number or None,
        "xero_invoice_status": invoice.status or None,
        "xero_amount_due": invoice.amount_due.quantize(CENT),
        "xero_amount_paid": invoice.amount_paid.quantize(CENT),
        "xero_credited_amount": invoice.amount_credited.quantize(CENT),
        "xero_fully_paid_date": invoice.fully_paid_on,
        "xero_invoice_url": invoice_url(url_template, invoice.invoice_id, short_code),
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

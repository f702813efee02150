"""What Xero answers, as typed frozen records parsed from its JSON (the SDK's models stop here).

Parsed from the raw response body (``json.loads`` with ``Decimal`` for numbers, so an amount is
never a float), which also spares deserialising every answer into the SDK's objects. Each
written element carries its own ``errors``: with ``summarizeErrors=false`` Xero answers 200 and
marks refused elements (``StatusAttributeString`` ERROR, ``ValidationErrors``), each answered
as its full model with the zero GUID where no id was given out (or the id of the document it
named, unchanged): the id alone never means success, the errors decide.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

ZERO_ID = "00000000-0000-0000-0000-000000000000"
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")

R = TypeVar("R")


def ms_date(day: dt.date) -> str:
    """A day as Xero's ``/Date(ms+0000)/``, the form the SDK itself sends."""
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return f"/Date({int(midnight.timestamp() * 1000)}+0000)/"


def text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value)


def money(raw: Mapping[str, Any], key: str) -> Decimal:
    value = raw.get(key)
    if value is None or value == "":
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def xero_id(raw: Mapping[str, Any], key: str) -> str:
    """A document id; "" for none and for the zero GUID of a refused element."""
    value = text(raw, key)
    return "" if value in ("", ZERO_ID) else value


def date(raw: Mapping[str, Any], key: str) -> dt.date | None:
    value = raw.get(key)
    if not value:
        return None
    found = _MS_DATE.fullmatch(str(value))
    if found:
        return dt.datetime.fromtimestamp(int(found.group(1)) / 1000, tz=dt.UTC).date()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def errors(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The element's validation errors as Xero words them (empty when it was accepted)."""
    found = tuple(
        str(e.get("Message") or "") for e in raw.get("ValidationErrors") or [] if e.get("Message")
    )
    if not found and raw.get("StatusAttributeString") == "ERROR":
        return ("Xero refused it without saying why.",)
    return found


def parse_list(
    body: Mapping[str, Any], key: str, parse: Callable[[Mapping[str, Any]], R]
) -> list[R]:
    return [parse(element) for element in body.get(key) or [] if isinstance(element, Mapping)]


@dataclass(frozen=True)
class Line:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    line_amount: Decimal
    account_code: str
    tax_type: str
    item_code: str
    discount_rate: Decimal
    tracking: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Line:
        return cls(
            description=text(raw, "Description"),
            quantity=money(raw, "Quantity"),
            unit_amount=money(raw, "UnitAmount"),
            line_amount=money(raw, "LineAmount"),
            account_code=text(raw, "AccountCode"),
            tax_type=text(raw, "TaxType"),
            item_code=text(raw, "ItemCode"),
            discount_rate=money(raw, "DiscountRate"),
            tracking=tuple((text(t, "Name"), text(t, "Option")) for t in raw.get("Tracking") or []),
        )


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    number: str
    reference: str
    type: str
    status: str
    contact_id: str
    contact_name: str
    currency_code: str
    currency_rate: Decimal
    line_amount_types: str
    total: Decimal
    amount_due: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    lines: tuple[Line, ...]
    payment_ids: tuple[str, ...]
    errors: tuple[str, ...]
    fully_paid_on: dt.date | None = None
    """``FullyPaidOnDate``: the day the last payment made it paid (None until then)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Invoice:
        contact = raw.get("Contact") or {}
        return cls(
            invoice_id=xero_id(raw, "InvoiceID"),
            number=text(raw, "InvoiceNumber"),
            reference=text(raw, "Reference"),
            type=text(raw, "Type"),
            status=text(raw, "Status"),
            contact_id=xero_id(contact, "ContactID"),
            contact_name=text(contact, "Name"),
            currency_code=text(raw, "CurrencyCode"),
            currency_rate=money(raw, "CurrencyRate"),
            line_amount_types=text(raw, "LineAmountTypes"),
            total=money(raw, "Total"),
            amount_due=money(raw, "AmountDue"),
            amount_paid=money(raw, "AmountPaid"),
            amount_credited=money(raw, "AmountCredited"),
            lines=tuple(Line.parse(line) for line in raw.get("LineItems") or []),
            payment_ids=tuple(xero_id(p, "PaymentID") for p in raw.get("Payments") or []),
            errors=errors(raw),
            fully_paid_on=date(raw, "FullyPaidOnDate"),
        )

    @property
    def ok(self) -> bool:
        return bool(self.invoice_id) and not self.errors


@dataclass(frozen=True)
class Contact:
    contact_id: str
    name: str
    number: str
    email: str
    status: str
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Contact:
        return cls(
            contact_id=xero_id(raw, "ContactID"),
            name=text(raw, "Name"),
            number=text(raw, "ContactNumber"),
            email=text(raw, "EmailAddress"),
            status=text(raw, "ContactStatus"),
            errors=errors(raw),
        )

    @property
    def ok(self) -> bool:
        return bool(self.contact_id) and not self.errors


@dataclass(frozen=True)
class Item:
    item_id: str
    code: str
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Item:
        return cls(xero_id(raw, "ItemID"), text(raw, "Code"), errors(raw))

    @property
    def ok(self) -> bool:
        return bool(self.code) and not self.errors


@dataclass(frozen=True)
class Payment:
    payment_id: str
    invoice_id: str
    amount: Decimal
    reference: str
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Payment:
        return cls(
            payment_id=xero_id(raw, "PaymentID"),
            invoice_id=xero_id(raw.get("Invoice") or {}, "InvoiceID"),
            amount=money(raw, "Amount"),
            reference=text(raw, "Reference"),
            errors=errors(raw),
        )

    @property
    def ok(self) -> bool:
        return bool(self.payment_id) and not self.errors


@dataclass(frozen=True)
class Allocation:
    invoice_id: str
    amount: Decimal
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Allocation:
        return cls(
            invoice_id=xero_id(raw.get("Invoice") or {}, "InvoiceID"),
            amount=money(raw, "Amount"),
            errors=errors(raw),
        )

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: str
    number: str
    reference: str
    status: str
    contact_id: str
    total: Decimal
    remaining_credit: Decimal
    allocations: tuple[Allocation, ...]
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CreditNote:
        return cls(
            credit_note_id=xero_id(raw, "CreditNoteID"),
            number=text(raw, "CreditNoteNumber"),
            reference=text(raw, "Reference"),
            status=text(raw, "Status"),
            contact_id=xero_id(raw.get("Contact") or {}, "ContactID"),
            total=money(raw, "Total"),
            remaining_credit=money(raw, "RemainingCredit"),
            allocations=tuple(Allocation.parse(a) for a in raw.get("Allocations") or []),
            errors=errors(raw),
        )

    @property
    def ok(self) -> bool:
        return bool(self.credit_note_id) and not self.errors


@dataclass(frozen=True)
class Currency:
    code: str
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Currency:
        return cls(text(raw, "Code"), errors(raw))


@dataclass(frozen=True)
class TrackingOption:
    option_id: str
    name: str
    errors: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> TrackingOption:
        return cls(xero_id(raw, "TrackingOptionID"), text(raw, "Name"), errors(raw))

    @property
    def ok(self) -> bool:
        return bool(self.name) and not self.errors


@dataclass(frozen=True)
class TrackingCategory:
    category_id: str
    name: str
    options: tuple[TrackingOption, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> TrackingCategory:
        return cls(
            xero_id(raw, "TrackingCategoryID"),
            text(raw, "Name"),
            tuple(TrackingOption.parse(o) for o in raw.get("Options") or []),
        )


def by_position(answers: Sequence[R], count: int) -> list[R | None]:
    """Each sent element's answer by position; None past a short answer (its outcome unknown)."""
    return [answers[i] if i < len(answers) else None for i in range(count)]

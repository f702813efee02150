"""Translate: neutral Salesforce records into Xero documents. Pure functions, no I/O.

Everything here is deterministic: the same opportunity and configuration give the same documents,
the same hash and the same idempotency key, so a re-run after a crash writes nothing new (see
ARCHITECTURE.md §7). Money is ``Decimal`` throughout, never ``float``; every ``quantize`` names its
rounding mode because Xero does not document its own (half-up is what its documents show).

``to_xero()`` returns Accounting API JSON with PascalCase keys. Dates are ``"YYYY-MM-DD"`` strings
(Xero accepts them alongside ``/Date(ms)/``); amounts stay ``Decimal`` values, to be written as JSON
numbers (real Xero takes numbers), by the client's encoder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from integrations.connections.salesforce.records import Address, LineItem, Opportunity
from integrations.core.config import SyncConfig

CENT: Final = Decimal("0.01")
UNIT: Final = Decimal("0.0001")
"""Unit amounts and quantities keep 4 decimals: every write and read uses ``unitdp=4``."""
ZERO: Final = Decimal("0.00")
HUNDRED: Final = Decimal(100)

MAX_CONTACT_NAME: Final = 255
MAX_CONTACT_NUMBER: Final = 50
MAX_ITEM_CODE: Final = 30
MAX_ITEM_NAME: Final = 50
MAX_REFERENCE: Final = 255
MAX_INVOICE_NUMBER: Final = 255
MAX_DESCRIPTION: Final = 4000
MAX_IDEMPOTENCY_KEY: Final = 128
_SHORT_CODE_PREFIX: Final = 21  # 21 + "-" + 8 hex = 30
# Xero's address field limits.
_ADDRESS_LIMITS: Final = {
    "AddressLine": 500,
    "City": 255,
    "Region": 255,
    "PostalCode": 50,
    "Country": 50,
}
# Xero prints the POBOX (postal) address on invoices; STREET is the physical address.
BILLING_ADDRESS_TYPE: Final = "POBOX"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9:_.-]+$")


class TranslationError(ValueError):
    """A record that cannot become a Xero document as it stands.

    The message is for a person reading the sync log: it says what is missing and where to fix
    it. Retrying does not help until the record or the configuration changes.
    """


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round4(value: Decimal) -> Decimal:
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


def _clip(value: str, limit: int) -> str:
    return value.strip()[:limit].strip()


def _describe(opportunity: Opportunity) -> str:
    return f"Opportunity {opportunity.name!r} ({opportunity.salesforce_id})"


# --- Contacts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressDraft:
    lines: tuple[str, ...]
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    address_type: str = BILLING_ADDRESS_TYPE

    def to_xero(self) -> dict[str, Any]:
        data: dict[str, Any] = {"AddressType": self.address_type}
        for i, line in enumerate(self.lines, start=1):
            data[f"AddressLine{i}"] = line
        for key, value in (
            ("City", self.city),
            ("Region", self.region),
            ("PostalCode", self.postal_code),
            ("Country", self.country),
        ):
            if value:
                data[key] = value
        return data


def address_for(address: Address | None) -> AddressDraft | None:
    """Salesforce's billing address as one Xero address; None when it is empty.

    Salesforce keeps the street as one multi-line text; Xero has four address lines, so the
    first three lines map one to one and the rest are joined into the fourth.
    """
    if address is None:
        return None
    street = [part.strip() for part in address.street.splitlines() if part.strip()]
    if len(street) > 4:
        street = [*street[:3], ", ".join(street[3:])]
    limit = _ADDRESS_LIMITS
    draft = AddressDraft(
        lines=tuple(_clip(line, limit["AddressLine"]) for line in street),
        city=_clip(address.city, limit["City"]),
        region=_clip(address.region, limit["Region"]),
        postal_code=_clip(address.postal_code, limit["PostalCode"]),
        country=_clip(address.country, limit["Country"]),
    )
    if not (draft.lines or draft.city or draft.region or draft.postal_code or draft.country):
        return None
    return draft


@dataclass(frozen=True)
class ContactDraft:
    """A Xero contact for the opportunity's Account; ``ContactNumber`` is the Account Id."""

    name: str
    contact_number: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    address: AddressDraft | None = None

    def to_xero(self) -> dict[str, Any]:
        data: dict[str, Any] = {"Name": self.name, "ContactNumber": self.contact_number}
        for key, value in (
            ("EmailAddress", self.email),
            ("FirstName", self.first_name),
            ("LastName", self.last_name),
        ):
            if value:
                data[key] = value
        if self.address is not None:
            data["Addresses"] = [self.address.to_xero()]
        return data


def contact_for(opportunity: Opportunity, config: SyncConfig) -> ContactDraft:
    """The Xero contact an opportunity's invoice is addressed to.

    ``ContactNumber`` carries the Salesforce Account Id: it is settable only through the API and
    meant for an external system's id, so the engine finds the contact again by it even after
    someone renames it in Xero. Names are clipped to Xero's 255 characters.
    """
    customer = opportunity.customer
    if customer is None:
        raise TranslationError(
            f"{_describe(opportunity)} has no Account: set its Account in Salesforce."
        )
    name = _clip(customer.name, MAX_CONTACT_NAME)
    if not name:
        raise TranslationError(
            f"{_describe(opportunity)}: its Account ({customer.salesforce_id}) has no name."
        )
    person = opportunity.primary_contact
    return ContactDraft(
        name=name,
        contact_number=customer.salesforce_id.strip()[:MAX_CONTACT_NUMBER],
        email=person.email.strip() if person else "",
        first_name=_clip(person.first_name, 255) if person else "",
        last_name=_clip(person.last_name, 255) if person else "",
        address=address_for(customer.billing_address),
    )


# --- Items ---------------------------------------------------------------------------------


def item_code_for(product_code: str, product_id: str) -> str:
    """The Xero Item ``Code`` (max 30 characters) for a Salesforce product.

    A ``ProductCode`` of up to 30 characters is used as it is (trimmed). A longer one becomes
    its first 21 characters, ``-``, and the first 8 hex digits of the SHA-256 of the whole code:
    30 characters, stable across runs and machines, readable by its prefix, and distinct for
    codes sharing a prefix. A product without a code falls back to its Product2 Id (18
    characters), shortened the same way should it ever be longer.
    """
    code = product_code.strip() or product_id.strip()
    if not code:
        raise TranslationError("A product has neither a Product Code nor an Id.")
    if len(code) <= MAX_ITEM_CODE:
        return code
    digest = hashlib.sha256(code.encode()).hexdigest()[:8]
    return f"{code[:_SHORT_CODE_PREFIX]}-{digest}"


def item_name_for(name: str) -> str:
    """Xero item names hold 50 characters: longer names keep 47 and end in ``...``."""
    name = " ".join(name.split())
    if len(name) <= MAX_ITEM_NAME:
        return name
    return name[: MAX_ITEM_NAME - 3].rstrip() + "..."


@dataclass(frozen=True)
class ItemDraft:
    """A Xero sales item for a Salesforce product."""

    code: str
    name: str
    description: str
    unit_price: Decimal
    account_code: str
    tax_type: str = ""
    shortened_from: str = ""
    """The Salesforce code when :func:`item_code_for` shortened it: the engine logs it."""

    def to_xero(self) -> dict[str, Any]:
        sales: dict[str, Any] = {"UnitPrice": self.unit_price, "AccountCode": self.account_code}
        if self.tax_type:
            sales["TaxType"] = self.tax_type
        data: dict[str, Any] = {"Code": self.code, "Name": self.name}
        if self.description:
            data["Description"] = self.description
        data["IsSold"] = True
        data["SalesDetails"] = sales
        return data


def item_for(line: LineItem, config: SyncConfig) -> ItemDraft:
    """The item to create in Xero for a line's product (when it does not exist yet)."""
    code = item_code_for(line.product_code, line.product_id)
    original = line.product_code.strip() or line.product_id.strip()
    return ItemDraft(
        code=code,
        name=item_name_for(line.product_name) or code,
        description=_clip(line.description or line.product_name, MAX_DESCRIPTION),
        unit_price=round4(line.unit_price),
        account_code=config.sales_account_code,
        tax_type=config.default_tax_type if config.tax_mode == "single" else "",
        shortened_from=original if code != original else "",
    )


# --- Invoices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLineDraft:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str
    discount_rate: Decimal = ZERO
    item_code: str = ""
    tax_type: str = ""
    tracking: tuple[tuple[str, str], ...] = ()
    """(category name, option name) pairs, at most two."""

    def to_xero(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "Description": self.description,
            "Quantity": self.quantity,
            "UnitAmount": self.unit_amount,
        }
        if self.discount_rate > 0:
            data["DiscountRate"] = self.discount_rate
        if self.item_code:
            data["ItemCode"] = self.item_code
        data["AccountCode"] = self.account_code
        if self.tax_type:
            data["TaxType"] = self.tax_type
        if self.tracking:
            data["Tracking"] = [{"Name": name, "Option": option} for name, option in self.tracking]
        return data

    @property
    def amount(self) -> Decimal:
        """The line amount as Xero computes it (2 dp, discount applied)."""
        return round2(self.quantity * self.unit_amount * (1 - self.discount_rate / HUNDRED))


@dataclass(frozen=True)
class InvoiceTotals:
    line_amounts: tuple[Decimal, ...]
    tax_amounts: tuple[Decimal, ...]
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class InvoiceDraft:
    """An ACCREC invoice for a won opportunity."""

    date: dt.date
    due_date: dt.date
    status: str
    line_amount_types: str
    lines: tuple[InvoiceLineDraft, ...]
    contact_id: str = ""
    contact_number: str = ""
    reference: str = ""
    invoice_number: str = ""
    currency_code: str = ""
    branding_theme_id: str = ""
    currency_rate: Decimal | None = None
    """Units of ``currency_code`` per unit of the organisation's base currency; None: Xero's
    own daily rate."""
    type: str = "ACCREC"

    def to_xero(self) -> dict[str, Any]:
        contact = (
            {"ContactID": self.contact_id}
            if self.contact_id
            else {"ContactNumber": self.contact_number}
        )
        data: dict[str, Any] = {
            "Type": self.type,
            "Contact": contact,
            "Date": self.date.isoformat(),
            "DueDate": self.due_date.isoformat(),
            "Status": self.status,
            "LineAmountTypes": self.line_amount_types,
        }
        for key, value in (
            ("InvoiceNumber", self.invoice_number),
            ("Reference", self.reference),
            ("CurrencyCode", self.currency_code),
            ("BrandingThemeID", self.branding_theme_id),
        ):
            if value:
                data[key] = value
        if self.currency_rate is not None:
            data["CurrencyRate"] = self.currency_rate
        data["LineItems"] = [line.to_xero() for line in self.lines]
        return data

    def expected_totals(self, tax_rates: Mapping[str, Decimal] | None = None) -> InvoiceTotals:
        """The totals Xero will compute, to check against the document it returns.

        Xero's rules (ARCHITECTURE.md §3, §7): each line amount is Quantity x UnitAmount x
        (1 - DiscountRate/100) rounded to 2 dp; tax is computed per line and rounded to 2 dp,
        then summed. ``Exclusive``: tax = line x rate, added on top. ``Inclusive``: the line
        already holds its tax, tax = line - line / (1 + rate). ``NoTax``: no tax. Rounding is
        half-up (Xero's documents show it; it is not documented).

        ``tax_rates`` maps a TaxType to its effective rate in percent (from ``/TaxRates``); a
        line without a TaxType takes Xero's account default, looked up under the key ``""``.
        Unknown tax types count as 0 %.
        """
        rates = tax_rates or {}
        line_amounts: list[Decimal] = []
        taxes: list[Decimal] = []
        for line in self.lines:
            amount = line.amount
            rate = Decimal(rates.get(line.tax_type, 0)) / HUNDRED
            if self.line_amount_types == "Exclusive":
                tax = round2(amount * rate)
            elif self.line_amount_types == "Inclusive":
                tax = round2(amount - amount / (1 + rate))
            else:
                tax = ZERO
            line_amounts.append(amount)
            taxes.append(tax)
        amounts = sum(line_amounts, ZERO)
        total_tax = sum(taxes, ZERO)
        if self.line_amount_types == "Inclusive":
            sub_total, total = amounts - total_tax, amounts
        else:
            sub_total, total = amounts, amounts + total_tax
        return InvoiceTotals(
            line_amounts=tuple(line_amounts),
            tax_amounts=tuple(taxes),
            sub_total=sub_total,
            total_tax=total_tax,
            total=total,
        )


def reference_for(opportunity: Opportunity, config: SyncConfig) -> str:
    """The invoice Reference: the configured field's value as text (max 255), or ``""``.

    ``Name`` is the opportunity name; any other field must have been read with the record.
    """
    if config.reference_field == "Name":
        value: Any = opportunity.name
    elif config.reference_field in opportunity.fields:
        value = opportunity.fields[config.reference_field]
    else:
        raise TranslationError(
            f"{_describe(opportunity)}: the Reference field {config.reference_field!r} "
            "was not read from Salesforce; check that the field exists and is visible."
        )
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "Yes" if value else "No"
    elif isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    return _clip(str(value), MAX_REFERENCE)


def invoice_number_for(opportunity: Opportunity, config: SyncConfig) -> str:
    """The configured invoice number pattern filled in; ``""`` lets Xero number the invoice.

    Too long a number is an error rather than clipped: a clipped number could collide.
    """
    pattern = config.invoice_number_pattern
    if not pattern:
        return ""
    values: dict[str, Any] = {
        "opportunity_id": opportunity.salesforce_id,
        "name": opportunity.name.strip(),
        "close_date": opportunity.close_date,
        "account_id": opportunity.customer.salesforce_id if opportunity.customer else "",
    }
    number = pattern.format(**values).strip()
    if len(number) > MAX_INVOICE_NUMBER:
        raise TranslationError(
            f"{_describe(opportunity)}: the invoice number {number[:40]!r}... is longer than "
            f"Xero's {MAX_INVOICE_NUMBER} characters; shorten the pattern or the name."
        )
    return number


@dataclass(frozen=True)
class InvoiceRules:
    """What the accounting rules decided for one opportunity's invoice (see integrations.rules).

    ``None`` fields leave the integration's own setting in force.
    """

    tax_type: str | None = None
    """The TaxType of every line; "" lets Xero apply the item's or account's default."""
    tracking: tuple[tuple[str, str], ...] = ()
    status: str | None = None
    payment_terms_days: int | None = None
    currency_rate: Decimal | None = None
    negative_lines_apart: bool = False
    """Negative lines go on a separate credit note instead of the invoice."""


def _line_for(
    line: LineItem, config: SyncConfig, opportunity: Opportunity, rules: InvoiceRules
) -> InvoiceLineDraft:
    """One invoice line per Salesforce line item.

    Quantity and UnitAmount keep 4 decimals (``unitdp=4``), DiscountRate 2 (Salesforce's
    Discount field has 2); each is rounded half-up. Xero computes the line amount itself.
    """
    discount = round2(line.discount_percent or ZERO)
    if not ZERO <= discount <= HUNDRED:
        raise TranslationError(
            f"{_describe(opportunity)}: the discount {discount}% on product "
            f"{line.product_name!r} is not between 0 and 100."
        )
    code = item_code_for(line.product_code, line.product_id)
    return InvoiceLineDraft(
        description=_clip(line.description or line.product_name or code, MAX_DESCRIPTION),
        quantity=round4(line.quantity),
        unit_amount=round4(line.unit_price),
        discount_rate=discount,
        item_code=code,
        account_code=config.sales_account_code,
        tax_type=_line_tax_type(config, rules),
        tracking=rules.tracking,
    )


def _line_tax_type(config: SyncConfig, rules: InvoiceRules) -> str:
    # A NoTax invoice carries no tax types: Xero sets NONE itself.
    if config.line_amount_types == "NoTax":
        return ""
    return config.default_tax_type if rules.tax_type is None else rules.tax_type


def invoice_for(
    opportunity: Opportunity,
    config: SyncConfig,
    *,
    contact_id: str | None = None,
    rules: InvoiceRules | None = None,
) -> InvoiceDraft:
    """The ACCREC invoice for a won opportunity.

    The contact is named by its Xero ``ContactID`` when the ledger knows it, else by
    ``ContactNumber`` (the Account Id), which Xero resolves. An opportunity without products
    becomes one line for its Amount. With ``rules.negative_lines_apart`` its negative lines
    are left out (see :func:`credit_lines_for`).
    """
    rules = rules or InvoiceRules()
    if opportunity.close_date is None:
        raise TranslationError(f"{_describe(opportunity)} has no Close Date.")
    if contact_id is None and opportunity.customer is None:
        raise TranslationError(
            f"{_describe(opportunity)} has no Account: set its Account in Salesforce."
        )
    if opportunity.lines:
        lines = tuple(_line_for(line, config, opportunity, rules) for line in opportunity.lines)
        if rules.negative_lines_apart:
            lines = tuple(line for line in lines if line.amount >= 0)
            if not lines:
                raise TranslationError(
                    f"{_describe(opportunity)} has only negative lines: there is nothing to "
                    "invoice (its lines would all go on a credit note)."
                )
    else:
        amount = opportunity.amount
        if amount is None or amount == 0:
            raise TranslationError(
                f"{_describe(opportunity)} has no products and no Amount, so there is nothing "
                "to invoice: add products or an Amount in Salesforce."
            )
        if amount < 0:
            raise TranslationError(
                f"{_describe(opportunity)} has a negative Amount ({amount}); an invoice "
                "cannot be negative."
            )
        lines = (
            InvoiceLineDraft(
                description=_clip(opportunity.name, MAX_DESCRIPTION) or opportunity.salesforce_id,
                quantity=Decimal(1),
                unit_amount=round4(amount),
                account_code=config.sales_account_code,
                tax_type=_line_tax_type(config, rules),
                tracking=rules.tracking,
            ),
        )
    customer = opportunity.customer
    terms = (
        config.payment_terms_days if rules.payment_terms_days is None else rules.payment_terms_days
    )
    return InvoiceDraft(
        date=opportunity.close_date,
        due_date=opportunity.close_date + dt.timedelta(days=terms),
        status=rules.status or config.invoice_status,
        line_amount_types=config.line_amount_types,
        lines=lines,
        contact_id=contact_id or "",
        contact_number=customer.salesforce_id.strip()[:MAX_CONTACT_NUMBER] if customer else "",
        reference=reference_for(opportunity, config),
        invoice_number=invoice_number_for(opportunity, config),
        currency_code=opportunity.currency or config.default_currency,
        branding_theme_id=config.branding_theme_id,
        currency_rate=rules.currency_rate,
    )


def credit_lines_for(
    opportunity: Opportunity, config: SyncConfig, rules: InvoiceRules
) -> tuple[InvoiceLineDraft, ...]:
    """The opportunity's negative lines as positive credit-note lines (``negative_lines_apart``).

    Quantity turns positive (a return of 2 units credits 2 units); the price stays as it was.
    """
    credit: list[InvoiceLineDraft] = []
    for line in opportunity.lines:
        draft = _line_for(line, config, opportunity, rules)
        if draft.amount < 0:
            if draft.quantity < 0:
                draft = dataclasses.replace(draft, quantity=-draft.quantity)
            else:
                draft = dataclasses.replace(draft, unit_amount=-draft.unit_amount)
            credit.append(draft)
    return tuple(credit)


# --- Change detection and idempotency ------------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        # 1.5 and 1.50 are the same amount to Xero: not a change worth a write.
        return str(value.normalize()) if value else "0"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot hash a {type(value).__name__}")


def content_hash(document_json: Mapping[str, Any]) -> str:
    """SHA-256 of a document's canonical JSON; the ledger compares it to skip unchanged writes.

    Canonical: sorted keys, no whitespace, ``Decimal`` as its normalised text (never a float).
    """
    text = json.dumps(
        document_json, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_canonical
    )
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key(
    *, integration_id: int, kind: str, salesforce_id: str, content_hash: str
) -> str:
    """Xero's ``Idempotency-Key`` for one write: the same content gives the same key.

    Readable (``cto:<integration>:<kind>:<salesforce id>:<hash>``) when that fits in Xero's 128
    characters of header-safe text; otherwise the SHA-256 of that text, still deterministic.
    """
    key = f"cto:{integration_id}:{kind}:{salesforce_id}:{content_hash}"
    if len(key) <= MAX_IDEMPOTENCY_KEY and _SAFE_KEY.match(key):
        return key
    return f"cto:{integration_id}:{hashlib.sha256(key.encode()).hexdigest()}"[:MAX_IDEMPOTENCY_KEY]

"""The Accounting API's write semantics: one element of a batch at a time.

Each writer takes the element's JSON (already checked against the spec) and either saves it or
raises :class:`ElementError` with Xero's validation messages. The caller runs each element in a
savepoint, so a failed element leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db.models import F

from sandbox.xero import clock, xjson
from sandbox.xero.models import (
    Account,
    Allocation,
    BrandingTheme,
    Contact,
    CreditNote,
    Currency,
    Invoice,
    Item,
    Payment,
    TaxRate,
    TrackingCategory,
    TrackingOption,
    XeroOrganisation,
)
from sandbox.xero.totals import LineInput, compute, round2, round_unit

ZERO = Decimal("0.00")
PAID_EDIT_MESSAGE = (
    "This document cannot be edited as it has a payment or credit note allocated to it."
)
STATUS_EDIT_MESSAGE = "Invoice not of valid status for modification"
# Fields of an invoice that may still change once money has been applied to it.
EDITABLE_WHEN_PAID = {
    "Reference",
    "DueDate",
    "SentToContact",
    "BrandingThemeID",
    "Url",
    "ExpectedPaymentDate",
    "PlannedPaymentDate",
    "InvoiceID",
    "CreditNoteID",
    "Status",
    "Type",
}


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ElementError(Exception):
    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass
class Event:
    category: str
    """INVOICE, CONTACT or CREDITNOTE."""
    resource_id: uuid.UUID
    event_type: str
    """CREATE or UPDATE."""
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """One request's organisation, options and per-request lookups of its settings."""

    org: XeroOrganisation
    unitdp: int = 2
    events: list[Event] = field(default_factory=list)

    @cached_property
    def now(self) -> dt.datetime:
        return clock.now()

    @cached_property
    def accounts(self) -> dict[str, Account]:
        return {
            a.code.upper(): a
            for a in Account.objects.filter(organisation=self.org).exclude(code="")
        }

    @cached_property
    def accounts_by_id(self) -> dict[str, Account]:
        return {str(a.account_id): a for a in self.accounts.values()}

    @cached_property
    def tax_rates(self) -> dict[str, TaxRate]:
        return {t.tax_type: t for t in TaxRate.objects.filter(organisation=self.org)}

    @cached_property
    def currencies(self) -> set[str]:
        return set(Currency.objects.filter(organisation=self.org).values_list("code", flat=True))

    @cached_property
    def tracking(self) -> list[TrackingCategory]:
        return list(
            TrackingCategory.objects.filter(
                organisation=self.org, status="ACTIVE"
            ).prefetch_related("options")
        )

    def emit(self, category: str, resource_id: uuid.UUID, created: bool, **data: str) -> None:
        self.events.append(Event(category, resource_id, "CREATE" if created else "UPDATE", data))


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_uuid(value: Any) -> uuid.UUID:
    """The id a write names; a malformed one (the spec check lets few through) matches nothing."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return uuid.UUID(int=0)


# --- Contacts ------------------------------------------------------------------------------


def _name_taken(ctx: Context, name: str, exclude: Contact | None) -> bool:
    qs = Contact.objects.filter(organisation=ctx.org, status="ACTIVE", name__iexact=name)
    if exclude is not None and exclude.pk:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def find_contact(ctx: Context, data: dict[str, Any]) -> Contact | None:
    """The existing contact a write names: by ContactID, then ContactNumber, then Name."""
    contact_id = data.get("ContactID")
    if contact_id:
        found = Contact.objects.filter(
            organisation=ctx.org, contact_id=parse_uuid(contact_id)
        ).first()
        if found is None:
            raise ElementError(f"The contact with ContactID {contact_id} could not be found.")
        return found
    number = _text(data, "ContactNumber")
    if number:
        found = Contact.objects.filter(organisation=ctx.org, contact_number=number).first()
        if found is not None:
            return found
    name = _text(data, "Name")
    if name:
        return (
            Contact.objects.filter(organisation=ctx.org, name__iexact=name)
            .order_by(F("status").asc(), "pk")  # ACTIVE sorts before ARCHIVED
            .first()
        )
    return None


def write_contact(
    ctx: Context, data: dict[str, Any], *, create_only: bool, target: Contact | None = None
) -> Contact:
    existing: Contact | None
    if target is not None:
        existing = target
    elif create_only:
        # PUT only creates: a name already in use is reported by the uniqueness rule below.
        if data.get("ContactID"):
            raise ElementError("A ContactID cannot be given when creating a contact.")
        existing = None
    else:
        existing = find_contact(ctx, data)
    contact = existing or Contact(organisation=ctx.org)
    created = existing is None
    errors: list[str] = []
    name = _text(data, "Name") or contact.name
    if not name:
        errors.append("The contact name must be specified.")
    number = data.get("ContactNumber")
    if isinstance(number, str) and len(number) > 50:
        errors.append("The ContactNumber must not be more than 50 characters.")
    status = data.get("ContactStatus") or contact.status or "ACTIVE"
    if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
        errors.append(f"ContactStatus {status} is not valid.")
    email = data.get("EmailAddress")
    if isinstance(email, str) and email and not _EMAIL.match(email):
        errors.append("Email address must be valid.")
    if name and status == "ACTIVE" and _name_taken(ctx, name, contact):
        errors.append(_duplicate_name(name))
    if errors:
        raise ElementError(*errors)
    contact.name = name
    contact.status = status
    for key, attr in (
        ("ContactNumber", "contact_number"),
        ("AccountNumber", "account_number"),
        ("EmailAddress", "email_address"),
        ("FirstName", "first_name"),
        ("LastName", "last_name"),
    ):
        if key in data and data[key] is not None:
            setattr(contact, attr, str(data[key]))
    extra = dict(contact.extra)
    for key in (
        "Addresses",
        "Phones",
        "TaxNumber",
        "DefaultCurrency",
        "ContactPersons",
        "CompanyNumber",
    ):
        if data.get(key) is not None:
            extra[key] = data[key]
    contact.extra = extra
    contact.updated_at = ctx.now
    contact.save()
    ctx.emit("CONTACT", contact.contact_id, created)
    return contact


def _duplicate_name(name: str) -> str:
    return (
        f"The contact name {name} is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    )


# --- Items ---------------------------------------------------------------------------------


def write_item(
    ctx: Context, data: dict[str, Any], *, create_only: bool, target: Item | None = None
) -> Item:
    code = _text(data, "Code")
    existing = target
    if existing is None and data.get("ItemID"):
        existing = Item.objects.filter(
            organisation=ctx.org, item_id=parse_uuid(data["ItemID"])
        ).first()
        if existing is None:
            raise ElementError(f"Item with ItemID {data['ItemID']} could not be found.")
    if existing is None and code:
        existing = Item.objects.filter(organisation=ctx.org, code__iexact=code).first()
        if existing is not None and create_only:
            raise ElementError(f"Item code '{code}' already exists")
    item = existing or Item(organisation=ctx.org)
    errors: list[str] = []
    code = code or item.code
    if not code:
        errors.append("Item code is required")
    if len(code) > 30:
        errors.append("Item code must be 30 characters or less")
    if code and existing is not None and code.lower() != item.code.lower():
        clash = Item.objects.filter(organisation=ctx.org, code__iexact=code).exclude(pk=item.pk)
        if clash.exists():
            errors.append(f"Item code '{code}' already exists")
    name = data.get("Name", item.name) or ""
    if len(name) > 50:
        errors.append("Item name must be 50 characters or less")
    details: dict[str, dict[str, Any]] = {}
    for key, revenue in (("SalesDetails", True), ("PurchaseDetails", False)):
        given = data.get(key)
        if given is None:
            continue
        out: dict[str, Any] = {}
        if given.get("UnitPrice") is not None:
            out["UnitPrice"] = str(round_unit(Decimal(str(given["UnitPrice"])), 4))
        account_code = given.get("AccountCode")
        if account_code:
            if str(account_code).upper() not in ctx.accounts:
                errors.append(f"Account code '{account_code}' is not a valid code.")
            out["AccountCode"] = account_code
        tax_type = given.get("TaxType")
        if tax_type:
            errors.extend(_tax_errors(ctx, tax_type, revenue))
            out["TaxType"] = tax_type
        details[key] = out
    if errors:
        raise ElementError(*errors)
    item.code = code
    item.name = name
    if "Description" in data:
        item.description = data["Description"] or ""
    for key, attr in (("IsSold", "is_sold"), ("IsPurchased", "is_purchased")):
        if data.get(key) is not None:
            setattr(item, attr, bool(data[key]))
    if "SalesDetails" in details:
        item.sales_details = details["SalesDetails"]
    if "PurchaseDetails" in details:
        item.purchase_details = details["PurchaseDetails"]
    item.updated_at = ctx.now
    item.save()
    return item


def _tax_errors(ctx: Context, tax_type: str, revenue: bool) -> list[str]:
    rate = ctx.tax_rates.get(tax_type)
    usable = (
        rate is not None
        and rate.status == "ACTIVE"
        and (rate.can_apply_to_revenue if revenue else rate.can_apply_to_expenses)
    )
    if usable:
        return []
    return [
        f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of "
        "transaction."
    ]


# --- Invoices and credit notes -------------------------------------------------------------

TRANSITIONS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": {"PAID"},
    "VOIDED": {"VOIDED"},
    "DELETED": {"DELETED"},
}


def _resolve_tracking(ctx: Context, entries: Any, errors: list[str]) -> list[dict[str, str]]:
    if not entries:
        return []
    if len(entries) > 2:
        errors.append("A line item can have a maximum of 2 tracking categories.")
        return []
    out: list[dict[str, str]] = []
    seen: set[uuid.UUID] = set()
    for entry in entries:
        category = next(
            (
                c
                for c in ctx.tracking
                if (
                    entry.get("TrackingCategoryID")
                    and str(c.tracking_category_id) == str(entry["TrackingCategoryID"])
                )
                or (entry.get("Name") and c.name.lower() == str(entry["Name"]).lower())
            ),
            None,
        )
        label = entry.get("Name") or entry.get("TrackingCategoryID")
        if category is None:
            errors.append(f"Tracking category '{label}' does not exist or is not active.")
            continue
        if category.tracking_category_id in seen:
            errors.append(f"Tracking category '{category.name}' is used more than once.")
            continue
        seen.add(category.tracking_category_id)
        option: TrackingOption | None = next(
            (
                o
                for o in category.options.all()
                if o.status == "ACTIVE"
                and (
                    (
                        entry.get("TrackingOptionID")
                        and str(o.tracking_option_id) == str(entry["TrackingOptionID"])
                    )
                    or (entry.get("Option") and o.name.lower() == str(entry["Option"]).lower())
                )
            ),
            None,
        )
        if option is None:
            wanted = entry.get("Option") or entry.get("TrackingOptionID")
            errors.append(
                f"The tracking option '{wanted}' does not exist in tracking category "
                f"'{category.name}'."
            )
            continue
        out.append(
            {
                "TrackingCategoryID": str(category.tracking_category_id),
                "TrackingOptionID": str(option.tracking_option_id),
                "Name": category.name,
                "Option": option.name,
            }
        )
    return out


def build_lines(
    ctx: Context,
    raw_lines: list[dict[str, Any]],
    revenue: bool,
    line_amount_types: str,
    previous: list[dict[str, Any]],
    errors: list[str],
) -> tuple[list[dict[str, Any]], list[LineInput], bool]:
    """Lines with defaults from items and accounts; and whether every line has an account."""
    old_ids = {line["LineItemID"] for line in previous}
    lines: list[dict[str, Any]] = []
    inputs: list[LineInput] = []
    all_coded = True
    for raw in raw_lines:
        item_code = _text(raw, "ItemCode")
        item_defaults: dict[str, Any] = {}
        description = raw.get("Description")
        if item_code:
            item = Item.objects.filter(organisation=ctx.org, code__iexact=item_code).first()
            if item is None:
                errors.append(f"Item code '{item_code}' is not valid")
            else:
                item_code = item.code
                item_defaults = item.sales_details if revenue else item.purchase_details
                if description is None:
                    description = item.description or item.name
        account_code = _text(raw, "AccountCode") or item_defaults.get("AccountCode", "")
        account: Account | None = None
        if raw.get("AccountID") and not account_code:
            account = ctx.accounts_by_id.get(str(raw["AccountID"]))
            if account is None:
                errors.append(f"Account with AccountID {raw['AccountID']} could not be found.")
            else:
                account_code = account.code
        if account_code:
            account = ctx.accounts.get(account_code.upper())
            if account is None or account.status != "ACTIVE":
                errors.append(
                    f"Account code '{account_code}' is not a valid code for this document."
                )
        else:
            all_coded = False
        tax_type = (
            _text(raw, "TaxType")
            or item_defaults.get("TaxType")
            or (account.tax_type if account is not None else "")
        )
        rate = Decimal(0)
        if tax_type and line_amount_types != "NoTax":
            problems = _tax_errors(ctx, tax_type, revenue)
            errors.extend(problems)
            if not problems:
                rate = ctx.tax_rates[tax_type].effective_rate
        quantity = xjson.to_decimal(raw.get("Quantity"), Decimal(1)) or Decimal(0)
        default_price = item_defaults.get("UnitPrice", "0")
        unit = xjson.to_decimal(raw.get("UnitAmount"), Decimal(str(default_price))) or Decimal(0)
        unit = round_unit(unit, ctx.unitdp)
        discount = xjson.to_decimal(raw.get("DiscountRate"), Decimal(0)) or Decimal(0)
        if not Decimal(0) <= discount <= Decimal(100):
            errors.append("Discount rate must be between 0 and 100.")
        tracking = _resolve_tracking(ctx, raw.get("Tracking"), errors)
        line_id = raw.get("LineItemID")
        lines.append(
            {
                "LineItemID": str(line_id) if line_id in old_ids else str(uuid.uuid4()),
                "Description": description or "",
                "Quantity": str(quantity),
                "UnitAmount": str(unit),
                "DiscountRate": str(discount),
                "ItemCode": item_code,
                "AccountCode": account.code if account is not None else "",
                "TaxType": tax_type if line_amount_types != "NoTax" else "NONE",
                "Tracking": tracking,
            }
        )
        inputs.append(LineInput(quantity, unit, discount, rate))
    return lines, inputs, all_coded


def _changed_when_paid(data: dict[str, Any]) -> bool:
    return any(key not in EDITABLE_WHEN_PAID and value is not None for key, value in data.items())


def write_document(
    ctx: Context,
    data: dict[str, Any],
    *,
    kind: str,
    create_only: bool,
    target: Invoice | CreditNote | None = None,
) -> Invoice | CreditNote:
    """Create or update an invoice (``kind="invoice"``) or a credit note."""
    is_invoice = kind == "invoice"
    model: type[Invoice] | type[CreditNote] = Invoice if is_invoice else CreditNote
    id_key = "InvoiceID" if is_invoice else "CreditNoteID"
    number_key = "InvoiceNumber" if is_invoice else "CreditNoteNumber"
    existing = target
    if existing is None and data.get(id_key):
        lookup = {"invoice_id" if is_invoice else "credit_note_id": parse_uuid(data[id_key])}
        existing = model.objects.filter(organisation=ctx.org, **lookup).first()
        if existing is None:
            raise ElementError(f"{'Invoice' if is_invoice else 'Credit note'} not found.")
    if existing is None and not create_only and is_invoice:
        existing = invoice_by_number(ctx, data)
    if existing is not None and create_only:
        raise ElementError(f"{id_key} {data[id_key]} already exists.")
    errors: list[str] = []
    created = existing is None
    doc: Invoice | CreditNote
    if existing is None:
        doc = model(organisation=ctx.org, created_at=ctx.now, currency_code=ctx.org.base_currency)
    else:
        doc = existing
        if doc.status in ("PAID", "VOIDED", "DELETED"):
            raise ElementError(
                STATUS_EDIT_MESSAGE
                if is_invoice
                else "Credit note not of valid status for modification"
            )
        money = (
            doc.amount_paid + doc.amount_credited
            if isinstance(doc, Invoice)
            else doc.amount_allocated
        )
        if money > 0 and _changed_when_paid(data):
            raise ElementError(PAID_EDIT_MESSAGE)
    allowed_types = ("ACCREC", "ACCPAY") if is_invoice else ("ACCRECCREDIT", "ACCPAYCREDIT")
    doc_type = data.get("Type") or doc.type
    if not doc_type:
        errors.append(f"{'Invoice' if is_invoice else 'Credit note'} Type must be specified.")
    elif doc_type not in allowed_types:
        errors.append(f"Type {doc_type} is not valid here: use one of {', '.join(allowed_types)}.")
    elif existing is not None and doc_type != existing.type:
        errors.append("The Type of an existing document cannot be changed.")
    revenue = doc_type in ("ACCREC", "ACCRECCREDIT")
    # Status.
    status = data.get("Status") or doc.status or "DRAFT"
    if created and status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
        errors.append(
            f"{'Invoice' if is_invoice else 'Credit note'} status {status} is not "
            "valid for a new document."
        )
    elif not created and status not in TRANSITIONS.get(doc.status, set()):
        errors.append(f"Cannot change the status of a {doc.status} document to {status}.")
    paid = isinstance(doc, Invoice) and (doc.amount_paid > 0 or doc.amount_credited > 0)
    if status == "VOIDED" and not created and paid:
        errors.append(
            "This document cannot be voided as it has a payment or credit note allocated to it."
        )
    # Contact.
    contact: Contact | None = None
    contact_data = data.get("Contact")
    if contact_data:
        try:
            contact = find_contact(ctx, contact_data)
        except ElementError as exc:
            errors.extend(exc.messages)
        else:
            if contact is None:
                if _text(contact_data, "Name"):
                    contact = write_contact(ctx, contact_data, create_only=True)
                else:
                    errors.append("A Contact must be specified for this type of transaction")
    elif created:
        errors.append("A Contact must be specified for this type of transaction")
    # Currency, dates, reference, theme.
    currency = data.get("CurrencyCode") or doc.currency_code
    if currency not in ctx.currencies:
        errors.append(f"The currency code {currency} is not enabled for this organisation.")
    currency_rate = _document_rate(ctx, doc, currency, data.get("CurrencyRate"), errors)
    date = (
        xjson.parse_date(data["Date"])
        if data.get("Date")
        else (doc.date if not created else ctx.now.date())
    )
    if date is None:
        errors.append(f"Date {data.get('Date')!r} is not a valid date.")
    due = doc.due_date
    if data.get("DueDate"):
        due = xjson.parse_date(data["DueDate"])
        if due is None:
            errors.append(f"DueDate {data.get('DueDate')!r} is not a valid date.")
    elif created and date is not None and is_invoice:
        due = date + dt.timedelta(days=30)  # the demo organisations' payment terms
    theme_id = data.get("BrandingThemeID")
    if (
        theme_id
        and not BrandingTheme.objects.filter(
            organisation=ctx.org, branding_theme_id=parse_uuid(theme_id)
        ).exists()
    ):
        errors.append(f"Branding theme {theme_id} could not be found.")
    line_amount_types = data.get("LineAmountTypes") or doc.line_amount_types or "Exclusive"
    # Lines.
    raw_lines = data.get("LineItems")
    if raw_lines is not None:
        lines, inputs, all_coded = build_lines(
            ctx, raw_lines, revenue, line_amount_types, doc.lines, errors
        )
    else:
        lines = doc.lines
        inputs = [
            LineInput(
                Decimal(line["Quantity"]),
                Decimal(line["UnitAmount"]),
                Decimal(line.get("DiscountRate") or 0),
                ctx.tax_rates[line["TaxType"]].effective_rate
                if line.get("TaxType") in ctx.tax_rates and line_amount_types != "NoTax"
                else Decimal(0),
            )
            for line in doc.lines
        ]
        all_coded = all(line.get("AccountCode") for line in lines)
    if (status in ("SUBMITTED", "AUTHORISED") and status != doc.status) or (
        status == "AUTHORISED" and raw_lines is not None
    ):
        if not lines:
            errors.append("A document must have at least one line item before it is approved.")
        elif not all_coded:
            errors.append("Account code must be specified for every line item.")
    # Number.
    number = data.get(number_key)
    if number is not None and len(str(number)) > 255:
        errors.append(f"{number_key} must be 255 characters or less.")
    if number and revenue:
        clash = model.objects.filter(organisation=ctx.org, type=doc_type).exclude(status="DELETED")
        clash = clash.filter(
            **{("invoice_number" if is_invoice else "credit_note_number") + "__iexact": number}
        )
        if doc.pk:
            clash = clash.exclude(pk=doc.pk)
        if clash.exists():
            errors.append(
                "Invoice # must be unique." if is_invoice else "Credit Note # must be unique."
            )
    if errors:
        raise ElementError(*errors)
    assert (date is not None and contact is not None) or not created
    totals = compute(inputs, line_amount_types)
    for line, result in zip(lines, totals.lines, strict=True):
        line["LineAmount"] = str(result.line_amount)
        line["TaxAmount"] = str(result.tax_amount)
    if isinstance(doc, Invoice) and doc.pk and totals.total < doc.amount_paid + doc.amount_credited:
        raise ElementError(PAID_EDIT_MESSAGE)
    doc.type = doc_type
    if contact is not None:
        doc.contact = contact
    doc.status = status
    doc.line_amount_types = line_amount_types
    doc.date = date or doc.date
    doc.due_date = due
    doc.currency_code = currency
    doc.currency_rate = currency_rate
    if "Reference" in data and data["Reference"] is not None:
        doc.reference = str(data["Reference"])
    if theme_id:
        doc.branding_theme_id = parse_uuid(theme_id)
    if data.get("SentToContact") is not None:
        doc.sent_to_contact = bool(data["SentToContact"])
    doc.lines = lines
    doc.sub_total, doc.total_tax = totals.sub_total, totals.total_tax
    doc.total, doc.total_discount = totals.total, totals.total_discount
    if isinstance(doc, Invoice):
        if number:
            doc.invoice_number = str(number)
        elif not doc.invoice_number and revenue:
            doc.invoice_number = _next_number(ctx, "INV", Invoice)
    elif isinstance(doc, CreditNote):
        if number:
            doc.credit_note_number = str(number)
        elif not doc.credit_note_number and revenue:
            doc.credit_note_number = _next_number(ctx, "CN", CreditNote)
    doc.updated_at = ctx.now
    doc.save()
    if contact is not None and revenue and not contact.extra.get("IsCustomer"):
        contact.extra = {**contact.extra, "IsCustomer": True}
        contact.save(update_fields=["extra"])
    if isinstance(doc, Invoice):
        ctx.emit("INVOICE", doc.invoice_id, created)
    else:
        ctx.emit("CREDITNOTE", doc.credit_note_id, created, Type=doc.type, Status=doc.status)
    return doc


def invoice_by_number(ctx: Context, data: dict[str, Any]) -> Invoice | None:
    """``POST Invoices`` without an InvoiceID updates the sales invoice that already has the
    InvoiceNumber sent, as Xero does (``PUT`` would refuse the number as taken). Bills are left
    out: their numbers are the supplier's and need not be unique."""
    number = _text(data, "InvoiceNumber")
    if not number or data.get("Type") not in (None, "ACCREC"):
        return None
    return (
        Invoice.objects.filter(organisation=ctx.org, type="ACCREC", invoice_number__iexact=number)
        .exclude(status="DELETED")
        .first()
    )


def _document_rate(
    ctx: Context, doc: Invoice | CreditNote, currency: str, given: Any, errors: list[str]
) -> Decimal:
    """The document's CurrencyRate: 1 in the base currency, else as sent or the day rate."""
    if currency == ctx.org.base_currency:
        # Xero only uses the rate on foreign-currency documents.
        return Decimal(1)
    if given is not None:
        rate = xjson.to_decimal(given)
        if rate is None or rate <= 0:
            errors.append("The CurrencyRate must be greater than zero.")
            return doc.currency_rate
        return rate
    if doc.pk and doc.currency_code == currency:
        return doc.currency_rate
    return day_rate(ctx.org.base_currency, currency)


def _next_number(ctx: Context, prefix: str, model: type[Invoice] | type[CreditNote]) -> str:
    """The next free ``INV-0001``-style number, claimed under the organisation's row lock."""
    org = XeroOrganisation.objects.select_for_update().get(pk=ctx.org.pk)
    attr = "next_invoice_number" if prefix == "INV" else "next_credit_note_number"
    field_name = "invoice_number" if prefix == "INV" else "credit_note_number"
    sequence: int = getattr(org, attr)
    while True:
        candidate = f"{prefix}-{sequence:04d}"
        sequence += 1
        taken = model.objects.filter(organisation=org, **{f"{field_name}__iexact": candidate})
        if not taken.exists():
            break
    XeroOrganisation.objects.filter(pk=org.pk).update(**{attr: sequence})
    return candidate


# --- Payments and allocations --------------------------------------------------------------


def find_invoice(ctx: Context, data: dict[str, Any] | None, number: str) -> Invoice | None:
    data = data or {}
    qs = Invoice.objects.filter(organisation=ctx.org)
    if data.get("InvoiceID"):
        return qs.filter(invoice_id=parse_uuid(data["InvoiceID"])).first()
    number = _text(data, "InvoiceNumber") or number
    if number:
        return qs.filter(invoice_number__iexact=number).exclude(status="DELETED").first()
    return None


def _mark_paid(invoice: Invoice, on: dt.date) -> None:
    if invoice.amount_due <= ZERO and invoice.status == "AUTHORISED":
        invoice.status = "PAID"
        invoice.fully_paid_on = on


def write_payment(ctx: Context, data: dict[str, Any]) -> Payment:
    errors: list[str] = []
    if data.get("CreditNote") or data.get("Prepayment") or data.get("Overpayment"):
        raise ElementError("The sandbox simulates payments against invoices only.")
    invoice = find_invoice(ctx, data.get("Invoice"), _text(data, "InvoiceNumber"))
    if invoice is None:
        raise ElementError("Invoice could not be found")
    account_data = data.get("Account") or {}
    account: Account | None = None
    if account_data.get("AccountID"):
        account = ctx.accounts_by_id.get(str(account_data["AccountID"]))
    elif account_data.get("Code"):
        account = ctx.accounts.get(str(account_data["Code"]).upper())
    if account is None:
        errors.append("Account could not be found")
    elif not account.accepts_payments:
        errors.append(
            "Payments can only be made to or from BANK accounts or accounts with "
            "EnablePaymentsToAccount set."
        )
    elif (account.currency_code or ctx.org.base_currency) not in (
        invoice.currency_code,
        ctx.org.base_currency,
    ):
        errors.append(
            "The bank account's currency must be the invoice's currency or the base currency."
        )
    if invoice.status != "AUTHORISED":
        errors.append("Payments can only be made against Authorised documents")
    amount = xjson.to_decimal(data.get("Amount"))
    if amount is None or amount <= 0:
        errors.append("Payment amount must be greater than zero")
    elif round2(amount) > invoice.amount_due:
        errors.append("Payment amount exceeds the amount outstanding on this document")
    date = xjson.parse_date(data.get("Date")) if data.get("Date") else ctx.now.date()
    if date is None:
        errors.append("Date is not a valid date")
    rate = Decimal(1)
    if invoice.currency_code != ctx.org.base_currency:
        given = data.get("CurrencyRate")
        if given is None:
            rate = day_rate(ctx.org.base_currency, invoice.currency_code)
        else:
            parsed = xjson.to_decimal(given)
            if parsed is None or parsed <= 0:
                errors.append("The CurrencyRate must be greater than zero.")
            else:
                rate = parsed
    if errors:
        raise ElementError(*errors)
    assert account is not None
    assert amount is not None
    assert date is not None
    payment = Payment.objects.create(
        organisation=ctx.org,
        invoice=invoice,
        account=account,
        date=date,
        amount=round2(amount),
        currency_rate=rate,
        reference=_text(data, "Reference"),
        updated_at=ctx.now,
    )
    invoice.amount_paid += payment.amount
    _mark_paid(invoice, date)
    invoice.updated_at = ctx.now
    invoice.save()
    ctx.emit("INVOICE", invoice.invoice_id, False)
    return payment


def delete_payment(ctx: Context, payment: Payment, data: dict[str, Any]) -> Payment:
    if data.get("Status") != "DELETED":
        raise ElementError("A payment can only be updated to a Status of DELETED.")
    if payment.status == "DELETED":
        raise ElementError("The payment has already been deleted.")
    payment.status = "DELETED"
    payment.updated_at = ctx.now
    payment.save()
    invoice = payment.invoice
    invoice.amount_paid -= payment.amount
    if invoice.status == "PAID":
        invoice.status = "AUTHORISED"
        invoice.fully_paid_on = None
    invoice.updated_at = ctx.now
    invoice.save()
    ctx.emit("INVOICE", invoice.invoice_id, False)
    return payment


def write_allocation(ctx: Context, credit_note: CreditNote, data: dict[str, Any]) -> Allocation:
    errors: list[str] = []
    invoice = find_invoice(ctx, data.get("Invoice"), "")
    if invoice is None:
        raise ElementError("Invoice could not be found")
    if credit_note.status != "AUTHORISED":
        errors.append("Credit note must be AUTHORISED to be allocated")
    if invoice.status != "AUTHORISED":
        errors.append("Allocations can only be made against Authorised documents")
    if invoice.contact_id != credit_note.contact_id:
        errors.append("The credit note and the invoice must belong to the same contact")
    if invoice.currency_code != credit_note.currency_code:
        errors.append("The credit note and the invoice must be in the same currency")
    expected = "ACCREC" if credit_note.type == "ACCRECCREDIT" else "ACCPAY"
    if invoice.type != expected:
        errors.append(f"A {credit_note.type} credit note can only be allocated to {expected}")
    amount = xjson.to_decimal(data.get("Amount"))
    if amount is None or amount <= 0:
        errors.append("Allocation amount must be greater than zero")
    else:
        amount = round2(amount)
        if amount > credit_note.remaining_credit:
            errors.append("Allocation amount exceeds the remaining credit on the credit note")
        if amount > invoice.amount_due:
            errors.append("Allocation amount exceeds the amount outstanding on the invoice")
    date = xjson.parse_date(data.get("Date")) if data.get("Date") else ctx.now.date()
    if date is None:
        errors.append("Date is not a valid date")
    if errors:
        raise ElementError(*errors)
    assert amount is not None
    assert date is not None
    allocation = Allocation.objects.create(
        credit_note=credit_note, invoice=invoice, amount=amount, date=date
    )
    credit_note.amount_allocated += amount
    if credit_note.remaining_credit <= ZERO:
        credit_note.status = "PAID"
        credit_note.fully_paid_on = date
    credit_note.updated_at = ctx.now
    credit_note.save()
    invoice.amount_credited += amount
    _mark_paid(invoice, date)
    invoice.updated_at = ctx.now
    invoice.save()
    ctx.emit("INVOICE", invoice.invoice_id, False)
    ctx.emit(
        "CREDITNOTE",
        credit_note.credit_note_id,
        False,
        Type=credit_note.type,
        Status=credit_note.status,
    )
    return allocation


# --- Settings: currencies and tracking options ---------------------------------------------

# Xero names the currencies it knows itself; the request's Description is used for others.
CURRENCY_NAMES = {
    "AED": "United Arab Emirates Dirham",
    "AUD": "Australian Dollar",
    "BRL": "Brazilian Real",
    "CAD": "Canadian Dollar",
    "CHF": "Swiss Franc",
    "CNY": "Chinese Yuan",
    "DKK": "Danish Krone",
    "EUR": "Euro",
    "FJD": "Fiji Dollar",
    "GBP": "British Pound",
    "HKD": "Hong Kong Dollar",
    "INR": "Indian Rupee",
    "JPY": "Japanese Yen",
    "MXN": "Mexican Peso",
    "NOK": "Norwegian Krone",
    "NZD": "New Zealand Dollar",
    "PHP": "Philippine Peso",
    "SEK": "Swedish Krona",
    "SGD": "Singapore Dollar",
    "USD": "United States Dollar",
    "ZAR": "South African Rand",
}

# Units of each currency per US dollar: the sandbox's stand-in for the XE.com day rate Xero
# applies when a foreign-currency document or payment names no CurrencyRate. Currencies not
# listed get 1, so a test that cares sends its own rate.
UNITS_PER_USD = {
    "USD": Decimal("1"),
    "GBP": Decimal("0.79"),
    "EUR": Decimal("0.92"),
    "AUD": Decimal("1.52"),
    "CAD": Decimal("1.36"),
    "NZD": Decimal("1.65"),
    "JPY": Decimal("150.20"),
    "CHF": Decimal("0.88"),
    "SGD": Decimal("1.34"),
    "HKD": Decimal("7.81"),
    "INR": Decimal("83.10"),
    "ZAR": Decimal("18.60"),
}
MAX_ACTIVE_TRACKING_OPTIONS = 100
TRACKING_OPTION_NAME_MAX = 100


def day_rate(base: str, foreign: str) -> Decimal:
    """Units of ``foreign`` per unit of ``base``: Xero's CurrencyRate convention."""
    if base not in UNITS_PER_USD or foreign not in UNITS_PER_USD:
        return Decimal(1)
    return (UNITS_PER_USD[foreign] / UNITS_PER_USD[base]).quantize(Decimal("0.000001"))


def create_currency(ctx: Context, data: dict[str, Any]) -> Currency:
    """``PUT /Currencies``: enable one more currency (Xero creates, never updates, them)."""
    code = _text(data, "Code").upper()
    if not code:
        raise ElementError("A currency code must be provided.")
    if code in ctx.currencies:
        raise ElementError(f"The currency {code} has already been added to this organisation.")
    currency = Currency.objects.create(
        organisation=ctx.org,
        code=code,
        description=CURRENCY_NAMES.get(code) or _text(data, "Description") or code,
        updated_at=ctx.now,
    )
    ctx.currencies.add(code)
    return currency


def create_tracking_option(
    ctx: Context, category: TrackingCategory, data: dict[str, Any]
) -> TrackingOption:
    """``PUT /TrackingCategories/{id}/Options``: one new option of an ACTIVE category."""
    if category.status != "ACTIVE":
        raise ElementError(
            f"The tracking category '{category.name}' is {category.status}: options can only "
            "be added to an ACTIVE tracking category."
        )
    given = data.get("Name")
    name = given if isinstance(given, str) else ""
    errors: list[str] = []
    if not name.strip():
        errors.append("A name must be specified for the tracking option.")
    elif name != name.strip():
        # Real Xero answers a 500 for this (reported in xero-node#539); a 400 says why.
        errors.append("The tracking option name cannot start or end with spaces.")
    if len(name) > TRACKING_OPTION_NAME_MAX:
        errors.append(
            f"The tracking option name must be {TRACKING_OPTION_NAME_MAX} characters or less."
        )
    options = TrackingOption.objects.filter(category=category)
    if name.strip() and options.filter(name__iexact=name.strip()).exists():
        errors.append("For each specified tracking option the name must be unique.")
    if options.filter(status="ACTIVE").count() >= MAX_ACTIVE_TRACKING_OPTIONS:
        errors.append(
            f"A tracking category can have at most {MAX_ACTIVE_TRACKING_OPTIONS} active options."
        )
    if errors:
        raise ElementError(*errors)
    option = TrackingOption.objects.create(category=category, name=name)
    category.updated_at = ctx.now
    category.save(update_fields=["updated_at"])
    return option

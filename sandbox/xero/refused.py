"""What Xero answers for a batch element it refused: the full model, not the element as sent.

With ``summarizeErrors=false`` (and in a 400's ``Elements``) Xero deserialises each element into
its model and sends that model back with ``HasErrors``/``HasValidationErrors``,
``StatusAttributeString: "ERROR"`` and ``ValidationErrors``: every property of the model is
there (empty lists, zero amounts, flags), the id is the one sent or the zero GUID when none was
(nothing was saved), a contact or invoice the element names is the one Xero holds, and amounts
are what the element would have come to. Clients that deserialise the answer (the SDKs, jsforce's
and xero-node's models) see the same shape as for an accepted element.

Nothing here writes: these run after the element's savepoint was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sandbox.xero import serialize, xjson
from sandbox.xero.models import Account, Contact, CreditNote, Invoice, Item, Payment
from sandbox.xero.totals import compute
from sandbox.xero.writes import (
    Context,
    ElementError,
    build_lines,
    find_contact,
    find_invoice,
    invoice_by_number,
    parse_uuid,
)

ZERO_ID = "00000000-0000-0000-0000-000000000000"
ZERO = Decimal("0.00")
Refuser = Callable[[dict[str, Any]], dict[str, Any]]


def refuser(ctx: Context, key: str, *, method: str, target: Any = None) -> Refuser | None:
    """The full-model builder for the collection ``key`` (None: the element is echoed)."""
    if key in ("Invoices", "CreditNotes"):
        kind = "invoice" if key == "Invoices" else "credit_note"
        return lambda data: document(ctx, data, kind=kind, method=method, target=target)
    if key == "Contacts":
        return lambda data: contact(ctx, data, method=method, target=target)
    if key == "Items":
        return lambda data: item(ctx, data, target=target)
    if key == "Payments":
        return lambda data: payment(ctx, data, target=target)
    return None


def _id(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value) if value else ZERO_ID


def _scalars(out: dict[str, Any], data: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = data.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            out[key] = value


def _dates(out: dict[str, Any], data: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        day = xjson.parse_date(data.get(key))
        if day is not None:
            out[key] = xjson.ms_date(day)
            if key in ("Date", "DueDate"):
                out[f"{key}String"] = f"{day.isoformat()}T00:00:00"


def _contact_ref(ctx: Context, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {"ContactID": ZERO_ID}
    try:
        found = find_contact(ctx, data)
    except ElementError:
        found = None
    if found is not None:
        return serialize.contact_ref(found)
    ref: dict[str, Any] = {"ContactID": _id(data, "ContactID")}
    _scalars(ref, data, ("Name", "ContactNumber"))
    return ref


# --- invoices and credit notes -----------------------------------------------------------------


def _existing_document(
    ctx: Context, data: dict[str, Any], *, is_invoice: bool, method: str, target: Any
) -> Invoice | CreditNote | None:
    if target is not None:
        return target  # type: ignore[no-any-return]
    id_key = "InvoiceID" if is_invoice else "CreditNoteID"
    if data.get(id_key):
        model: type[Invoice] | type[CreditNote] = Invoice if is_invoice else CreditNote
        lookup = {"invoice_id" if is_invoice else "credit_note_id": parse_uuid(data[id_key])}
        return model.objects.filter(organisation=ctx.org, **lookup).first()
    if is_invoice and method == "POST":
        return invoice_by_number(ctx, data)
    return None


def document(
    ctx: Context, data: dict[str, Any], *, kind: str, method: str, target: Any
) -> dict[str, Any]:
    is_invoice = kind == "invoice"
    existing = _existing_document(ctx, data, is_invoice=is_invoice, method=method, target=target)
    out: dict[str, Any]
    if existing is not None:
        # The document as Xero still holds it (the refused change was not applied) ...
        out = (
            serialize.invoice(existing, unitdp=ctx.unitdp)
            if isinstance(existing, Invoice)
            else serialize.credit_note(existing, unitdp=ctx.unitdp)
        )
    else:
        # ... or an unsaved one: every property of the model, nothing applied to it yet.
        out = {
            "Type": data.get("Type") or ("ACCREC" if is_invoice else "ACCRECCREDIT"),
            "Contact": {"ContactID": ZERO_ID},
            "Status": "DRAFT",
            "LineAmountTypes": "Exclusive",
            "LineItems": [],
            "SubTotal": ZERO,
            "TotalTax": ZERO,
            "Total": ZERO,
            "CurrencyCode": ctx.org.base_currency,
            "CurrencyRate": Decimal(1),
            "Reference": "",
            "SentToContact": False,
            "HasAttachments": False,
            "Payments": [],
        }
        if is_invoice:
            out.update(
                {
                    "InvoiceID": _id(data, "InvoiceID"),
                    "InvoiceNumber": "",
                    "AmountDue": ZERO,
                    "AmountPaid": ZERO,
                    "AmountCredited": ZERO,
                    "TotalDiscount": ZERO,
                    "IsDiscounted": False,
                    "CreditNotes": [],
                    "Prepayments": [],
                    "Overpayments": [],
                }
            )
        else:
            out.update(
                {
                    "CreditNoteID": _id(data, "CreditNoteID"),
                    "CreditNoteNumber": "",
                    "RemainingCredit": ZERO,
                    "Allocations": [],
                }
            )
    number_key = "InvoiceNumber" if is_invoice else "CreditNoteNumber"
    _scalars(
        out,
        data,
        ("Type", "Status", "LineAmountTypes", "CurrencyCode", "Reference", "Url", number_key),
    )
    _dates(out, data, ("Date", "DueDate"))
    if data.get("Contact") is not None:
        out["Contact"] = _contact_ref(ctx, data["Contact"])
    raw_lines = data.get("LineItems")
    if isinstance(raw_lines, list):
        _lines(ctx, out, raw_lines, existing)
    return out


def _lines(
    ctx: Context,
    out: dict[str, Any],
    raw_lines: list[Any],
    existing: Invoice | CreditNote | None,
) -> None:
    """The lines and totals the element would have had (its own problems left aside: they are
    in ValidationErrors already)."""
    revenue = str(out.get("Type")) in ("ACCREC", "ACCRECCREDIT")
    line_amount_types = str(out.get("LineAmountTypes") or "Exclusive")
    previous = existing.lines if existing is not None else []
    lines, inputs, _coded = build_lines(
        ctx,
        [line for line in raw_lines if isinstance(line, dict)],
        revenue,
        line_amount_types,
        previous,
        [],
    )
    kept = {line["LineItemID"] for line in previous}
    totals = compute(inputs, line_amount_types)
    for line, result in zip(lines, totals.lines, strict=True):
        line["LineAmount"] = str(result.line_amount)
        line["TaxAmount"] = str(result.tax_amount)
        if line["LineItemID"] not in kept:
            line["LineItemID"] = ZERO_ID  # never saved: no line id was given out
    out["LineItems"] = serialize.line_items(lines, ctx.unitdp)
    out["SubTotal"], out["TotalTax"], out["Total"] = (
        totals.sub_total,
        totals.total_tax,
        totals.total,
    )
    if "AmountDue" in out:
        money = (
            existing.amount_paid + existing.amount_credited
            if isinstance(existing, Invoice)
            else ZERO
        )
        out["AmountDue"] = totals.total - money
    if "TotalDiscount" in out:
        out["TotalDiscount"] = totals.total_discount
        out["IsDiscounted"] = totals.total_discount > 0


# --- contacts, items, payments -----------------------------------------------------------------


def contact(ctx: Context, data: dict[str, Any], *, method: str, target: Any) -> dict[str, Any]:
    existing: Contact | None = target
    if existing is None and method == "POST":
        try:
            existing = find_contact(ctx, data)
        except ElementError:
            existing = None
    elif existing is None and data.get("ContactID"):
        existing = Contact.objects.filter(
            organisation=ctx.org, contact_id=parse_uuid(data["ContactID"])
        ).first()
    if existing is not None:
        out = serialize.contact(existing)
    else:
        out = {
            "ContactID": _id(data, "ContactID"),
            "ContactStatus": "ACTIVE",
            "Name": "",
            "EmailAddress": "",
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "IsSupplier": False,
            "IsCustomer": False,
            "HasAttachments": False,
        }
    _scalars(
        out,
        data,
        (
            "Name",
            "ContactNumber",
            "AccountNumber",
            "ContactStatus",
            "EmailAddress",
            "FirstName",
            "LastName",
            "TaxNumber",
            "DefaultCurrency",
            "CompanyNumber",
        ),
    )
    for key in ("Addresses", "Phones", "ContactPersons"):
        if isinstance(data.get(key), list):
            out[key] = data[key]
    return out


def item(ctx: Context, data: dict[str, Any], *, target: Any) -> dict[str, Any]:
    existing: Item | None = target
    if existing is None and data.get("ItemID"):
        existing = Item.objects.filter(
            organisation=ctx.org, item_id=parse_uuid(data["ItemID"])
        ).first()
    if existing is not None:
        out = serialize.item(existing, ctx.unitdp)
    else:
        out = {
            "ItemID": _id(data, "ItemID"),
            "Code": "",
            "Name": "",
            "Description": "",
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
            "SalesDetails": {},
            "PurchaseDetails": {},
        }
    _scalars(out, data, ("Code", "Name", "Description", "IsSold", "IsPurchased"))
    for key in ("SalesDetails", "PurchaseDetails"):
        if isinstance(data.get(key), dict):
            out[key] = data[key]
    return out


def payment(ctx: Context, data: dict[str, Any], *, target: Any) -> dict[str, Any]:
    if isinstance(target, Payment):
        stored = serialize.payment(target)
        _scalars(stored, data, ("Status",))
        return stored
    invoice_data = data.get("Invoice") if isinstance(data.get("Invoice"), dict) else None
    invoice = find_invoice(ctx, invoice_data, str(data.get("InvoiceNumber") or ""))
    account_data = data.get("Account") if isinstance(data.get("Account"), dict) else {}
    assert isinstance(account_data, dict)
    account: Account | None = None
    if account_data.get("AccountID"):
        account = ctx.accounts_by_id.get(str(account_data["AccountID"]))
    elif account_data.get("Code"):
        account = ctx.accounts.get(str(account_data["Code"]).upper())
    amount = xjson.to_decimal(data.get("Amount"))
    out: dict[str, Any] = {
        "PaymentID": _id(data, "PaymentID"),
        "Amount": amount if amount is not None else ZERO,
        "BankAmount": amount if amount is not None else ZERO,
        "CurrencyRate": xjson.to_decimal(data.get("CurrencyRate")) or Decimal(1),
        "Reference": str(data.get("Reference") or ""),
        "IsReconciled": False,
        "Status": "AUTHORISED",
        "PaymentType": "ACCRECPAYMENT"
        if invoice is None or invoice.type == "ACCREC"
        else "ACCPAYPAYMENT",
        "HasAccount": account is not None,
        "Account": (
            {"AccountID": str(account.account_id), "Code": account.code}
            if account is not None
            else {"AccountID": ZERO_ID, **{k: v for k, v in account_data.items() if k == "Code"}}
        ),
        "Invoice": (
            {
                "InvoiceID": str(invoice.invoice_id),
                "InvoiceNumber": invoice.invoice_number,
                "Type": invoice.type,
                "CurrencyCode": invoice.currency_code,
                "Contact": serialize.contact_ref(invoice.contact),
            }
            if invoice is not None
            else {"InvoiceID": _id(invoice_data or {}, "InvoiceID")}
        ),
    }
    _dates(out, data, ("Date",))
    return out

"""Models to Xero's JSON shapes (the Accounting API's response bodies)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sandbox.xero import xjson
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
from sandbox.xero.totals import round_unit


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _datestring(value: dt.date) -> str:
    return f"{value.isoformat()}T00:00:00"


def organisation(org: XeroOrganisation) -> dict[str, Any]:
    return {
        "OrganisationID": str(org.organisation_id),
        "Name": org.name,
        "LegalName": org.name,
        "PaysTax": True,
        "Version": org.version,
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 12,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY",
        "CreatedDateUTC": xjson.ms_date(org.created_at),
        "OrganisationEntityType": "COMPANY",
        "Timezone": "UTC",
        "ShortCode": org.short_code,
        "Class": "STANDARD",
        "Edition": "BUSINESS",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def account(a: Account) -> dict[str, Any]:
    data: dict[str, Any] = {
        "AccountID": str(a.account_id),
        "Code": a.code,
        "Name": a.name,
        "Type": a.type,
        "Status": a.status,
        "TaxType": a.tax_type or "NONE",
        "EnablePaymentsToAccount": a.enable_payments_to_account,
        "ShowInExpenseClaims": False,
        "Class": a.account_class,
        "ReportingCode": "",
        "HasAttachments": False,
        "UpdatedDateUTC": xjson.ms_date(a.updated_at),
        "AddToWatchlist": False,
    }
    if a.type == "BANK":
        data["BankAccountNumber"] = a.bank_account_number
        data["BankAccountType"] = "BANK"
        data["CurrencyCode"] = a.currency_code
    return data


def tax_rate(t: TaxRate) -> dict[str, Any]:
    rate = t.effective_rate
    return {
        "Name": t.name,
        "TaxType": t.tax_type,
        "ReportTaxType": t.report_tax_type or "OUTPUT",
        "CanApplyToAssets": t.can_apply_to_expenses,
        "CanApplyToEquity": t.can_apply_to_expenses,
        "CanApplyToExpenses": t.can_apply_to_expenses,
        "CanApplyToLiabilities": t.can_apply_to_expenses,
        "CanApplyToRevenue": t.can_apply_to_revenue,
        "DisplayTaxRate": rate,
        "EffectiveRate": rate,
        "Status": t.status,
        "TaxComponents": [
            {
                "Name": c["Name"],
                "Rate": _d(c["Rate"]),
                "IsCompound": bool(c.get("IsCompound", False)),
                "IsNonRecoverable": bool(c.get("IsNonRecoverable", False)),
            }
            for c in t.components
        ],
    }


def currency(c: Currency) -> dict[str, Any]:
    return {"Code": c.code, "Description": c.description}


def tracking_category(c: TrackingCategory, include_archived: bool = False) -> dict[str, Any]:
    return {
        "TrackingCategoryID": str(c.tracking_category_id),
        "Name": c.name,
        "Status": c.status,
        "Options": [
            {
                "TrackingOptionID": str(o.tracking_option_id),
                "Name": o.name,
                "Status": o.status,
            }
            for o in c.options.all()
            if include_archived or o.status == "ACTIVE"
        ],
    }


def tracking_option(o: TrackingOption) -> dict[str, Any]:
    """An option as ``PUT .../Options`` answers it (the spec's example carries the flags)."""
    return {
        "TrackingOptionID": str(o.tracking_option_id),
        "Name": o.name,
        "Status": o.status,
        "HasValidationErrors": False,
        "IsDeleted": o.status == "DELETED",
        "IsArchived": o.status == "ARCHIVED",
        "IsActive": o.status == "ACTIVE",
    }


def branding_theme(b: BrandingTheme) -> dict[str, Any]:
    return {
        "BrandingThemeID": str(b.branding_theme_id),
        "Name": b.name,
        "Type": "INVOICE",
        "SortOrder": b.sort_order,
        "CreatedDateUTC": xjson.ms_date(b.updated_at),
    }


def contact_ref(c: Contact) -> dict[str, Any]:
    data: dict[str, Any] = {"ContactID": str(c.contact_id), "Name": c.name}
    if c.contact_number:
        data["ContactNumber"] = c.contact_number
    return data


def contact(c: Contact) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ContactID": str(c.contact_id),
        "ContactStatus": c.status,
        "Name": c.name,
        "EmailAddress": c.email_address,
        "Addresses": c.extra.get("Addresses", []),
        "Phones": c.extra.get("Phones", []),
        "UpdatedDateUTC": xjson.ms_date(c.updated_at),
        "IsSupplier": bool(c.extra.get("IsSupplier", False)),
        "IsCustomer": bool(c.extra.get("IsCustomer", False)),
        "HasAttachments": False,
        "HasValidationErrors": False,
    }
    for key, value in (
        ("ContactNumber", c.contact_number),
        ("AccountNumber", c.account_number),
        ("FirstName", c.first_name),
        ("LastName", c.last_name),
    ):
        if value:
            data[key] = value
    for key in ("TaxNumber", "DefaultCurrency", "ContactPersons", "CompanyNumber"):
        if key in c.extra:
            data[key] = c.extra[key]
    return data


def item(i: Item, unitdp: int) -> dict[str, Any]:
    def details(d: dict[str, Any]) -> dict[str, Any]:
        out = dict(d)
        if "UnitPrice" in out:
            out["UnitPrice"] = round_unit(_d(out["UnitPrice"]), unitdp)
        return out

    return {
        "ItemID": str(i.item_id),
        "Code": i.code,
        "Name": i.name,
        "Description": i.description,
        "IsSold": i.is_sold,
        "IsPurchased": i.is_purchased,
        "IsTrackedAsInventory": False,
        "SalesDetails": details(i.sales_details),
        "PurchaseDetails": details(i.purchase_details),
        "UpdatedDateUTC": xjson.ms_date(i.updated_at),
    }


def line_items(lines: list[dict[str, Any]], unitdp: int) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        data: dict[str, Any] = {
            "LineItemID": line["LineItemID"],
            "Description": line.get("Description", ""),
            "Quantity": _d(line["Quantity"]),
            "UnitAmount": round_unit(_d(line["UnitAmount"]), unitdp),
            "TaxAmount": _d(line["TaxAmount"]),
            "LineAmount": _d(line["LineAmount"]),
            "Tracking": line.get("Tracking", []),
        }
        for key in ("AccountCode", "ItemCode", "TaxType"):
            if line.get(key):
                data[key] = line[key]
        if line.get("DiscountRate") not in (None, "0", "0.00"):
            data["DiscountRate"] = _d(line["DiscountRate"])
        out.append(data)
    return out


def _document(doc: Invoice | CreditNote, with_lines: bool, unitdp: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": doc.type,
        "Contact": contact_ref(doc.contact),
        "Date": xjson.ms_date(doc.date),
        "DateString": _datestring(doc.date),
        "Status": doc.status,
        "LineAmountTypes": doc.line_amount_types,
        "SubTotal": doc.sub_total,
        "TotalTax": doc.total_tax,
        "Total": doc.total,
        "UpdatedDateUTC": xjson.ms_date(doc.updated_at),
        "CurrencyCode": doc.currency_code,
        "CurrencyRate": doc.currency_rate.normalize(),
        "Reference": doc.reference,
        "SentToContact": doc.sent_to_contact,
        "HasAttachments": False,
        "HasErrors": False,
    }
    if doc.due_date:
        data["DueDate"] = xjson.ms_date(doc.due_date)
        data["DueDateString"] = _datestring(doc.due_date)
    if doc.branding_theme_id:
        data["BrandingThemeID"] = str(doc.branding_theme_id)
    if doc.fully_paid_on:
        data["FullyPaidOnDate"] = xjson.ms_date(doc.fully_paid_on)
    if with_lines:
        data["LineItems"] = line_items(doc.lines, unitdp)
    return data


def invoice(inv: Invoice, *, with_lines: bool = True, unitdp: int = 2) -> dict[str, Any]:
    data = _document(inv, with_lines, unitdp)
    data.update(
        {
            "InvoiceID": str(inv.invoice_id),
            "InvoiceNumber": inv.invoice_number,
            "AmountDue": inv.amount_due,
            "AmountPaid": inv.amount_paid,
            "AmountCredited": inv.amount_credited,
            "TotalDiscount": inv.total_discount,
            "IsDiscounted": inv.total_discount > 0,
            "Payments": [payment_ref(p) for p in inv.payments.all() if p.status != "DELETED"],
            "CreditNotes": [
                {
                    "CreditNoteID": str(a.credit_note.credit_note_id),
                    "CreditNoteNumber": a.credit_note.credit_note_number,
                    "AppliedAmount": a.amount,
                    "Date": xjson.ms_date(a.date),
                    "Total": a.credit_note.total,
                }
                for a in inv.allocations.all()
            ],
            "Prepayments": [],
            "Overpayments": [],
        }
    )
    return data


def credit_note(cn: CreditNote, *, with_lines: bool = True, unitdp: int = 2) -> dict[str, Any]:
    data = _document(cn, with_lines, unitdp)
    data.update(
        {
            "CreditNoteID": str(cn.credit_note_id),
            "CreditNoteNumber": cn.credit_note_number,
            "RemainingCredit": cn.remaining_credit,
            "Allocations": [allocation(a, include_credit_note=False) for a in cn.allocations.all()],
            "Payments": [],
        }
    )
    return data


def payment_ref(p: Payment) -> dict[str, Any]:
    return {
        "PaymentID": str(p.payment_id),
        "Date": xjson.ms_date(p.date),
        "Amount": p.amount,
        "Reference": p.reference,
        "CurrencyRate": p.currency_rate.normalize(),
        "HasAccount": True,
        "HasValidationErrors": False,
    }


def payment(p: Payment) -> dict[str, Any]:
    inv = p.invoice
    return {
        "PaymentID": str(p.payment_id),
        "Date": xjson.ms_date(p.date),
        "Amount": p.amount,
        "BankAmount": p.amount,
        "CurrencyRate": p.currency_rate.normalize(),
        "Reference": p.reference,
        "IsReconciled": False,
        "Status": p.status,
        "PaymentType": "ACCRECPAYMENT" if inv.type == "ACCREC" else "ACCPAYPAYMENT",
        "UpdatedDateUTC": xjson.ms_date(p.updated_at),
        "HasAccount": True,
        "HasValidationErrors": False,
        "Account": {"AccountID": str(p.account.account_id), "Code": p.account.code},
        "Invoice": {
            "InvoiceID": str(inv.invoice_id),
            "InvoiceNumber": inv.invoice_number,
            "Type": inv.type,
            "CurrencyCode": inv.currency_code,
            "Contact": contact_ref(inv.contact),
        },
    }


def allocation(a: Allocation, *, include_credit_note: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "AllocationID": str(a.allocation_id),
        "Amount": a.amount,
        "Date": xjson.ms_date(a.date),
        "Invoice": {
            "InvoiceID": str(a.invoice.invoice_id),
            "InvoiceNumber": a.invoice.invoice_number,
        },
        "IsDeleted": False,
    }
    if include_credit_note:
        data["CreditNote"] = {
            "CreditNoteID": str(a.credit_note.credit_note_id),
            "CreditNoteNumber": a.credit_note.credit_note_number,
        }
    return data

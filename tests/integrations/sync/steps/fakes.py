"""In-memory doubles of the two APIs the sync steps call, for unit tests without simulators.

:class:`FakeXero` subclasses :class:`~integrations.connections.xero.api.XeroApi` and overrides
every method, so mypy holds its signatures to the real ones; its state is Xero-shaped JSON
(PascalCase) parsed with the real ``records`` parsers, so a step sees exactly the typed records
production gives it. Every call is recorded (bodies, Idempotency-Key, arguments). Like Xero it
replays the answer stored for a key it has seen, refuses payments and allocations above what is
owed, and answers a refused element of a batch with its ``ValidationErrors``. A test can tell it
to raise on the next call of a method (``fail_next``; ``applied=True`` makes the write happen
before its answer is lost) or to answer short (``short_next``).

:class:`FakeSalesforce` is the :class:`~integrations.connections.salesforce.reader.PageSource`
the reading steps take: opportunities as the REST API returns them, and just enough of the SOQL
the reader builds (ids, the watermark, won or not, queryAll) to answer its queries.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from integrations.connections.xero import records
from integrations.connections.xero.api import Priority, XeroApi
from integrations.connections.xero.client import XeroValidationError
from integrations.connections.xero.records import (
    Allocation,
    Contact,
    CreditNote,
    Currency,
    Invoice,
    Item,
    Payment,
    TrackingCategory,
    TrackingOption,
)

D = Decimal
ZERO = Decimal(0)
CENT = Decimal("0.01")
HUNDRED = Decimal("100.00")
R = TypeVar("R")
Matcher = Callable[[Mapping[str, Any]], bool]

_TERM = re.compile(r'(\w+)=="((?:[^"\\]|\\.)*)"')


def _round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def where_terms(where: str) -> list[tuple[str, str]]:
    """``A=="x" OR B=="y"`` as [(A, x), (B, y)]; any other form fails the test loudly, so a
    step that starts sending a new kind of filter is noticed rather than silently unmatched."""
    terms = [
        (name, value.replace('\\"', '"').replace("\\\\", "\\"))
        for name, value in _TERM.findall(where)
    ]
    rest = _TERM.sub("", where).replace(" OR ", "").strip()
    assert terms, f"FakeXero does not understand the filter {where!r}"
    assert not rest, f"FakeXero does not understand the filter {where!r}"
    return terms


def _matches(raw: Mapping[str, Any], terms: Sequence[tuple[str, str]]) -> bool:
    # Xero compares strings case-insensitively.
    return any(str(raw.get(name) or "").lower() == value.lower() for name, value in terms)


@dataclass
class Call:
    """One request the step made."""

    method: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    key: str = ""
    """The Idempotency-Key (writes only)."""
    args: dict[str, Any] = field(default_factory=dict)
    """The other arguments: ids, where, create, priority, credit_note_id..."""


@dataclass
class _Plan:
    error: Exception | None = None
    applied: bool = False
    keep: int | None = None


class FakeXero(XeroApi):
    """One Xero organisation in memory (see the module docstring)."""

    def __init__(self, *, base_currency: str = "USD") -> None:
        # No client: every method is answered here (``_json`` fails loudly if one is missed).
        self.base_currency = base_currency
        self.invoices: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.credit_notes: dict[str, dict[str, Any]] = {}
        self.currency_codes: set[str] = {base_currency}
        self.categories: dict[str, dict[str, Any]] = {}
        self.log: list[Call] = []
        self.requests = 0
        self._plans: dict[str, list[_Plan]] = defaultdict(list)
        self._refusals: list[tuple[str, Matcher, tuple[str, ...]]] = []
        self._replays: dict[tuple[str, str], Any] = {}
        self._ids = itertools.count(1)

    # --- what a test tells it ----------------------------------------------------------------

    def fail_next(self, method: str, error: Exception, *, applied: bool = False) -> None:
        """The next call of ``method`` raises ``error``; with ``applied`` the write is done
        first (Xero processed it, its answer was lost)."""
        self._plans[method].append(_Plan(error=error, applied=applied))

    def short_next(self, method: str, *, keep: int = 0) -> None:
        """The next call of ``method`` is processed in full but answers only ``keep`` elements."""
        self._plans[method].append(_Plan(keep=keep))

    def refuse(self, method: str, *messages: str, when: Matcher = lambda body: True) -> None:
        """Xero refuses each element of ``method`` that ``when`` matches, in these words."""
        self._refusals.append((method, when, messages or ("Refused by the test.",)))

    # --- seeding -----------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    def add_contact(
        self, name: str, *, number: str = "", email: str = "", status: str = "ACTIVE"
    ) -> str:
        contact_id = self.new_id("contact")
        self.contacts[contact_id] = {
            "ContactID": contact_id,
            "Name": name,
            "ContactNumber": number,
            "EmailAddress": email,
            "ContactStatus": status,
        }
        return contact_id

    def add_item(self, code: str) -> None:
        self.items[code] = {"ItemID": self.new_id("item"), "Code": code}

    def add_invoice(
        self,
        *,
        status: str = "AUTHORISED",
        lines: Sequence[Mapping[str, Any]] = (),
        total: Decimal = HUNDRED,
        paid: Decimal = ZERO,
        credited: Decimal = ZERO,
        currency: str = "",
        rate: Decimal = ZERO,
        number: str = "",
        reference: str = "",
        contact_id: str = "contact-x",
        line_amount_types: str = "Exclusive",
    ) -> str:
        """An invoice as Xero holds it; ``lines`` (Xero JSON) default to one line of ``total``."""
        invoice_id = self.new_id("inv")
        items = [dict(line) for line in lines] or [
            {
                "Description": "Services",
                "Quantity": D(1),
                "UnitAmount": total,
                "AccountCode": "200",
                "TaxType": "",
            }
        ]
        self.invoices[invoice_id] = {
            "InvoiceID": invoice_id,
            "InvoiceNumber": number or f"INV-{invoice_id[-4:]}",
            "Reference": reference,
            "Type": "ACCREC",
            "Status": status,
            "Contact": {"ContactID": contact_id, "Name": "Acme Corporation"},
            "CurrencyCode": currency or self.base_currency,
            "CurrencyRate": rate or D(1),
            "LineAmountTypes": line_amount_types,
            "LineItems": items,
            "Payments": [],
        }
        self._totals(self.invoices[invoice_id], paid=paid, credited=credited)
        return invoice_id

    def add_category(self, category_id: str, name: str, *options: str) -> None:
        self.categories[category_id] = {
            "TrackingCategoryID": category_id,
            "Name": name,
            "Options": [{"TrackingOptionID": f"opt-{o}", "Name": o} for o in options],
        }

    # --- looking at what happened ------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.log if c.method == method]

    def sent(self, method: str) -> list[dict[str, Any]]:
        """Every body sent to ``method``, in order."""
        return [body for c in self.calls_of(method) for body in c.bodies]

    def invoice(self, invoice_id: str) -> Invoice:
        return Invoice.parse(self.invoices[invoice_id])

    @property
    def calls(self) -> int:
        return self.requests

    # --- the machinery ---------------------------------------------------------------------

    def _json(self, method: str, *args: Any, priority: Priority, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError(f"FakeXero has no answer for {method}: add the method it calls")

    def _totals(self, raw: dict[str, Any], *, paid: Decimal, credited: Decimal) -> None:
        total = ZERO
        for line in raw["LineItems"]:
            discount = D(str(line.get("DiscountRate") or 0))
            amount = _round2(
                D(str(line.get("Quantity") or 1))
                * D(str(line.get("UnitAmount") or 0))
                * (1 - discount / 100)
            )
            line["LineAmount"] = amount
            total += amount
        raw["SubTotal"] = raw["Total"] = total
        raw["AmountPaid"] = paid
        raw["AmountCredited"] = credited
        raw["AmountDue"] = total - paid - credited
        if raw["Status"] == "AUTHORISED" and raw["AmountDue"] <= 0 and (paid or credited):
            raw["Status"] = "PAID"

    def _errors(self, method: str, body: Mapping[str, Any]) -> tuple[str, ...]:
        for name, when, messages in self._refusals:
            if name == method and when(body):
                return messages
        return ()

    def _write(
        self,
        method: str,
        bodies: Sequence[dict[str, Any]],
        key: str,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        parse: Callable[[Mapping[str, Any]], R],
        **args: Any,
    ) -> list[R | None]:
        """Records the call, then answers it as Xero would: a plan, a replay, or each element
        applied (or refused, echoed with its errors)."""
        self.log.append(Call(method, [dict(b) for b in bodies], key, dict(args)))
        self.requests += 1
        plan = self._plans[method].pop(0) if self._plans[method] else None
        if plan is not None and plan.error is not None and not plan.applied:
            raise plan.error
        if (method, key) in self._replays:
            answers: list[dict[str, Any]] = self._replays[method, key]
        else:
            answers = []
            for body in bodies:
                errors = self._errors(method, body)
                if errors:
                    answers.append(
                        {
                            **body,
                            "StatusAttributeString": "ERROR",
                            "ValidationErrors": [{"Message": m} for m in errors],
                        }
                    )
                else:
                    answers.append(apply(dict(body)))
            self._replays[method, key] = answers
        if plan is not None and plan.error is not None:
            raise plan.error
        if plan is not None and plan.keep is not None:
            answers = answers[: plan.keep]
        return records.by_position([parse(a) for a in answers], len(bodies))

    def _read(self, method: str, **args: Any) -> None:
        self.log.append(Call(method, args=dict(args)))
        self.requests += 1
        plan = self._plans[method].pop(0) if self._plans[method] else None
        if plan is not None and plan.error is not None:
            raise plan.error

    # --- invoices ----------------------------------------------------------------------------

    def invoices_by_id(
        self, ids: Sequence[str], *, priority: Priority = Priority.NEW
    ) -> dict[str, Invoice]:
        wanted = sorted(set(ids))
        # The real method sends one request per 50 ids: counted the same way.
        self._read("invoices_by_id", ids=wanted, priority=priority)
        self.requests += max(0, (len(wanted) - 1) // 50)
        return {i: Invoice.parse(self.invoices[i]) for i in wanted if i in self.invoices}

    def invoices_where(self, where: str, *, priority: Priority = Priority.NEW) -> list[Invoice]:
        self._read("invoices_where", where=where, priority=priority)
        terms = where_terms(where)
        return [Invoice.parse(raw) for raw in self.invoices.values() if _matches(raw, terms)]

    def write_invoices(
        self,
        bodies: Sequence[dict[str, Any]],
        *,
        key: str,
        create: bool,
        priority: Priority = Priority.NEW,
    ) -> list[Invoice | None]:
        return self._write(
            "write_invoices",
            bodies,
            key,
            self._put_invoice if create else self._post_invoice,
            Invoice.parse,
            create=create,
            priority=priority,
        )

    def _contact_of(self, body: Mapping[str, Any]) -> dict[str, Any]:
        contact = dict(body.get("Contact") or {})
        for raw in self.contacts.values():
            if raw["ContactID"] == contact.get("ContactID") or (
                contact.get("ContactNumber") and raw["ContactNumber"] == contact["ContactNumber"]
            ):
                return {"ContactID": raw["ContactID"], "Name": raw["Name"]}
        return contact

    def _put_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        invoice_id = self.new_id("inv")
        raw = {
            **body,
            "InvoiceID": invoice_id,
            "InvoiceNumber": body.get("InvoiceNumber") or f"INV-{invoice_id[-4:]}",
            "Reference": body.get("Reference", ""),
            "Contact": self._contact_of(body),
            "CurrencyCode": body.get("CurrencyCode") or self.base_currency,
            "CurrencyRate": body.get("CurrencyRate") or D(1),
            "LineItems": [dict(line) for line in body.get("LineItems") or []],
            "Payments": [],
        }
        self._totals(raw, paid=ZERO, credited=ZERO)
        self.invoices[invoice_id] = raw
        return dict(raw)

    def _post_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = self.invoices.get(str(body.get("InvoiceID", "")))
        if raw is None:
            return self._put_invoice(body)
        if set(body) <= {"InvoiceID", "Status"}:
            raw["Status"] = body["Status"]
            if body["Status"] in ("VOIDED", "DELETED"):
                raw["AmountDue"] = ZERO
            return dict(raw)
        raw.update({k: v for k, v in body.items() if k != "Contact"})
        raw["Contact"] = self._contact_of(body)
        raw["LineItems"] = [dict(line) for line in body.get("LineItems") or []]
        self._totals(raw, paid=raw["AmountPaid"], credited=raw["AmountCredited"])
        return dict(raw)

    # --- contacts and items ------------------------------------------------------------------

    def contacts_where(self, where: str) -> list[Contact]:
        self._read("contacts_where", where=where)
        terms = where_terms(where)
        return [Contact.parse(raw) for raw in self.contacts.values() if _matches(raw, terms)]

    def write_contacts(
        self, bodies: Sequence[dict[str, Any]], *, key: str, create: bool
    ) -> list[Contact | None]:
        return self._write(
            "write_contacts",
            bodies,
            key,
            self._put_contact if create else self._post_contact,
            Contact.parse,
            create=create,
        )

    def _put_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        contact_id = self.new_id("contact")
        self.contacts[contact_id] = {
            "ContactStatus": "ACTIVE",
            "EmailAddress": "",
            **body,
            "ContactID": contact_id,
        }
        return dict(self.contacts[contact_id])

    def _post_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = self.contacts[str(body["ContactID"])]
        raw.update(body)
        return dict(raw)

    def items_where(self, where: str) -> list[Item]:
        self._read("items_where", where=where)
        terms = where_terms(where)
        return [Item.parse(raw) for raw in self.items.values() if _matches(raw, terms)]

    def create_items(self, bodies: Sequence[dict[str, Any]], *, key: str) -> list[Item | None]:
        def put(body: dict[str, Any]) -> dict[str, Any]:
            self.items[str(body["Code"])] = {**body, "ItemID": self.new_id("item")}
            return dict(self.items[str(body["Code"])])

        return self._write("create_items", bodies, key, put, Item.parse)

    # --- payments ------------------------------------------------------------------------------

    def create_payments(
        self, bodies: Sequence[dict[str, Any]], *, key: str
    ) -> list[Payment | None]:
        def pay(body: dict[str, Any]) -> dict[str, Any]:
            invoice = self.invoices[str(body["Invoice"]["InvoiceID"])]
            amount = D(str(body["Amount"]))
            if invoice["Status"] != "AUTHORISED" or amount > invoice["AmountDue"]:
                # Xero's own refusal: the step should never have sent it.
                return {
                    **body,
                    "ValidationErrors": [
                        {"Message": "Payment amount exceeds the amount outstanding."}
                    ],
                }
            payment_id = self.new_id("pay")
            invoice["Payments"].append({"PaymentID": payment_id})
            self._totals(
                invoice,
                paid=invoice["AmountPaid"] + amount,
                credited=invoice["AmountCredited"],
            )
            return {**body, "PaymentID": payment_id}

        return self._write("create_payments", bodies, key, pay, Payment.parse)

    # --- credit notes and their allocations -------------------------------------------------

    def credit_notes_where(self, where: str) -> list[CreditNote]:
        self._read("credit_notes_where", where=where)
        terms = where_terms(where)
        return [CreditNote.parse(raw) for raw in self.credit_notes.values() if _matches(raw, terms)]

    def credit_note(self, credit_note_id: str) -> CreditNote | None:
        self._read("credit_note", credit_note_id=credit_note_id)
        raw = self.credit_notes.get(credit_note_id)
        return CreditNote.parse(raw) if raw is not None else None

    def create_credit_notes(
        self, bodies: Sequence[dict[str, Any]], *, key: str
    ) -> list[CreditNote | None]:
        def put(body: dict[str, Any]) -> dict[str, Any]:
            credit_note_id = self.new_id("cn")
            total = sum(
                (
                    _round2(D(str(line.get("Quantity") or 1)) * D(str(line["UnitAmount"])))
                    for line in body.get("LineItems") or []
                ),
                ZERO,
            )
            raw = {
                **body,
                "CreditNoteID": credit_note_id,
                "CreditNoteNumber": f"CN-{credit_note_id[-4:]}",
                "Total": total,
                "RemainingCredit": total,
                "Allocations": [],
            }
            self.credit_notes[credit_note_id] = raw
            return dict(raw)

        return self._write("create_credit_notes", bodies, key, put, CreditNote.parse)

    def allocate_credit_note(
        self, credit_note_id: str, allocation: dict[str, Any], *, key: str
    ) -> Allocation | None:
        def allocate(body: dict[str, Any]) -> dict[str, Any]:
            note = self.credit_notes[credit_note_id]
            invoice = self.invoices[str(body["Invoice"]["InvoiceID"])]
            amount = D(str(body["Amount"]))
            if amount > invoice["AmountDue"] or amount > note["RemainingCredit"]:
                return {
                    **body,
                    "ValidationErrors": [
                        {"Message": "The allocation exceeds the amount outstanding."}
                    ],
                }
            note["RemainingCredit"] -= amount
            note["Allocations"].append(dict(body))
            self._totals(
                invoice,
                paid=invoice["AmountPaid"],
                credited=invoice["AmountCredited"] + amount,
            )
            return dict(body)

        answers = self._write(
            "allocate_credit_note",
            [allocation],
            key,
            allocate,
            Allocation.parse,
            credit_note_id=credit_note_id,
        )
        return answers[0]

    # --- organisation settings ---------------------------------------------------------------

    def currencies(self) -> list[Currency]:
        self._read("currencies")
        return [Currency(code, ()) for code in sorted(self.currency_codes)]

    def _single(self, method: str, body: dict[str, Any], key: str, **args: Any) -> None:
        # Single-document endpoints answer a refusal with a 400, not an element's errors.
        errors = self._errors(method, body)
        if errors:
            self.log.append(Call(method, [body], key, args))
            self.requests += 1
            raise XeroValidationError(
                "Xero refused the request: " + "; ".join(errors), messages=list(errors)
            )

    def enable_currency(self, code: str, *, key: str) -> Currency | None:
        self._single("enable_currency", {"Code": code}, key)

        def enable(body: dict[str, Any]) -> dict[str, Any]:
            self.currency_codes.add(code)
            return {"Code": code}

        return self._write("enable_currency", [{"Code": code}], key, enable, Currency.parse)[0]

    def tracking_category(self, category_id: str) -> TrackingCategory | None:
        self._read("tracking_category", category_id=category_id)
        raw = self.categories.get(category_id)
        return TrackingCategory.parse(raw) if raw is not None else None

    def create_tracking_option(
        self, category_id: str, name: str, *, key: str
    ) -> TrackingOption | None:
        self._single("create_tracking_option", {"Name": name}, key, category_id=category_id)

        def create(body: dict[str, Any]) -> dict[str, Any]:
            option = {"TrackingOptionID": self.new_id("opt"), "Name": name}
            self.categories[category_id]["Options"].append(option)
            return dict(option)

        return self._write(
            "create_tracking_option",
            [{"Name": name}],
            key,
            create,
            TrackingOption.parse,
            category_id=category_id,
        )[0]


# --- Salesforce ------------------------------------------------------------------------------


def sf_stamp(minute: int) -> str:
    """A SystemModstamp as Salesforce writes it, ``minute`` minutes into 2026-03-02 10:00."""
    stamp = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_opportunity(
    sf_id: str,
    *,
    minute: int = 0,
    name: str = "",
    won: bool = True,
    closed: bool = True,
    deleted: bool = False,
    stage: str = "",
    amount: Decimal = HUNDRED,
    close_date: str = "2026-03-02",
    account_id: str = "001000000000001AAA",
) -> dict[str, Any]:
    """One Opportunity as the REST API answers the reader's query."""
    return {
        "Id": sf_id,
        "Name": name or f"Deal {sf_id[-4:]}",
        "StageName": stage or ("Closed Won" if won else "Closed Lost" if closed else "Proposal"),
        "IsWon": won,
        "IsClosed": closed,
        "IsDeleted": deleted,
        "Amount": amount,
        "CloseDate": close_date,
        "SystemModstamp": sf_stamp(minute),
        "AccountId": account_id,
        "Account": {"Name": "Acme Corporation", "BillingCountry": "United States"},
        "OpportunityLineItems": None,
        "OpportunityContactRoles": None,
    }


_IDS = re.compile(r"Id IN \(([^)]*)\)")
_SINCE = re.compile(r"SystemModstamp >= (\S+)")
_START = re.compile(r"CloseDate >= (\S+)")


class FakeSalesforce:
    """An org's opportunities behind ``query_pages`` (see the module docstring)."""

    def __init__(self, *opportunities: dict[str, Any], page_size: int = 2000) -> None:
        self.opportunities: dict[str, dict[str, Any]] = {o["Id"]: o for o in opportunities}
        self.page_size = page_size
        self.queries: list[tuple[str, bool]] = []
        """Each SOQL sent, with whether it was a queryAll (deleted rows included)."""

    def add(self, *opportunities: dict[str, Any]) -> None:
        self.opportunities.update({o["Id"]: o for o in opportunities})

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        self.queries.append((soql, include_deleted))
        rows = [o for o in self.opportunities.values() if include_deleted or not o["IsDeleted"]]
        ids = _IDS.search(soql)
        if ids:
            wanted = {i.strip().strip("'") for i in ids.group(1).split(",")}
            rows = [o for o in rows if o["Id"] in wanted]
        since = _SINCE.search(soql)
        if since:
            rows = [o for o in rows if o["SystemModstamp"][:19] >= since.group(1)[:19]]
        start = _START.search(soql)
        if "NOT (" in soql:
            rows = [o for o in rows if o["IsDeleted"] or not o["IsWon"]]
        elif "IsWon = true" in soql:
            rows = [o for o in rows if o["IsWon"]]
            if start:
                rows = [o for o in rows if o["CloseDate"] >= start.group(1)]
        if soql.startswith("SELECT COUNT()"):
            yield {"totalSize": len(rows), "done": True, "records": []}
            return
        rows.sort(key=lambda o: (o["SystemModstamp"], o["Id"]))
        for first in range(0, max(len(rows), 1), self.page_size):
            page = rows[first : first + self.page_size]
            yield {
                "records": page,
                "done": first + self.page_size >= len(rows),
                "totalSize": len(rows),
            }

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        raise AssertionError("the fake's child lists are never cut short")

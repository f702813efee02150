"""Reads changed opportunities from Salesforce as neutral records, one SOQL page at a time.

One query per page fetches each opportunity with its Account, its line items (with Product2)
and its primary contact role. ``SystemModstamp`` is indexed but not unique, and late commits
can appear with older stamps, so each read starts ``overlap`` before the watermark and is
ordered by ``(SystemModstamp, Id)``; writes downstream are idempotent, so re-reading is safe.
Child subqueries page on their own: a line-item list that Salesforce cut short is completed by
following its own ``nextRecordsUrl``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from integrations.connections.salesforce.records import (
    Address,
    ContactPerson,
    Customer,
    LineItem,
    Opportunity,
)

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# Opportunity fields may also be one relationship deep, e.g. ``Owner.Name``.
_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}(\.[A-Za-z][A-Za-z0-9_]{0,79})?$")

OPPORTUNITY_FIELDS = (
    "Id",
    "Name",
    "StageName",
    "IsWon",
    "IsClosed",
    "IsDeleted",
    "Amount",
    "CloseDate",
    "SystemModstamp",
    "AccountId",
    "Account.Name",
    "Account.Phone",
    "Account.BillingStreet",
    "Account.BillingCity",
    "Account.BillingState",
    "Account.BillingPostalCode",
    "Account.BillingCountry",
)
LINE_ITEM_FIELDS = (
    "Id",
    "Product2Id",
    "Product2.ProductCode",
    "Product2.Name",
    "Description",
    "Quantity",
    "UnitPrice",
    "TotalPrice",
    "Discount",
    "ServiceDate",
)
CONTACT_ROLE_FIELDS = ("ContactId", "Contact.FirstName", "Contact.LastName", "Contact.Email")


class PageSource(Protocol):
    """What the reader needs of a Salesforce client (``SalesforceClient`` provides it)."""

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def query_more(self, next_records_url: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ReadSpec:
    """Which opportunities to read, and which extra fields the configuration needs."""

    since: dt.datetime | None = None
    """The watermark: the newest ``SystemModstamp`` already processed (None: from the start)."""
    overlap: dt.timedelta = dt.timedelta(minutes=5)
    stage: str | None = None
    """A ``StageName`` that counts as won; None means ``IsWon = true``."""
    start_date: dt.date | None = None
    """Only opportunities closing on or after this date (no surprise back-fill)."""
    multi_currency: bool = False
    """The org has ``CurrencyIsoCode`` (check describe: it exists only in multi-currency orgs)."""
    opportunity_fields: tuple[str, ...] = ()
    account_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self.opportunity_fields:
            if not _FIELD_PATH.match(name):
                raise ValueError(f"not a Salesforce field name: {name!r}")
        for name in self.account_fields:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"not a Salesforce field name: {name!r}")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since must be timezone-aware")


def soql_literal(value: object) -> str:
    """A SOQL literal; strings are escaped, datetimes go out in UTC."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


MAX_IDS_PER_QUERY = 200
"""``Id IN (...)`` holds at most this many ids: the query stays far below SOQL's length limit."""


def select_clause(spec: ReadSpec) -> str:
    """The SELECT clause (fields, line items, primary contact role) shared by every read."""
    fields = [
        *OPPORTUNITY_FIELDS,
        *(["CurrencyIsoCode"] if spec.multi_currency else []),
        *(f for f in spec.opportunity_fields if f not in OPPORTUNITY_FIELDS),
        *(f"Account.{f}" for f in spec.account_fields if f"Account.{f}" not in OPPORTUNITY_FIELDS),
    ]
    lines = f"SELECT {', '.join(LINE_ITEM_FIELDS)} FROM OpportunityLineItems ORDER BY Id"
    roles = (
        f"SELECT {', '.join(CONTACT_ROLE_FIELDS)} FROM OpportunityContactRoles "
        "WHERE IsPrimary = true"
    )
    return f"SELECT {', '.join(fields)}, ({lines}), ({roles}) FROM Opportunity"


def _counted(spec: ReadSpec) -> list[str]:
    """The conditions that make an opportunity count: the won stage and the start date."""
    where = [
        f"StageName = {soql_literal(spec.stage)}" if spec.stage else "IsWon = true",
    ]
    if spec.start_date is not None:
        where.append(f"CloseDate >= {soql_literal(spec.start_date)}")
    return where


def _changed(spec: ReadSpec) -> list[str]:
    """What counts, changed since the watermark (less its overlap) when there is one."""
    where = _counted(spec)
    if spec.since is not None:
        where.insert(1, f"SystemModstamp >= {soql_literal(spec.since - spec.overlap)}")
    return where


def build_soql(spec: ReadSpec) -> str:
    where = _changed(spec)
    return f"{select_clause(spec)} WHERE {' AND '.join(where)} ORDER BY SystemModstamp, Id"


def build_soql_for_ids(spec: ReadSpec, ids: Sequence[str]) -> str:
    """The same read as :func:`build_soql` for the given opportunity ids, ignoring the watermark.

    Used to re-read opportunities whose ledger rows still wait (pending or unknown): the
    watermark query may never return them again. At most :data:`MAX_IDS_PER_QUERY` ids.
    """
    if not ids:
        raise ValueError("no ids to read")
    if len(ids) > MAX_IDS_PER_QUERY:
        raise ValueError(f"at most {MAX_IDS_PER_QUERY} ids per query, got {len(ids)}")
    literals = ", ".join(soql_literal(str(i)) for i in ids)
    where = [f"Id IN ({literals})", *_counted(spec)]
    return f"{select_clause(spec)} WHERE {' AND '.join(where)} ORDER BY SystemModstamp, Id"


STATUS_FIELDS = ("Id", "Name", "StageName", "IsWon", "IsClosed", "IsDeleted", "SystemModstamp")


def build_lifecycle_soql(spec: ReadSpec, since: dt.datetime) -> str:
    """Opportunities changed since ``since`` (less the overlap) that do not count (any more).

    Run with ``queryAll`` so deleted ones are included: together with the counted read this
    sees every change of status. Light fields only: most rows are open deals nobody invoiced.
    """
    counted = " AND ".join(_counted(spec))
    return (
        f"SELECT {', '.join(STATUS_FIELDS)} FROM Opportunity "
        f"WHERE SystemModstamp >= {soql_literal(since - spec.overlap)} "
        f"AND (IsDeleted = true OR NOT ({counted})) ORDER BY SystemModstamp, Id"
    )


def build_status_soql(ids: Sequence[str]) -> str:
    """The status fields of these opportunities (with ``queryAll``: deleted ones too)."""
    if not ids or len(ids) > MAX_IDS_PER_QUERY:
        raise ValueError(f"1 to {MAX_IDS_PER_QUERY} ids per query, got {len(ids)}")
    literals = ", ".join(soql_literal(str(i)) for i in ids)
    return f"SELECT {', '.join(STATUS_FIELDS)} FROM Opportunity WHERE Id IN ({literals})"


def build_count_soql(spec: ReadSpec) -> str:
    """How many opportunities count (from the start date, changed since the watermark if
    any): the progress total of a back-fill or a first sync."""
    return f"SELECT COUNT() FROM Opportunity WHERE {' AND '.join(_changed(spec))}"


def read_opportunities(
    client: PageSource, spec: ReadSpec, *, batch_size: int | None = None
) -> Iterator[Opportunity]:
    """Every matching opportunity as a record, streaming page by page."""
    soql = build_soql(spec)
    for page in client.query_pages(soql, batch_size=batch_size):
        for raw in page.get("records", []):
            yield to_record(raw, spec, client)


def read_opportunities_by_id(
    client: PageSource, spec: ReadSpec, ids: Iterable[str], *, batch_size: int | None = None
) -> Iterator[Opportunity]:
    """The opportunities with these ids that still count, :data:`MAX_IDS_PER_QUERY` per query."""
    unique = sorted(set(ids))
    for start in range(0, len(unique), MAX_IDS_PER_QUERY):
        soql = build_soql_for_ids(spec, unique[start : start + MAX_IDS_PER_QUERY])
        for page in client.query_pages(soql, batch_size=batch_size):
            for raw in page.get("records", []):
                yield to_record(raw, spec, client)


def to_record(raw: dict[str, Any], spec: ReadSpec, client: PageSource) -> Opportunity:
    account = raw.get("Account") or None
    customer = None
    if account and raw.get("AccountId"):
        customer = Customer(
            salesforce_id=str(raw["AccountId"]),
            name=str(account.get("Name") or ""),
            phone=str(account.get("Phone") or ""),
            billing_address=Address(
                street=str(account.get("BillingStreet") or ""),
                city=str(account.get("BillingCity") or ""),
                region=str(account.get("BillingState") or ""),
                postal_code=str(account.get("BillingPostalCode") or ""),
                country=str(account.get("BillingCountry") or ""),
            ),
            fields={f: account.get(f) for f in spec.account_fields},
        )
    lines = tuple(_line(item) for item in _all_children(raw.get("OpportunityLineItems"), client))
    roles = list(_all_children(raw.get("OpportunityContactRoles"), client))
    contact = None
    if roles:
        person = roles[0].get("Contact") or {}
        contact = ContactPerson(
            salesforce_id=str(roles[0].get("ContactId") or ""),
            first_name=str(person.get("FirstName") or ""),
            last_name=str(person.get("LastName") or ""),
            email=str(person.get("Email") or ""),
        )
    return Opportunity(
        salesforce_id=str(raw["Id"]),
        name=str(raw.get("Name") or ""),
        stage=str(raw.get("StageName") or ""),
        is_won=bool(raw.get("IsWon")),
        is_closed=bool(raw.get("IsClosed")),
        is_deleted=bool(raw.get("IsDeleted")),
        amount=_decimal(raw.get("Amount")),
        close_date=_date(raw.get("CloseDate")),
        currency=str(raw["CurrencyIsoCode"]) if raw.get("CurrencyIsoCode") else None,
        system_modstamp=parse_datetime(str(raw["SystemModstamp"])),
        customer=customer,
        primary_contact=contact,
        lines=lines,
        fields={f: _path(raw, f) for f in spec.opportunity_fields},
    )


def _path(raw: dict[str, Any], path: str) -> Any:
    """A field of the record, following one relationship (``Owner.Name``) when dotted."""
    head, _, tail = path.partition(".")
    value = raw.get(head)
    if tail:
        return value.get(tail) if isinstance(value, dict) else None
    return value


def _all_children(result: dict[str, Any] | None, client: PageSource) -> Iterator[dict[str, Any]]:
    while result:
        yield from result.get("records", [])
        if result.get("done", True) or not result.get("nextRecordsUrl"):
            return
        result = client.query_more(str(result["nextRecordsUrl"]))


def _line(item: dict[str, Any]) -> LineItem:
    product = item.get("Product2") or {}
    quantity = _decimal(item.get("Quantity")) or Decimal(0)
    unit_price = _decimal(item.get("UnitPrice")) or Decimal(0)
    discount = _decimal(item.get("Discount"))
    total = _decimal(item.get("TotalPrice"))
    return LineItem(
        salesforce_id=str(item["Id"]),
        product_id=str(item.get("Product2Id") or ""),
        product_code=str(product.get("ProductCode") or ""),
        product_name=str(product.get("Name") or ""),
        description=str(item.get("Description") or ""),
        quantity=quantity,
        unit_price=unit_price,
        total_price=total if total is not None else quantity * unit_price,
        discount_percent=discount if discount else None,
        service_date=_date(item.get("ServiceDate")),
    )


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    # parse_float=Decimal gives Decimals already; integers and strings are converted exactly.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _date(value: object) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def parse_datetime(value: str) -> dt.datetime:
    """Salesforce's ``2024-01-31T10:00:00.000+0000`` (and ``Z``) as an aware datetime."""
    text = value.replace("Z", "+0000")
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(f"not a Salesforce datetime: {value!r}")


def org_has_currency(opportunity_describe: dict[str, Any]) -> bool:
    """``CurrencyIsoCode`` exists only in multi-currency orgs."""
    return any(f.get("name") == "CurrencyIsoCode" for f in opportunity_describe.get("fields", []))

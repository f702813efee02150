"""Neutral records: what the sync knows of a Salesforce opportunity, independent of any API.

The reader builds them from Salesforce; the translation layer (pure, no I/O) turns them into
Xero documents. Money is ``Decimal``; datetimes are timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Address:
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class Customer:
    """The opportunity's Salesforce Account."""

    salesforce_id: str
    name: str
    billing_address: Address | None = None
    phone: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Extra Account fields the configuration asked for (tax, tracking), by API name."""


@dataclass(frozen=True)
class ContactPerson:
    """The opportunity's primary contact role."""

    salesforce_id: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class LineItem:
    salesforce_id: str
    product_id: str
    product_code: str
    product_name: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    total_price: Decimal
    discount_percent: Decimal | None = None
    service_date: dt.date | None = None


@dataclass(frozen=True)
class Opportunity:
    salesforce_id: str
    name: str
    stage: str
    is_won: bool
    is_closed: bool
    is_deleted: bool
    amount: Decimal | None
    close_date: dt.date | None
    currency: str | None
    """``CurrencyIsoCode``; None in a single-currency org (the org's currency applies)."""
    system_modstamp: dt.datetime
    customer: Customer | None
    primary_contact: ContactPerson | None
    lines: tuple[LineItem, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Extra Opportunity fields the configuration asked for, by API name."""


RateTable = dict[str, list[tuple[dt.date, dt.date, Decimal]]]
"""The org's conversion rates by currency: (from, until, units per corporate-currency unit);
dated with advanced currency management, else one static period per currency."""


@dataclass(frozen=True)
class SaveError:
    """One reason Salesforce refused a record of a collection write."""

    status_code: str
    """``FIELD_NOT_UPDATEABLE``, ``ENTITY_IS_DELETED``, ``INSUFFICIENT_ACCESS``..."""
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class SaveResult:
    """Salesforce's answer for one record of a Composite sObject Collections write."""

    record_id: str
    success: bool
    errors: tuple[SaveError, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any], record_id: str) -> SaveResult:
        errors = tuple(
            SaveError(
                status_code=str(e.get("statusCode") or e.get("errorCode") or ""),
                message=str(e.get("message") or ""),
                fields=tuple(str(f) for f in e.get("fields") or []),
            )
            for e in raw.get("errors") or []
            if isinstance(e, Mapping)
        )
        return cls(str(raw.get("id") or record_id), bool(raw.get("success")), errors)

"""The Xero Accounting API as the sync uses it: named methods taking plain bodies and returning
typed records (``records``), so the SDK's untyped models never leave the connections layer.

Every method is one request through :class:`XeroClient` (rate limiter, token refresh, error
mapping, no hidden retries) and counts on ``calls``. Writes take the batch's Idempotency-Key and
answer each element in order (``None`` for an element missing from a short answer: its outcome
is unknown). Reads of documents by id go 50 at a time (a page of Xero holds 100), so a caller
may pass any number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from integrations.connections import ratelimit
from integrations.connections.models import Connection
from integrations.connections.xero import records
from integrations.connections.xero.client import XeroClient, XeroNotFound, xero_client
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

Priority = ratelimit.Priority
IDS_PER_READ = 50
# The most Xero lists in one page of contacts (its default is 100).
CONTACTS_PER_PAGE = 1000


def _chunks(ids: Sequence[str], size: int = IDS_PER_READ) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class XeroApi:
    """One organisation's Accounting API for one sync run (not shared between threads)."""

    def __init__(self, client: XeroClient) -> None:
        self.client = client

    @classmethod
    def for_connection(cls, connection: Connection) -> XeroApi:
        return cls(xero_client(connection))

    @property
    def calls(self) -> int:
        return self.client.calls

    def _json(self, method: str, *args: Any, priority: Priority, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.client.call(
            method, *args, priority=priority, raw=True, **kwargs
        ).data
        return data

    # --- invoices ----------------------------------------------------------------------------

    def invoices_by_id(
        self, ids: Sequence[str], *, priority: Priority = Priority.NEW
    ) -> dict[str, Invoice]:
        """The invoices of those ids that exist, with their lines, by id."""
        found: dict[str, Invoice] = {}
        for group in _chunks(sorted(set(ids))):
            # ``page`` makes Xero include the line items in a list answer.
            body = self._json("get_invoices", i_ds=group, page=1, unitdp=4, priority=priority)
            for invoice in records.parse_list(body, "Invoices", Invoice.parse):
                found[invoice.invoice_id] = invoice
        return found

    def current_invoice(self, invoice_id: str, *, max_wait: float | None = None) -> Invoice | None:
        """One invoice as Xero holds it now, for a person waiting on a page (``max_wait``: how
        long the rate limiter may keep them waiting); None when Xero has no such invoice."""
        try:
            body = self._json(
                "get_invoice", invoice_id, unitdp=4, priority=Priority.UPDATE, max_wait=max_wait
            )
        except XeroNotFound:
            return None
        found = records.parse_list(body, "Invoices", Invoice.parse)
        return found[0] if found else None

    def invoices_where(self, where: str, *, priority: Priority = Priority.NEW) -> list[Invoice]:
        body = self._json("get_invoices", where=where, unitdp=4, priority=priority)
        return records.parse_list(body, "Invoices", Invoice.parse)

    def write_invoices(
        self,
        bodies: Sequence[dict[str, Any]],
        *,
        key: str,
        create: bool,
        priority: Priority = Priority.NEW,
    ) -> list[Invoice | None]:
        """PUT (create only) or POST (update by InvoiceID, or create)."""
        body = self._json(
            "create_invoices" if create else "update_or_create_invoices",
            {"Invoices": list(bodies)},
            summarize_errors=False,
            unitdp=4,
            idempotency_key=key,
            priority=priority,
        )
        return records.by_position(records.parse_list(body, "Invoices", Invoice.parse), len(bodies))

    # --- contacts and items ------------------------------------------------------------------

    def contacts_where(self, where: str) -> list[Contact]:
        return records.parse_list(
            self._json("get_contacts", where=where, priority=Priority.NEW),
            "Contacts",
            Contact.parse,
        )

    def contacts_page(self, page: int, *, page_size: int = CONTACTS_PER_PAGE) -> list[Contact]:
        """One page of the organisation's contacts (archived ones left out, as Xero does by
        default): fewer than ``page_size`` means the last page."""
        return records.parse_list(
            self._json(
                "get_contacts",
                page=page,
                page_size=page_size,
                priority=Priority.NEW,
            ),
            "Contacts",
            Contact.parse,
        )

    def write_contacts(
        self, bodies: Sequence[dict[str, Any]], *, key: str, create: bool
    ) -> list[Contact | None]:
        """PUT creates only (a POST without ContactID would update a namesake, archived ones
        included); POST with ContactID updates that contact."""
        body = self._json(
            "create_contacts" if create else "update_or_create_contacts",
            {"Contacts": list(bodies)},
            summarize_errors=False,
            idempotency_key=key,
            priority=Priority.NEW,
        )
        return records.by_position(records.parse_list(body, "Contacts", Contact.parse), len(bodies))

    def items_where(self, where: str) -> list[Item]:
        return records.parse_list(
            self._json("get_items", where=where, priority=Priority.NEW), "Items", Item.parse
        )

    def create_items(self, bodies: Sequence[dict[str, Any]], *, key: str) -> list[Item | None]:
        body = self._json(
            "create_items",
            {"Items": list(bodies)},
            summarize_errors=False,
            idempotency_key=key,
            priority=Priority.NEW,
        )
        return records.by_position(records.parse_list(body, "Items", Item.parse), len(bodies))

    # --- payments ------------------------------------------------------------------------------

    def create_payments(
        self, bodies: Sequence[dict[str, Any]], *, key: str
    ) -> list[Payment | None]:
        body = self._json(
            "create_payments",
            {"Payments": list(bodies)},
            summarize_errors=False,
            idempotency_key=key,
            priority=Priority.UPDATE,
        )
        return records.by_position(records.parse_list(body, "Payments", Payment.parse), len(bodies))

    # --- credit notes and their allocations -------------------------------------------------

    def credit_notes_where(self, where: str) -> list[CreditNote]:
        body = self._json("get_credit_notes", where=where, priority=Priority.UPDATE)
        return records.parse_list(body, "CreditNotes", CreditNote.parse)

    def credit_note(self, credit_note_id: str) -> CreditNote | None:
        body = self._json("get_credit_note", credit_note_id, priority=Priority.UPDATE)
        found = records.parse_list(body, "CreditNotes", CreditNote.parse)
        return found[0] if found else None

    def create_credit_notes(
        self, bodies: Sequence[dict[str, Any]], *, key: str
    ) -> list[CreditNote | None]:
        body = self._json(
            "create_credit_notes",
            {"CreditNotes": list(bodies)},
            summarize_errors=False,
            unitdp=4,
            idempotency_key=key,
            priority=Priority.UPDATE,
        )
        return records.by_position(
            records.parse_list(body, "CreditNotes", CreditNote.parse), len(bodies)
        )

    def allocate_credit_note(
        self, credit_note_id: str, allocation: dict[str, Any], *, key: str
    ) -> Allocation | None:
        body = self._json(
            "create_credit_note_allocation",
            credit_note_id,
            {"Allocations": [allocation]},
            summarize_errors=False,
            idempotency_key=key,
            priority=Priority.UPDATE,
        )
        found = records.parse_list(body, "Allocations", Allocation.parse)
        return found[0] if found else None

    # --- organisation settings the rules need ------------------------------------------------

    def currencies(self) -> list[Currency]:
        return records.parse_list(
            self._json("get_currencies", priority=Priority.NEW), "Currencies", Currency.parse
        )

    def enable_currency(self, code: str, *, key: str) -> Currency | None:
        body = self._json(
            "create_currency", {"Code": code}, idempotency_key=key, priority=Priority.NEW
        )
        found = records.parse_list(body, "Currencies", Currency.parse)
        return found[0] if found else None

    def tracking_category(self, category_id: str) -> TrackingCategory | None:
        body = self._json("get_tracking_category", category_id, priority=Priority.NEW)
        found = records.parse_list(body, "TrackingCategories", TrackingCategory.parse)
        return found[0] if found else None

    def create_tracking_option(
        self, category_id: str, name: str, *, key: str
    ) -> TrackingOption | None:
        body = self._json(
            "create_tracking_options",
            category_id,
            {"Name": name},
            idempotency_key=key,
            priority=Priority.NEW,
        )
        found = records.parse_list(body, "Options", TrackingOption.parse)
        return found[0] if found else None

"""The baseline: a naive sync, one opportunity at a time, through the same clients and SDK.

What a general-purpose automation tool does for each won opportunity: look the customer up by
name, create it when missing, look each line's product up by code and create it when missing,
then create the invoice. Documents are built by the same pure translation layer as the engine's,
so the two differ only in how they talk to Xero. No ledger, no batching, no idempotency: it is
a yardstick, not a product path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from integrations.connections.salesforce.client import salesforce_client
from integrations.connections.salesforce.reader import (
    ReadSpec,
    org_has_currency,
    read_opportunities,
)
from integrations.connections.xero.client import xero_client
from integrations.connections.xero.where import equals
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.sync.translate import contact_for, invoice_for, item_for


def _ms_date(iso: str) -> str:
    # As the engine sends them: the SDK only parses its own date form back.
    day = dt.datetime.combine(dt.date.fromisoformat(iso), dt.time(), tzinfo=dt.UTC)
    return f"/Date({int(day.timestamp() * 1000)}+0000)/"


def naive_sync(*, integration_id: int, limit: int) -> int:
    """Syncs the first ``limit`` won opportunities one by one; returns how many were sent."""
    integration = Integration.objects.select_related(
        "salesforce_connection", "xero_connection"
    ).get(pk=integration_id)
    assert integration.salesforce_connection is not None
    assert integration.xero_connection is not None
    config = SyncConfig.from_json(integration.config)
    xero = xero_client(integration.xero_connection)
    sent = 0
    with salesforce_client(integration.salesforce_connection) as salesforce:
        spec = ReadSpec(multi_currency=org_has_currency(salesforce.describe("Opportunity")))
        for opportunity in read_opportunities(salesforce, spec, batch_size=2000):
            if sent >= limit:
                break
            contact = contact_for(opportunity, config)
            found = xero.call("get_contacts", where=equals("Name", contact.name)).data
            if found.contacts:
                contact_id = str(found.contacts[0].contact_id)
            else:
                created = xero.call("create_contacts", {"Contacts": [contact.to_xero()]}).data
                contact_id = str(created.contacts[0].contact_id)
            for line in opportunity.lines:
                item = item_for(line, config)
                if not xero.call("get_items", where=equals("Code", item.code)).data.items:
                    xero.call("create_items", {"Items": [item.to_xero()]})
            draft = dataclasses.replace(invoice_for(opportunity, config), contact_id=contact_id)
            body: dict[str, Any] = draft.to_xero()
            for field in ("Date", "DueDate"):
                body[field] = _ms_date(body[field])
            xero.call("create_invoices", {"Invoices": [body]}, unitdp=4)
            sent += 1
    return sent

"""An integration with records that need attention, and credentials a test must never see leak."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun

ACCESS_TOKEN = "xero-access-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
REFRESH_TOKEN = "sf-refresh-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@dataclass
class Failing:
    integration: Integration
    ledgers: list[LedgerEntry]
    entries: list[SyncLogEntry]


def failing_integration(account, *, failures: int = 2) -> Failing:
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id=f"tenant-{account.pk}",
        display_name="Demo Pty Ltd",
        credentials={
            "access_token": ACCESS_TOKEN,
            "refresh_token": "xero-refresh-secret-value-1",
            "expires_at": "2099-01-01T00:00:00+00:00",
        },
    )
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id=f"00D{account.pk:012d}",
        display_name="Acme org",
        credentials={
            "instance_url": "https://acme.my.salesforce.com",
            "refresh_token": REFRESH_TOKEN,
        },
    )
    integration = Integration.objects.create(
        account=account, name="Main", xero_connection=xero, salesforce_connection=salesforce
    )
    run = SyncRun.objects.create(integration=integration)
    ledgers, entries = [], []
    for n in range(failures):
        ledger = LedgerEntry.objects.create(
            integration=integration,
            salesforce_id=f"0065g00000AbCd{n:01d}AAV"[:18],
            opportunity_name=f"Globex renewal {n}",
            customer_name="Globex Corporation",
            state=LedgerEntry.State.FAILED,
            last_error=f"Xero answered 401 to Authorization: Bearer {ACCESS_TOKEN}",
        )
        entry = SyncLogEntry.objects.create(
            run=run,
            integration=integration,
            ledger=ledger,
            salesforce_id=ledger.salesforce_id,
            record_name=ledger.opportunity_name,
            customer_name=ledger.customer_name,
            step="invoice",
            outcome=SyncLogEntry.Outcome.FAILED,
            message=f"GBP is not enabled in Demo Pty Ltd (refresh {REFRESH_TOKEN})",
        )
        ledgers.append(ledger)
        entries.append(entry)
    return Failing(integration=integration, ledgers=ledgers, entries=entries)

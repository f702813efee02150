"""The models of the ``integrations`` app, defined in the layer each belongs to and imported
here so that Django registers them: connections (``connections/models.py``), the integration
and its configuration audit (``core/models.py``), the rule tables (``rules/models.py``) and the
sync's ledger, runs and logs (``sync/models.py``). Code imports them from where they are
defined, never from here.
"""

from integrations.connections.models import Connection
from integrations.core.models import ConfigChange, Integration
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.sync.models import (
    Backfill,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    SyncRun,
    WritebackState,
    XeroWebhookEvent,
)

__all__ = [
    "Backfill",
    "ConfigChange",
    "Connection",
    "CreditNoteEntry",
    "Integration",
    "LedgerEntry",
    "PaymentEntry",
    "PaymentMethod",
    "SyncLogEntry",
    "SyncRun",
    "TaxRule",
    "TrackingRule",
    "WritebackState",
    "XeroWebhookEvent",
]

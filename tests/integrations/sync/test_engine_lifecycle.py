"""Opportunities that stop counting (reopened, lost, deleted) and come back; back-fills.

End to end against both simulators over HTTP, like test_engine.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.xero.client import XeroClient
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.sync.models import Backfill, LedgerEntry, SyncLogEntry, SyncRun, XeroOperation
from integrations.sync.run import sync_integration
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero.models import Invoice as XeroInvoice
from tests.integrations.sync.helpers import WRITES, no_duplicates, ours, won

pytestmark = pytest.mark.django_db(transaction=True)


def _opportunity(sf_id: str) -> SandboxOpportunity:
    return SandboxOpportunity.objects.get(sf_id=sf_id)


def _open_entries(integration: Integration) -> Any:
    return SyncLogEntry.objects.filter(
        integration=integration, outcome__in=("failed", "attention"), dismissed_at__isnull=True
    )


def test_invoiced_opportunity_reopened_lost_or_deleted_needs_a_person(
    integration: Integration, calls: Counter[str]
):
    """The invoice stands (no write), the row needs attention with the reason, once."""
    sync_integration(integration_id=integration.pk)
    reopened, lost, deleted = sorted(won())[:3]
    sf_sandbox.opportunity_set_stage(
        opportunity=_opportunity(reopened), stage_name="Negotiation/Review"
    )
    sf_sandbox.opportunity_set_stage(opportunity=_opportunity(lost), stage_name="Closed Lost")
    sf_sandbox.opportunity_delete(opportunity=_opportunity(deleted))

    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.PARTIAL
    assert not (set(calls) & WRITES), calls
    rows = {
        row.salesforce_id: row
        for row in LedgerEntry.objects.filter(salesforce_id__in=[reopened, lost, deleted])
    }
    assert {r.state for r in rows.values()} == {"needs_attention"}
    assert rows[reopened].withdrawn == "reopened"
    assert "reopened (stage Negotiation/Review)" in rows[reopened].last_error
    assert rows[lost].withdrawn == "lost"
    assert "closed lost (Closed Lost)" in rows[lost].last_error
    assert rows[deleted].withdrawn == "deleted"
    assert "deleted in Salesforce" in rows[deleted].last_error
    for row in rows.values():
        assert row.xero_invoice_number in row.last_error
        assert XeroInvoice.objects.get(invoice_id=row.xero_invoice_id).status == "AUTHORISED"
    assert run.entries.filter(outcome="attention").count() == 3

    # The overlap window sees them again: no second entry for the same news.
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert again.entries.filter(outcome="attention").count() == 0
    assert _open_entries(integration).count() == 3


def test_won_again_or_restored_resolves_and_keeps_the_same_invoice(
    integration: Integration, calls: Counter[str]
):
    sync_integration(integration_id=integration.pk)
    reopened, deleted = sorted(won())[:2]
    sf_sandbox.opportunity_set_stage(opportunity=_opportunity(reopened), stage_name="Prospecting")
    sf_sandbox.opportunity_delete(opportunity=_opportunity(deleted))
    sync_integration(integration_id=integration.pk)
    assert _open_entries(integration).count() == 2

    sf_sandbox.opportunity_set_stage(opportunity=_opportunity(reopened), stage_name="Closed Won")
    sf_sandbox.opportunity_undelete(opportunity=_opportunity(deleted))
    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert calls["create_invoices"] == 0
    for sf_id in (reopened, deleted):
        row = LedgerEntry.objects.get(salesforce_id=sf_id)
        assert row.state == "synced"
        assert row.withdrawn == ""
    assert _open_entries(integration).count() == 0
    assert ours().count() == len(won())
    no_duplicates(integration)


def test_failed_record_that_is_no_longer_won_is_withdrawn_and_resolved(
    integration: Integration,
):
    """A record waiting for a fix that is then lost leaves the attention list by itself."""
    bad = sorted(won())[0]
    SandboxOpportunity.objects.filter(sf_id=bad).update(currency_iso_code="JPY")
    sync_integration(integration_id=integration.pk)
    # JPY is not enabled in Xero: it waits for a person, with the reason.
    assert LedgerEntry.objects.get(salesforce_id=bad).state == "pending"
    assert _open_entries(integration).count() == 1

    sf_sandbox.opportunity_set_stage(opportunity=_opportunity(bad), stage_name="Closed Lost")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    row = LedgerEntry.objects.get(salesforce_id=bad)
    assert row.state == "withdrawn"
    assert row.withdrawn == "lost"
    assert _open_entries(integration).count() == 0
    assert run.entries.filter(outcome="skipped", salesforce_id=bad).exists()
    assert not XeroInvoice.objects.filter(reference=row.opportunity_name).exists()


def test_waiting_row_whose_opportunity_was_deleted_is_not_stranded(integration: Integration):
    """A PENDING row (e.g. a retry) whose opportunity vanished is withdrawn, not re-read forever."""
    sync_integration(integration_id=integration.pk)
    target = sorted(won())[0]
    row = LedgerEntry.objects.get(salesforce_id=target)
    # Not yet invoiced, waiting: as after a rate-limited send.
    LedgerEntry.objects.filter(pk=row.pk).update(
        state="pending", xero_invoice_id="", xero_invoice_number=""
    )
    opportunity = _opportunity(target)
    # Deleted without the lifecycle read seeing it (its stamp is older than the watermark).
    SandboxOpportunity.objects.filter(pk=opportunity.pk).update(
        is_deleted=True, system_modstamp=opportunity.system_modstamp - dt.timedelta(days=30)
    )
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    row.refresh_from_db()
    assert row.state == "withdrawn"
    assert row.withdrawn == "deleted"
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert not again.entries.filter(salesforce_id=target).exists()
    row.refresh_from_db()
    assert row.state == "withdrawn"


def test_short_answer_is_unknown_then_looked_up(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """Xero answering fewer invoices than sent: the missing one is looked up, never re-created."""
    original = XeroClient.call
    dropped: list[str] = []

    def short(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, method, *args, **kwargs)
        if method == "create_invoices" and not dropped:
            invoices = answer.data["Invoices"]
            dropped.append(str(invoices[-1]["Reference"]))
            answer.data["Invoices"] = invoices[:-1]
        return answer

    monkeypatch.setattr(XeroClient, "call", short)
    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    unknown = LedgerEntry.objects.get(integration=integration, state="unknown")
    (op,) = XeroOperation.objects.filter(ledger=unknown, state="unknown")
    assert op.lookup["reference"] == dropped[0]
    assert not first.entries.filter(outcome="failed").exists()

    second = sync_integration(integration_id=integration.pk)
    assert second is not None
    unknown.refresh_from_db()
    assert unknown.state == "synced"
    assert second.entries.filter(message__contains="found in Xero after an interrupted").exists()
    assert ours().count() == len(won())
    no_duplicates(integration)


def test_unknown_outcome_waits_before_its_lookup(integration: Integration, settings: Any):
    """Within the settle window an unknown row is neither looked up nor sent again."""
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 3600
    sync_integration(integration_id=integration.pk)
    row = LedgerEntry.objects.filter(integration=integration).order_by("pk").first()
    assert row is not None
    LedgerEntry.objects.filter(pk=row.pk).update(state="unknown", xero_invoice_id="")
    XeroOperation.objects.filter(ledger=row, kind="invoice").update(
        state="unknown", sent_at=timezone.now()
    )
    XeroInvoice.objects.filter(invoice_id=row.xero_invoice_id).update(status="DELETED")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    row.refresh_from_db()
    assert row.state == "unknown"
    assert run.created_count == 0


def test_backfill_reads_history_before_the_start_date_with_progress(integration: Integration):
    """A start date keeps history out; a back-fill brings it in, counting its progress."""
    closes = sorted(
        SandboxOpportunity.objects.filter(sf_id__in=won()).values_list("close_date", flat=True)
    )
    middle = closes[len(closes) // 2]
    integration.config = {**integration.config, "start_date": middle.isoformat()}
    integration.save()
    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    recent = {
        sf_id
        for sf_id, close in SandboxOpportunity.objects.filter(sf_id__in=won()).values_list(
            "sf_id", "close_date"
        )
        if close >= middle
    }
    assert first.created_count == len(recent) < len(won())

    since = closes[0] - dt.timedelta(days=1)
    backfill = Backfill.objects.create(integration=integration, since=since)
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.trigger == SyncRun.Trigger.BACKFILL
    backfill.refresh_from_db()
    assert backfill.status == Backfill.Status.DONE
    assert backfill.total == len(won())
    assert backfill.processed >= backfill.total
    assert backfill.percent == 100
    assert run.created_count == len(won()) - len(recent)
    assert ours().count() == len(won())
    no_duplicates(integration)


def test_config_start_date_is_validated() -> None:
    from integrations.core.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        SyncConfig.from_json({"start_date": "yesterday"})
    assert caught.value.field == "start_date"
    config = SyncConfig.from_json({"start_date": "2026-01-31", "stage": "Closed Won"})
    assert config.start_date == dt.date(2026, 1, 31)
    assert SyncConfig.from_json(config.to_json()) == config

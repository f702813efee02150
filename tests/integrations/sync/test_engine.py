"""The sync engine end to end: sandbox Salesforce → engine → sandbox Xero over real HTTP."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.connections.salesforce.client import SalesforceClient
from integrations.connections.xero.client import XeroClient
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation
from integrations.sync.run import sync_integration
from integrations.sync.services import ledger_retry
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import AccessToken as SalesforceAccessToken
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.salesforce.models import OpportunityLineItem
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import Currency as XeroCurrency
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import Item as XeroItem
from sandbox.xero.models import XeroOrganisation
from tests.integrations.sync.helpers import WRITES
from tests.integrations.sync.helpers import no_duplicates as _no_duplicates
from tests.integrations.sync.helpers import ours as _ours
from tests.integrations.sync.helpers import won as _won

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_sync_then_rerun_makes_no_writes(integration: Integration, calls: Counter[str]):
    """Every won opportunity becomes one invoice; existing contacts and items are reused."""
    contacts_before = XeroContact.objects.filter(organisation__name=xero_seed.MAIN_ORG).count()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, (
        run.error,
        list(run.entries.values_list("message", flat=True))[:5],
    )
    won = _won()
    assert run.read_count == len(won)
    assert run.created_count == len(won)
    assert _ours().count() == len(won)
    assert (
        set(
            LedgerEntry.objects.filter(integration=integration, state="synced").values_list(
                "salesforce_id", flat=True
            )
        )
        == won
    )
    # The seeded Xero contacts were matched by name, not duplicated.
    names = Counter(
        XeroContact.objects.filter(organisation__name=xero_seed.MAIN_ORG)
        .exclude(status="ARCHIVED")
        .values_list("name", flat=True)
    )
    assert names["Acme Corporation"] == 1
    assert all(count == 1 for count in names.values())
    assert (
        XeroContact.objects.filter(organisation__name=xero_seed.MAIN_ORG).count() > contacts_before
    )
    assert (
        XeroItem.objects.filter(organisation__name=xero_seed.MAIN_ORG, code="WIDGET-S").count() == 1
    )
    entry = SyncLogEntry.objects.filter(run=run, outcome="created").first()
    assert entry is not None
    assert "created for" in entry.message
    assert "line" in entry.message
    assert run.xero_calls == sum(calls.values())
    print(f"\nfirst sync: {run.xero_calls} Xero calls for {run.created_count} invoices")

    calls.clear()
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert again.status == SyncRun.Status.SUCCEEDED
    assert not (set(calls) & WRITES), calls
    assert again.created_count == again.updated_count == 0
    _no_duplicates(integration)


def test_changed_opportunity_updates_its_invoice(integration: Integration, calls: Counter[str]):
    """A changed line updates the same Xero invoice (same InvoiceID, new total)."""
    sync_integration(integration_id=integration.pk)
    line = OpportunityLineItem.objects.filter(opportunity__sf_id__in=_won()).order_by("pk").first()
    assert line is not None
    sf_id = line.opportunity.sf_id
    ledger = LedgerEntry.objects.get(integration=integration, salesforce_id=sf_id)
    before = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity + Decimal(2))

    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.updated_count == 1
    assert run.created_count == 0
    assert calls["update_or_create_invoices"] == 1
    assert calls["create_invoices"] == 0
    after = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    assert after.total > before.total
    assert run.entries.filter(outcome="updated", salesforce_id=sf_id).exists()
    _no_duplicates(integration)


def test_some_invoices_fail_validation_the_others_are_created(integration: Integration):
    """Three invoices Xero refuses fail on their own, with Xero's words; the rest go through.

    Our cached copy of the organisation's settings still lists JPY, which someone has since
    removed in Xero: only Xero can refuse them.
    """
    _stale_jpy(integration)
    bad = sorted(_won())[:3]
    SandboxOpportunity.objects.filter(sf_id__in=bad).update(currency_iso_code="JPY")
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed_count == 3
    assert run.created_count == len(_won()) - 3
    failed = LedgerEntry.objects.filter(integration=integration, state="failed")
    assert set(failed.values_list("salesforce_id", flat=True)) == set(bad)
    for entry in run.entries.filter(outcome="failed"):
        assert "The currency code JPY is not enabled for this organisation." in entry.message
    assert _ours().count() == len(_won()) - 3


def test_unknown_outcome_is_resolved_by_lookup_not_resent(
    integration: Integration, calls: Counter[str]
):
    """A worker killed after Xero answered, before our commit: the next run finds the invoices."""
    sync_integration(integration_id=integration.pk)
    count = _ours().count()
    victims = list(
        LedgerEntry.objects.filter(integration=integration, state="synced").order_by("pk")[:3]
    )
    originals = {v.salesforce_id: v.xero_invoice_id for v in victims}
    # As the killed worker left them: the intent committed, the outcome never recorded.
    LedgerEntry.objects.filter(pk__in=[v.pk for v in victims]).update(
        state="sending", xero_invoice_id="", xero_invoice_number=""
    )
    XeroOperation.objects.filter(ledger__in=victims, kind="invoice").update(
        state="sending", result_id="", result_number=""
    )
    Integration.objects.filter(pk=integration.pk).update(watermark=None)

    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert calls["create_invoices"] == 0
    assert _ours().count() == count
    for sf_id, invoice_id in originals.items():
        row = LedgerEntry.objects.get(integration=integration, salesforce_id=sf_id)
        assert (row.state, row.xero_invoice_id) == ("synced", invoice_id)
    _no_duplicates(integration)


def test_429_in_the_middle_stops_politely_and_the_next_run_completes(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """A rate limit mid-run loses nothing; the watermark stops before unsent work."""
    original = XeroClient.call
    state = {"creates": 0}

    def limited(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, method, *args, **kwargs)
        if method == "create_invoices":
            state["creates"] += 1
            if state["creates"] == 1:
                XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG).update(
                    faults={"force_429": 1}
                )
        return answer

    monkeypatch.setattr(XeroClient, "call", limited)
    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    # Stopped early by the limit (not "some records failed": none did).
    assert first.status == SyncRun.Status.STOPPED
    assert first.failed_count == 0
    assert "limit was reached" in first.error
    assert "The sync resumes where it stopped." in first.error
    assert first.retry_after is not None
    assert 0 < first.created_count < len(_won())
    integration.refresh_from_db()
    assert integration.watermark is not None
    # Polling waits for Xero's Retry-After instead of spending calls on more 429s.
    (wait,) = integration.active_pauses()
    assert (wait.cause, wait.until) == (PauseCause.RATE_LIMIT, first.retry_after)
    from integrations.tasks import poll_integrations

    assert poll_integrations() == 0
    assert not LedgerEntry.objects.filter(integration=integration, state="sending").exists()

    # Nor does a sync started meanwhile (a person's, a push): the wait holds for every run.
    assert sync_integration(integration_id=integration.pk) is None
    # Once the wait is over, the next run completes.
    IntegrationPause.objects.filter(pk=wait.pk).update(until=timezone.now())
    second = sync_integration(integration_id=integration.pk)
    assert second is not None
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert _ours().count() == len(_won())
    _no_duplicates(integration)


def test_celery_poll_runs_the_sync(integration: Integration):
    """Beat's fan-out enqueues one task per running integration; eager, it runs the service."""
    from carrytheone.celery import app
    from integrations.tasks import poll_integrations

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        _poll_and_check(integration, poll_integrations)
    finally:
        app.conf.task_always_eager = previous


def _poll_and_check(integration: Integration, poll_integrations: Any) -> None:
    Integration.objects.create(account=integration.account, name="Off", is_enabled=True)
    assert poll_integrations() == 1
    run = SyncRun.objects.get(integration=integration)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert _ours().count() == len(_won())


def test_a_claimed_integration_is_not_synced_twice(integration: Integration):
    Integration.objects.filter(pk=integration.pk).update(
        sync_claimed_until=timezone.now() + dt.timedelta(minutes=5), sync_claimed_by="other"
    )
    assert sync_integration(integration_id=integration.pk) is None
    assert not SyncRun.objects.exists()


def _faults_on_first(
    monkeypatch: pytest.MonkeyPatch, target: str, faults: dict[str, Any]
) -> dict[str, int]:
    """Sets the sandbox Xero org's ``faults`` for the first ``target`` call only."""
    original = XeroClient.call
    state = {"hit": 0}

    def faulty(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != target or state["hit"]:
            return original(self, method, *args, **kwargs)
        state["hit"] += 1
        XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG).update(faults=faults)
        # A short timeout for the faulted call only: later calls (50-invoice writes on a busy
        # CI machine) keep the normal one.
        normal_timeout = self.timeout
        self.timeout = (1.5, 1.5)
        try:
            return original(self, method, *args, **kwargs)
        finally:
            self.timeout = normal_timeout
            XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG).update(faults={})

    monkeypatch.setattr(XeroClient, "call", faulty)
    return state


@pytest.mark.parametrize(
    "faults",
    [{"error_every": 1}, {"timeout_every": 1, "timeout_seconds": 2.5}],
    ids=["503", "timeout"],
)
def test_lost_invoice_answer_is_unknown_then_settled_on_a_later_run(
    integration: Integration,
    calls: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    faults: dict[str, Any],
):
    """A 503 or timeout on the invoice write: rows UNKNOWN; the next run looks them up first.

    The watermark is then moved past every opportunity, so only the re-read of waiting ledger
    rows by id can find them again.
    """
    state = _faults_on_first(monkeypatch, "create_invoices", faults)
    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    assert state["hit"] == 1
    assert first.status == SyncRun.Status.STOPPED
    assert "answer was lost" in first.error
    unknown = set(
        LedgerEntry.objects.filter(integration=integration, state="unknown").values_list(
            "salesforce_id", flat=True
        )
    )
    assert unknown
    assert unknown <= _won()
    assert not LedgerEntry.objects.filter(integration=integration, state="sending").exists()

    Integration.objects.filter(pk=integration.pk).update(
        watermark=timezone.now() + dt.timedelta(days=1)
    )
    calls.clear()
    second = sync_integration(integration_id=integration.pk)
    assert second is not None
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert second.read_count == len(unknown)
    assert calls["get_invoices"] >= 1  # looked up before anything was re-sent
    assert calls["create_invoices"] == 1
    rows = LedgerEntry.objects.filter(integration=integration, salesforce_id__in=unknown)
    assert set(rows.values_list("state", flat=True)) == {"synced"}
    assert _ours().count() == len(unknown)

    Integration.objects.filter(pk=integration.pk).update(watermark=None)
    third = sync_integration(integration_id=integration.pk)
    assert third is not None
    assert third.status == SyncRun.Status.SUCCEEDED, third.error
    assert _ours().count() == len(_won())
    _no_duplicates(integration)


def test_translation_failure_fails_that_record_with_its_reason(integration: Integration):
    """An opportunity without an Account fails on its own, readably; the others are created."""
    bad = SandboxOpportunity.objects.filter(sf_id__in=_won()).order_by("sf_id").first()
    assert bad is not None
    account = bad.account
    sf_sandbox.opportunity_save(org=bad.org, opportunity=bad, account=None)
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed_count == 1
    assert run.created_count == len(_won()) - 1
    row = LedgerEntry.objects.get(integration=integration, salesforce_id=bad.sf_id)
    assert row.state == "failed"
    assert "has no Account: set its Account in Salesforce." in row.last_error
    entry = run.entries.get(outcome="failed")
    assert entry.salesforce_id == bad.sf_id
    assert entry.message == row.last_error

    # Fixing it in Salesforce changes the opportunity: the next run picks it up by itself.
    sf_sandbox.opportunity_save(org=bad.org, opportunity=bad, account=account)
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    row.refresh_from_db()
    assert row.state == "synced"
    _no_duplicates(integration)


def _stale_jpy(integration: Integration) -> None:
    """Our cached copy of the organisation's settings lists JPY; Xero no longer has it."""
    from integrations.connections.xero.metadata import organisation_metadata

    organisation = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
    jpy = XeroCurrency.objects.create(
        organisation=organisation, code="JPY", description="Yen", updated_at=timezone.now()
    )
    assert integration.xero_connection is not None
    assert "JPY" in organisation_metadata(integration.xero_connection, refresh=True).currencies
    jpy.delete()


def test_retry_after_fixing_the_cause_in_xero(integration: Integration, calls: Counter[str]):
    """A FAILED row stays failed until a person retries it; the retry re-reads it by id."""
    _stale_jpy(integration)
    bad = sorted(_won())[0]
    SandboxOpportunity.objects.filter(sf_id=bad).update(currency_iso_code="JPY")
    sync_integration(integration_id=integration.pk)
    row = LedgerEntry.objects.get(integration=integration, salesforce_id=bad)
    assert row.state == "failed"
    organisation = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
    XeroCurrency.objects.create(
        organisation=organisation, code="JPY", description="Yen", updated_at=timezone.now()
    )

    calls.clear()
    unchanged = sync_integration(integration_id=integration.pk)
    assert unchanged is not None
    assert calls["create_invoices"] == 0
    row.refresh_from_db()
    assert row.state == "failed"

    ledger_retry(entry_id=row.pk)
    row.refresh_from_db()
    assert (row.state, row.content_hash) == ("pending", "")
    # Nothing changed in Salesforce, and the watermark is past everything.
    Integration.objects.filter(pk=integration.pk).update(
        watermark=timezone.now() + dt.timedelta(days=1)
    )
    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.read_count, run.created_count, calls["create_invoices"]) == (1, 1, 1)
    row.refresh_from_db()
    assert row.state == "synced"
    assert row.last_error == ""
    invoice = XeroInvoice.objects.get(invoice_id=row.xero_invoice_id)
    assert invoice.currency_code == "JPY"
    assert _ours().count() == len(_won())
    _no_duplicates(integration)


def test_retry_leaves_an_unknown_outcome_to_its_lookup(integration: Integration):
    """Making an UNKNOWN row PENDING would skip its lookup and could create it twice."""
    row = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id="006000000000001AAA",
        state="unknown",
        content_hash="abc",
    )
    ledger_retry(entry_id=row.pk)
    after = LedgerEntry.objects.get(pk=row.pk)
    assert (after.state, after.content_hash) == ("unknown", row.content_hash)


def test_paid_invoice_changed_needs_attention_and_is_not_written(
    integration: Integration, calls: Counter[str]
):
    sync_integration(integration_id=integration.pk)
    line = OpportunityLineItem.objects.filter(opportunity__sf_id__in=_won()).order_by("pk").first()
    assert line is not None
    sf_id = line.opportunity.sf_id
    ledger = LedgerEntry.objects.get(integration=integration, salesforce_id=sf_id)
    paid = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    XeroInvoice.objects.filter(pk=paid.pk).update(status="PAID", amount_paid=paid.total)
    sf_sandbox.line_item_update(line_item=line, quantity=line.quantity + Decimal(2))

    calls.clear()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.PARTIAL
    assert not (set(calls) & WRITES), calls
    ledger.refresh_from_db()
    assert ledger.state == "needs_attention"
    assert ledger.last_error.startswith("Changed after payment")
    assert run.entries.filter(outcome="attention", salesforce_id=sf_id).exists()
    after = XeroInvoice.objects.get(pk=paid.pk)
    assert (after.total, after.status) == (paid.total, "PAID")

    # It waits for a person: the next run does not write or warn again.
    calls.clear()
    quiet = sync_integration(integration_id=integration.pk)
    assert quiet is not None
    assert not (set(calls) & WRITES), calls
    assert not quiet.entries.exists()


def test_expired_salesforce_session_mid_run_is_refreshed_once(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    """The session dies after the first call; the client refreshes once and the run succeeds."""
    original = SalesforceClient.describe

    def describe_then_expire(self: SalesforceClient, sobject: str) -> dict[str, Any]:
        answer = original(self, sobject)
        SalesforceAccessToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        return answer

    monkeypatch.setattr(SalesforceClient, "describe", describe_then_expire)
    assert integration.salesforce_connection is not None
    salesforce_pk = integration.salesforce_connection.pk
    before = integration.salesforce_connection.credentials["access_token"]
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert _ours().count() == len(_won())
    connection = Connection.objects.get(pk=salesforce_pk)
    assert connection.credentials["access_token"] != before
    assert SalesforceAccessToken.objects.filter(expires_at__gt=timezone.now()).count() == 1

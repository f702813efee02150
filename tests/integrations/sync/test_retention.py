"""Retention: old log entries pruned in batches; open entries, audit rows and the ledger kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from integrations.core.models import Integration
from integrations.sync.models import (
    LedgerEntry,
    RecordAction,
    SyncLogEntry,
    SyncRun,
    XeroWebhookEvent,
)
from integrations.sync.retention import RUNS_KEPT, history_prune, log_prune, runs_prune
from integrations.tasks import prune_sync_logs
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

Outcome = SyncLogEntry.Outcome


@pytest.fixture
def integration(account) -> Integration:
    return Integration.objects.create(account=account, name="Main")


def _entry(integration, *, days_old: float, outcome: str, dismissed: bool = False, run=None):
    created = timezone.now() - dt.timedelta(days=days_old)
    return SyncLogEntry.objects.create(
        integration=integration,
        run=run,
        outcome=outcome,
        message=f"{outcome} {days_old} days ago",
        created_at=created,
        dismissed_at=created if dismissed else None,
    )


def test_old_entries_go_but_open_ones_stay_however_old(integration):
    """Failed and needing-a-person entries not dismissed are kept; dismissed ones and every
    other outcome older than the cutoff are deleted; younger entries are untouched."""
    cutoff = timezone.now() - dt.timedelta(days=90)
    kept = [
        _entry(integration, days_old=400, outcome=Outcome.FAILED),
        _entry(integration, days_old=200, outcome=Outcome.ATTENTION),
        _entry(integration, days_old=10, outcome=Outcome.CREATED),
        _entry(integration, days_old=89, outcome=Outcome.FAILED, dismissed=True),
    ]
    gone = [
        _entry(integration, days_old=91, outcome=Outcome.CREATED),
        _entry(integration, days_old=120, outcome=Outcome.SKIPPED),
        _entry(integration, days_old=95, outcome=Outcome.RESOLVED),
        _entry(integration, days_old=300, outcome=Outcome.FAILED, dismissed=True),
        _entry(integration, days_old=300, outcome=Outcome.ATTENTION, dismissed=True),
        _entry(integration, days_old=100, outcome=Outcome.WARNING),
    ]

    assert log_prune(older_than=cutoff) == len(gone)

    remaining = set(SyncLogEntry.objects.values_list("pk", flat=True))
    assert remaining == {entry.pk for entry in kept}


def test_pruning_goes_in_batches_and_across_integrations(
    account, integration, django_assert_max_num_queries
):
    """Each batch deletes at most ``batch_size`` rows; every integration's old rows go."""
    other = Integration.objects.create(account=AccountFactory.create(), name="Other")
    for owner in (integration, other):
        SyncLogEntry.objects.bulk_create(
            SyncLogEntry(
                integration=owner,
                outcome=Outcome.CREATED,
                message="old",
                created_at=timezone.now() - dt.timedelta(days=100),
            )
            for _ in range(7)
        )
    # 2 integrations x 7 rows in batches of 3: 3 batches each (3, 3, 1), a few statements each.
    with django_assert_max_num_queries(60):
        assert log_prune(older_than=timezone.now() - dt.timedelta(days=90), batch_size=3) == 14
    assert not SyncLogEntry.objects.exists()


def test_audit_rows_survive_and_stay_on_the_record_page(account, integration):
    """A RecordAction of a pruned entry loses only the link: the record page still shows it."""
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=Role.OWNER)
    ledger = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id="0065g00000AbCdEAAV",
        opportunity_name="Globex renewal",
        state=LedgerEntry.State.DISMISSED,
    )
    entry = _entry(integration, days_old=200, outcome=Outcome.FAILED, dismissed=True)
    entry.ledger = ledger
    entry.save(update_fields=["ledger"])
    action = RecordAction.objects.create(
        integration=integration,
        ledger=ledger,
        log_entry=entry,
        user=user,
        action=RecordAction.Action.DISMISS,
        note="Customer paid by cheque",
    )

    assert log_prune(older_than=timezone.now() - dt.timedelta(days=90)) == 1

    action.refresh_from_db()
    assert action.log_entry_id is None
    assert LedgerEntry.objects.filter(pk=ledger.pk).exists()
    from django.test import Client

    client = Client()
    client.force_login(user)
    page = client.get(
        reverse(
            "integrations:record",
            kwargs={
                "account_slug": account.slug,
                "integration_id": integration.pk,
                "ledger_id": ledger.pk,
            },
        )
    )
    assert page.status_code == 200
    assert "Customer paid by cheque" in page.content.decode()


def test_runs_left_empty_go_except_the_newest_and_those_with_entries(integration):
    """An old run is deleted once no entry refers to it, unless it is among the newest
    ``RUNS_KEPT`` of its integration or still running."""
    now = timezone.now()
    old = [
        SyncRun.objects.create(
            integration=integration,
            status=SyncRun.Status.SUCCEEDED,
            started_at=now - dt.timedelta(days=200, minutes=i),
        )
        for i in range(5)
    ]
    SyncRun.objects.filter(pk=old[4].pk).update(status=SyncRun.Status.RUNNING)
    _entry(integration, days_old=200, outcome=Outcome.FAILED, run=old[3])  # open: kept
    newest = [
        SyncRun.objects.create(
            integration=integration,
            status=SyncRun.Status.SUCCEEDED,
            started_at=now - dt.timedelta(days=150, minutes=i),
        )
        for i in range(RUNS_KEPT)
    ]

    assert runs_prune(older_than=now - dt.timedelta(days=90)) == 3

    remaining = set(SyncRun.objects.values_list("pk", flat=True))
    assert remaining == {old[3].pk, old[4].pk, *(run.pk for run in newest)}


def test_runs_billing_counts_are_kept_even_with_a_short_retention(integration):
    """Billing counts the last 30 days' invoices from runs: a 1-day retention keeps them."""
    now = timezone.now()
    for i in range(RUNS_KEPT + 5):
        SyncRun.objects.create(
            integration=integration,
            status=SyncRun.Status.SUCCEEDED,
            started_at=now - dt.timedelta(days=2, minutes=i),
        )
    assert runs_prune(older_than=now - dt.timedelta(days=1)) == 0


def test_history_prune_drops_processed_webhook_events_only(integration):
    old = timezone.now() - dt.timedelta(days=100)
    events = {
        state: XeroWebhookEvent.objects.create(
            key=f"key-{state}",
            tenant_id="t",
            resource_id="r",
            event_category="INVOICE",
            event_type="UPDATE",
            event_date=old,
            state=state,
            received_at=old,
        )
        for state in XeroWebhookEvent.State.values
    }

    result = history_prune(older_than=timezone.now() - dt.timedelta(days=90))

    assert result.webhook_events == 2
    assert list(XeroWebhookEvent.objects.values_list("pk", flat=True)) == [
        events[XeroWebhookEvent.State.PENDING].pk
    ]


def test_the_beat_task_prunes_by_the_configured_age(settings, integration):
    settings.LOG_RETENTION_DAYS = 30
    _entry(integration, days_old=31, outcome=Outcome.UPDATED)
    young = _entry(integration, days_old=29, outcome=Outcome.UPDATED)
    open_entry = _entry(integration, days_old=365, outcome=Outcome.FAILED)

    assert prune_sync_logs.apply().get() == 1

    assert set(SyncLogEntry.objects.values_list("pk", flat=True)) == {young.pk, open_entry.pk}
    assert settings.CELERY_BEAT_SCHEDULE["sync-logs-prune"]["task"] == prune_sync_logs.name

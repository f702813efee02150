"""No page queries per row: the four pages ``make loadtest`` loads, and beat's poll, issue the
same number of queries for 3 rows as for 30 (integrations, records, runs, log entries)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Role
from billing.services import subscription_start_trial
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _integration(account: Account, n: int, rows: int) -> Integration:
    """An integration with both connections and ``rows`` records, each with its run, Xero
    invoice and three log entries."""
    now = timezone.now()

    def connection_(provider: str) -> Connection:
        return Connection.objects.create(
            account=account, provider=provider, external_id=f"{provider}-{n}", credentials={}
        )

    integration = Integration.objects.create(
        account=account,
        name=f"Sync {n}",
        is_enabled=True,
        xero_connection=connection_("xero"),
        salesforce_connection=connection_("salesforce"),
        last_success_at=now,
    )
    for k in range(rows):
        at = now - dt.timedelta(hours=k + 1)
        run = SyncRun.objects.create(
            integration=integration,
            status=SyncRun.Status.SUCCEEDED,
            started_at=at,
            finished_at=at + dt.timedelta(seconds=3),
            read_count=1,
            created_count=1,
        )
        ledger = LedgerEntry.objects.create(
            integration=integration,
            salesforce_id=f"006{n % 1000:03d}{k:012d}",
            opportunity_name=f"Acme deal {k}",
            customer_name="Acme Ltd",
            state=LedgerEntry.State.SYNCED,
            xero_invoice_number=f"INV-{k:04d}",
            invoiced_at=at,
        )
        XeroOperation.objects.create(
            integration=integration,
            kind=XeroOperation.Kind.INVOICE,
            state=XeroOperation.State.DONE,
            subject=f"i{ledger.pk}",
            ledger=ledger,
            sent_at=at,
            finished_at=at,
            created_at=at,
        )
        # Every other record failing for the same cause: the open view groups them.
        for outcome in ("created", "updated", "failed" if k % 2 == 0 else "skipped"):
            message = (
                "Invoice not created: Account code '999' is not a valid code."
                if outcome == "failed"
                else f"Invoice {ledger.xero_invoice_number} {outcome}."
            )
            SyncLogEntry.objects.create(
                run=run,
                integration=integration,
                ledger=ledger,
                salesforce_id=ledger.salesforce_id,
                record_name=ledger.opportunity_name,
                customer_name="Acme Ltd",
                document_number=ledger.xero_invoice_number,
                step="invoice",
                outcome=outcome,
                message=message,
                created_at=at,
            )
    return integration


def _owner(account: Account) -> Client:
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


def _queries(client: Client, url: str) -> int:
    client.get(url)  # the first request of a session may write it, fill caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def _pages(rows: int) -> dict[str, int]:
    """The query count of each page for an account of ``rows`` integrations, each of
    ``rows`` records."""
    account = AccountFactory.create()
    client = _owner(account)
    integrations = [_integration(account, n, rows) for n in range(rows)]
    integration = integrations[0]
    ledger = LedgerEntry.objects.filter(integration=integration).order_by("pk")[rows // 2]
    kwargs = {"account_slug": account.slug, "integration_id": integration.pk}
    return {
        "dashboard": _queries(client, reverse("accounts:dashboard", args=[account.slug])),
        "integration_list": _queries(client, reverse("integrations:list", args=[account.slug])),
        "integration": _queries(client, reverse("integrations:detail", kwargs=kwargs)),
        "record": _queries(
            client, reverse("integrations:record", kwargs={**kwargs, "ledger_id": ledger.pk})
        ),
        "log_search": _queries(client, reverse("integrations:log", kwargs=kwargs) + "?show=all"),
        "log_search_text": _queries(
            client, reverse("integrations:log", kwargs=kwargs) + "?q=acme&show=all"
        ),
        "log_open": _queries(client, reverse("integrations:log", kwargs=kwargs)),
    }


def test_pages_issue_the_same_queries_for_3_and_30_rows():
    few, many = _pages(3), _pages(30)
    assert many == few


def test_beat_poll_issues_the_same_queries_for_3_and_30_integrations(monkeypatch):
    from integrations import tasks

    monkeypatch.setattr(tasks.sync_integration_task, "delay", lambda *a, **kw: None)

    def poll_queries(count: int) -> tuple[int, int]:
        # Each in an account of its own in its trial: the billing step checks every one's
        # organisations for a trial had elsewhere.
        for n in range(count):
            account = AccountFactory.create()
            subscription_start_trial(account=account)
            _integration(account, n + 100 * count, 1)
        with CaptureQueriesContext(connection) as captured:
            polled = tasks.poll_integrations()
        return polled, len(captured.captured_queries)

    few_polled, few = poll_queries(3)
    many_polled, many = poll_queries(30)
    assert (few_polled, many_polled) == (3, 33)
    assert many == few

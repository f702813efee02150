"""The dashboard on the account's home and on the integration's page: the figures, the tables
that carry every chart without JavaScript, the chart data for the script (no inline script),
the live progress card, another account's 404, and a bounded number of queries."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


@pytest.fixture
def integration(account) -> Integration:
    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account,
            provider=provider,
            external_id=f"{provider}-dash",
            display_name=f"{provider.title()} Org",
            credentials={},
        )

    return Integration.objects.create(
        account=account,
        name="Northwind Sync",
        is_enabled=True,
        salesforce_connection=connection("salesforce"),
        xero_connection=connection("xero"),
        last_success_at=timezone.now(),
    )


def _history(integration: Integration, days: int = 30) -> None:
    now = timezone.now()
    for n in range(days):
        at = now - dt.timedelta(days=n)
        XeroOperation.objects.bulk_create(
            XeroOperation(
                integration=integration,
                kind=kind,
                state=XeroOperation.State.DONE,
                subject=f"{kind}-{n}",
                finished_at=at,
            )
            for kind in ("invoice", "invoice", "payment", "credit_note")
        )
        SyncLogEntry.objects.create(
            integration=integration, outcome="failed", step="payment", message="m", created_at=at
        )
        LedgerEntry.objects.create(
            integration=integration,
            salesforce_id=f"006{next(_ids):015d}",
            state=LedgerEntry.State.SYNCED,
            first_seen_won_at=at - dt.timedelta(minutes=2),
            invoiced_at=at,
        )


def _detail(integration: Integration) -> str:
    return reverse(
        "integrations:detail",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def _home(integration: Integration) -> str:
    return reverse("accounts:dashboard", kwargs={"account_slug": integration.account.slug})


def _chart_data(body: str) -> dict[str, object]:
    match = re.search(
        r'<script id="dashboard-data" type="application/json">(.*?)</script>', body, re.S
    )
    assert match, "the chart data is rendered for the script"
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_the_integration_page_shows_the_figures_and_their_tables(integration, support_client):
    _history(integration)
    LedgerEntry.objects.create(integration=integration, salesforce_id="006PENDING00000001")
    IntegrationPause.objects.create(
        integration=integration, cause=PauseCause.CONFIGURATION, message="A tax rate is gone."
    )
    response = support_client.get(_detail(integration))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<span class="figure" id="total-invoices">60</span>' in body
    assert '<span class="figure" id="total-payments">30</span>' in body
    assert '<span class="figure" id="total-credit-notes">30</span>' in body
    assert '<strong class="figure" id="wait-median">2 min</strong>' in body
    assert '<dd class="figure-waiting">1</dd>' in body
    assert "30</a></dd>" in body  # the open failures, linked to the log
    assert "Paused — configuration:</strong> A tax rate is gone." in body
    assert "Xero Org: " in body
    # The no-JavaScript tables: a row per day, the failures by kind of work.
    assert body.count('<details class="chart-table" open>') == 2
    assert body.count('<th scope="row"><time datetime=') == 60
    assert '<th scope="col">Payment</th>' in body
    data = _chart_data(body)
    assert data["documents"]["Invoices"] == [2] * 30  # type: ignore[index]
    assert data["failures"] == {"Payment": [1] * 30}
    # Drawn by static files only: CSP allows no inline script.
    assert '<script src="/static/js/dashboard.js" defer></script>' in body
    assert "<script>" not in body
    assert " style=" not in body


def test_the_account_home_shows_every_integration_at_a_glance(account, integration, owner_client):
    second = Integration.objects.create(account=account, name="Second")
    _history(integration, days=3)
    body = owner_client.get(_home(integration)).content.decode()
    assert f'id="glance-{integration.pk}"' in body
    assert f'id="glance-{second.pk}"' in body
    assert '<span class="figure" id="total-invoices">6</span>' in body
    assert 'Salesforce: <span class="badge badge-health-ok">OK</span>' in body
    assert "Not connected" in body


def test_an_account_without_integrations_has_no_dashboard(owner_client, account):
    body = owner_client.get(reverse("accounts:dashboard", args=[account.slug])).content.decode()
    assert "dashboard-data" not in body
    assert "No integration yet." in body


def test_another_accounts_integration_page_is_404(integration, outsider_client):
    assert outsider_client.get(_detail(integration)).status_code == 404
    own = reverse(
        "integrations:detail",
        kwargs={"account_slug": outsider_client.own_account.slug, "integration_id": integration.pk},
    )
    assert outsider_client.get(own).status_code == 404


def test_another_accounts_data_is_not_on_the_home(integration, outsider_client):
    _history(integration, days=2)
    body = outsider_client.get(
        reverse("accounts:dashboard", args=[outsider_client.own_account.slug])
    ).content.decode()
    assert "Northwind Sync" not in body
    assert "dashboard-data" not in body


def test_query_counts_do_not_grow_with_history_or_integrations(
    account, integration, owner_client, django_assert_max_num_queries
):
    _history(integration, days=5)
    with django_assert_max_num_queries(30):
        assert owner_client.get(_detail(integration)).status_code == 200
    with django_assert_max_num_queries(30):
        assert owner_client.get(_home(integration)).status_code == 200
    for n in range(4):
        other = Integration.objects.create(
            account=account, name=f"More {n}", xero_connection=integration.xero_connection
        )
        _history(other, days=5)
    _history(integration, days=30)
    with django_assert_max_num_queries(30):
        assert owner_client.get(_detail(integration)).status_code == 200
    with django_assert_max_num_queries(30):
        assert owner_client.get(_home(integration)).status_code == 200


# --- live progress ---------------------------------------------------------------------------


def _progress_url(integration: Integration) -> str:
    return reverse(
        "integrations:backfill_progress",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def test_a_first_sync_is_watched_live_until_it_is_done(integration, support_client):
    run = SyncRun.objects.create(
        integration=integration,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        expected_count=2000,
        read_count=500,
    )
    page = support_client.get(_detail(integration)).content.decode()
    assert 'hx-trigger="every 3s"' in page
    card = support_client.get(_progress_url(integration)).content.decode()
    assert "<strong>First sync</strong>" in card
    assert '<span class="figure progress-done">500</span>' in card
    assert '<span class="figure progress-total">2000</span>' in card
    assert "(25%)" in card
    assert '<span class="progress-rate">100 a minute</span>' in card
    assert '<span class="progress-left">about 15 minutes left</span>' in card
    assert 'hx-trigger="every 3s"' in card

    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.SUCCEEDED, read_count=2000, finished_at=timezone.now()
    )
    done = support_client.get(_progress_url(integration)).content.decode()
    assert "hx-trigger" not in done
    assert "First sync" not in done


def test_the_progress_card_of_another_account_is_404(integration, outsider_client):
    assert outsider_client.get(_progress_url(integration)).status_code == 404

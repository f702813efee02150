"""Back-fill pages: start with a date, see progress, cancel; admins only start and cancel."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.setup.services import config_update
from integrations.sync.models import Backfill

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(account) -> Integration:
    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account,
            provider=provider,
            external_id=f"{provider}-1",
            display_name=provider,
            credentials={},
        )

    return Integration.objects.create(
        account=account,
        name="Main",
        salesforce_connection=connection("salesforce"),
        xero_connection=connection("xero"),
    )


def _url(name: str, integration: Integration) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The sync tasks the views enqueue (the engine itself is tested end to end elsewhere)."""
    from integrations.tasks import sync_integration_task

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        sync_integration_task, "delay", lambda *a, **kw: sent.append((*a, kw["trigger"]))
    )
    return sent


def test_admin_starts_a_backfill_that_runs_now(
    integration, admin_client_, queued, django_capture_on_commit_callbacks
):
    since = timezone.localdate() - dt.timedelta(days=400)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(_url("backfill", integration), {"since": since.isoformat()})
    assert response.status_code == 302
    backfill = Backfill.objects.get(integration=integration)
    assert backfill.since == since
    assert backfill.status == Backfill.Status.RUNNING
    assert queued == [(integration.pk, "backfill")]
    page = admin_client_.get(_url("detail", integration))
    assert b"counting" in page.content
    assert b"Cancel back-fill" in page.content


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("tomorrow", "Enter the date as YYYY-MM-DD."),
        ((timezone.localdate() + dt.timedelta(days=2)).isoformat(), "Choose a date in the past"),
        ("1990-01-01", "at most 10 years back"),
    ],
)
def test_bad_dates_are_refused_with_a_reason(integration, admin_client_, queued, since, message):
    response = admin_client_.post(_url("backfill", integration), {"since": since}, follow=True)
    assert message in response.content.decode()
    assert not Backfill.objects.exists()
    assert queued == []


def test_one_running_backfill_at_a_time(integration, admin_client_, queued):
    since = timezone.localdate() - dt.timedelta(days=30)
    Backfill.objects.create(integration=integration, since=since)
    response = admin_client_.post(
        _url("backfill", integration), {"since": since.isoformat()}, follow=True
    )
    assert "already running" in response.content.decode()
    assert Backfill.objects.count() == 1


def test_progress_and_cancel(integration, admin_client_, support_client):
    backfill = Backfill.objects.create(
        integration=integration, since=dt.date(2025, 1, 1), total=200, processed=50
    )
    progress = support_client.get(_url("backfill_progress", integration))
    assert progress.status_code == 200
    body = progress.content.decode()
    assert (
        '<span class="figure progress-done">50</span> of '
        '<span class="figure progress-total">200</span> records (25%)'
    ) in body
    assert 'hx-trigger="every 3s"' in body
    # Support watches but cannot start or cancel.
    assert support_client.post(_url("backfill_cancel", integration)).status_code == 403
    assert (
        support_client.post(_url("backfill", integration), {"since": "2025-01-01"}).status_code
        == 403
    )
    admin_client_.post(_url("backfill_cancel", integration))
    backfill.refresh_from_db()
    assert backfill.status == Backfill.Status.CANCELLED
    done = admin_client_.get(_url("backfill_progress", integration)).content.decode()
    assert "hx-trigger" not in done
    assert "cancelled" in done


def test_changing_the_read_scope_restarts_the_read_but_not_other_changes(integration):
    integration.watermark = timezone.now()
    integration.config = {"tracking": {"keep": "me"}}
    integration.save()
    config_update(integration=integration, data={"invoice_status": "DRAFT"}, user=None)
    integration.refresh_from_db()
    assert integration.watermark is not None
    assert integration.config["tracking"] == {"keep": "me"}
    assert integration.config["invoice_status"] == "DRAFT"
    config_update(integration=integration, data={"stage": "Closed Won"}, user=None)
    integration.refresh_from_db()
    assert integration.watermark is None
    assert integration.config["stage"] == "Closed Won"

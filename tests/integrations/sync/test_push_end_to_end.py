"""Real-time push end to end, nothing patched: a deal closed in the sandbox Salesforce sends a
real Outbound Message over HTTP to the live server's push URL; the endpoint queues the push
run on the broker; a real Celery worker runs it; the invoice appears in the sandbox Xero."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connections

from carrytheone.celery import app as celery_app
from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, PushEndpoint, PushNotification, SyncRun
from integrations.sync.push import push_endpoint_for, push_endpoint_url
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import OutboundDelivery, SalesforceOrg
from tests.integrations.sync import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker() -> Iterator[None]:
    """A Celery worker on the configured broker, in this process (so it sees the test
    database), running tasks as the real one does."""
    celery_app.control.purge()  # nothing left over from other tests' polls
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield
    connections.close_all()


def test_a_deal_won_in_salesforce_is_invoiced_in_xero_within_seconds(
    integration: Integration, sandbox_url: str, settings: Any, worker: None
):
    settings.SITE_URL = sandbox_url
    settings.XERO_LIMIT_PER_MINUTE = 60
    settings.XERO_LIMIT_PER_DAY = 5000
    org = SalesforceOrg.objects.get(name="Demo Widgets Ltd")
    connection = integration.salesforce_connection
    assert connection is not None
    connection.external_id = org.org_id
    connection.save(update_fields=["external_id"])
    assert h.sync(integration).status == SyncRun.Status.SUCCEEDED
    # What `seed_demo --connect-sandbox` does: the org's Outbound Messages go to our push URL.
    org.outbound_url = push_endpoint_url(push_endpoint_for(integration=integration))
    org.save(update_fields=["outbound_url"])

    acme = h.won_of("Acme Corporation")
    started = time.monotonic()
    deal = sf_sandbox.opportunity_save(
        org=org,
        name="Acme Corporation - Closed just now",
        account=acme.account,
        stage_name="Closed Won",
        close_date=acme.close_date,
        amount=Decimal("777.00"),
    )
    _wait_for(lambda: h.ours().filter(reference=deal.name).exists(), timeout=30, what="the invoice")
    elapsed = time.monotonic() - started
    delivery = OutboundDelivery.objects.get(record_id=deal.sf_id)
    assert delivery.status == OutboundDelivery.Status.DELIVERED, delivery.last_error
    # The invoice exists in Xero a moment before the run has recorded Xero's answer.
    _wait_for(
        lambda: LedgerEntry.objects.filter(
            integration=integration, salesforce_id=deal.sf_id, state=LedgerEntry.State.SYNCED
        ).exists(),
        timeout=10,
        what="the ledger row synced",
    )
    assert h.ours().get(reference=deal.name).sub_total == Decimal("777.00")
    pushes = SyncRun.objects.filter(integration=integration, trigger=SyncRun.Trigger.PUSH)
    run = _wait_for(
        lambda: pushes.filter(finished_at__isnull=False).first(), timeout=10, what="the run"
    )
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.created_count == 1
    assert pushes.count() == 1
    assert PushEndpoint.objects.get(integration=integration).last_message_at is not None
    _wait_for(
        lambda: not PushNotification.objects.exists(), timeout=10, what="the pending set to empty"
    )
    # "Within seconds": a window, a Salesforce read and one Xero write.
    assert elapsed < 15, elapsed
    h.no_duplicates(integration)

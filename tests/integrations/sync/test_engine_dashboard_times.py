"""What the dashboard reads from a real run (sandbox Salesforce → engine → sandbox Xero): a
first sync counts what it reads; each row records when it was first seen won (the opportunity's
SystemModstamp, Salesforce's clock) and when Xero confirmed its invoice; history a person
imports with a back-fill is invoiced but not timed as "won now"."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.core.models import Integration
from integrations.sync.models import Backfill, LedgerEntry
from integrations.sync.run import sync_integration
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from tests.integrations.sync.helpers import won

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_sync_and_backfill_record_what_the_dashboard_shows(integration: Integration):
    closes = sorted(
        SandboxOpportunity.objects.filter(sf_id__in=won()).values_list("close_date", flat=True)
    )
    middle = closes[len(closes) // 2]
    integration.config = {**integration.config, "start_date": middle.isoformat()}
    integration.save()
    before = dt.datetime.now(dt.UTC)
    first = sync_integration(integration_id=integration.pk)
    assert first is not None
    assert first.expected_count == first.read_count == first.created_count > 0
    live = list(LedgerEntry.objects.filter(integration=integration))
    assert len(live) == first.created_count
    for row in live:
        assert row.first_seen_won_at == row.system_modstamp
        assert row.invoiced_at is not None
        assert row.invoiced_at >= before

    # A rerun finds nothing new: the times stay those of the first sight and the first invoice.
    times = {row.pk: (row.first_seen_won_at, row.invoiced_at) for row in live}
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert again.expected_count is None
    assert {
        row.pk: (row.first_seen_won_at, row.invoiced_at)
        for row in LedgerEntry.objects.filter(pk__in=times)
    } == times

    Backfill.objects.create(integration=integration, since=closes[0] - dt.timedelta(days=1))
    sync_integration(integration_id=integration.pk)
    history = LedgerEntry.objects.filter(integration=integration).exclude(pk__in=times)
    assert history.exists()
    assert not history.filter(first_seen_won_at__isnull=False).exists()
    assert not history.filter(invoiced_at__isnull=True).exists()

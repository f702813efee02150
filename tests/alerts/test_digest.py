"""The daily digest: once a day per account that chose it, after the configured hour, with
what is open (and its fix) and the day before's figures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from alerts.digest import alert_digest_queue, digests_due
from alerts.models import AlertDelivery, AlertSettings
from alerts.tasks import send_digests
from integrations.connections.models import Connection
from integrations.sync.models import SyncLogEntry

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 12, 4, 8, 30, tzinfo=dt.UTC)


def test_the_digest_goes_once_a_day_to_accounts_that_chose_it(
    integration, evaluate, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_DIGEST_HOUR = 7
    assert digests_due(now=MORNING) == []  # nobody chose it
    AlertSettings.objects.create(account=integration.account, daily_digest=True)
    assert digests_due(now=MORNING.replace(hour=6)) == []  # before the hour
    assert digests_due(now=MORNING) == [integration.account_id]

    Connection.objects.filter(pk=integration.xero_connection_id).update(status="needs_reauth")
    evaluate(integration)
    yesterday = MORNING - dt.timedelta(days=1)
    for outcome in ("created", "created", "failed"):
        SyncLogEntry.objects.create(
            integration=integration, outcome=outcome, message="-", created_at=yesterday
        )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert len(alert_digest_queue(account_id=integration.account_id, now=MORNING)) == 1
        # The same day again (a second beat, a rerun): nothing more.
        assert alert_digest_queue(account_id=integration.account_id, now=MORNING) == []
    assert digests_due(now=MORNING) == []
    (email,) = mail.outbox
    assert email.subject == "[CarryTheOne] Daily digest for Acme: 1 open alert(s)"
    assert sorted(email.to) == ["admin@acme.test", "owner@acme.test"]
    assert "- 2 invoice(s) and other documents created in Xero" in email.body
    assert "- 1 record(s) failed or needed a person" in email.body
    assert "Reconnect Xero for Main" in email.body
    assert f"/integrations/{integration.pk}/xero/connect/" in email.body
    assert AlertDelivery.objects.get(kind="digest").digest_for == MORNING.date()


def test_the_beat_task_sends_the_due_digests(integration, settings):
    settings.ALERT_DIGEST_HOUR = 0
    AlertSettings.objects.create(account=integration.account, daily_digest=True)
    assert send_digests() == 1
    assert send_digests() == 0
    assert AlertDelivery.objects.filter(kind="digest").count() == 1

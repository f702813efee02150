"""The beat task evaluates every switched-on integration (and any with an incident open) and
re-queues messages a broker lost."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from alerts.models import AlertDelivery, Incident
from alerts.tasks import evaluate_alerts
from integrations.connections.models import Connection

pytestmark = pytest.mark.django_db


def test_the_beat_task_opens_incidents_and_sends_lost_messages(
    integration, django_capture_on_commit_callbacks
):
    Connection.objects.filter(pk=integration.xero_connection_id).update(status="needs_reauth")
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_alerts() == 1
    assert Incident.objects.get().kind == "reauth"
    assert len(mail.outbox) == 1

    # A message whose task the broker lost: never attempted, queued long ago.
    AlertDelivery.objects.update(
        sent_at=None, attempts=0, created_at=timezone.now() - dt.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts()
    assert len(mail.outbox) == 2
    assert AlertDelivery.objects.get().sent_at is not None

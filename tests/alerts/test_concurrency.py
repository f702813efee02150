"""Two workers evaluating the same integration at the same moment open one incident and send
one message per channel (PostgreSQL: real concurrent transactions)."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection as db_connection

from alerts.models import AlertDelivery, Incident
from alerts.services import alerts_evaluate
from integrations.connections.models import Connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(integration_id: int, workers: int = 4) -> None:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            alerts_evaluate(integration_id=integration_id)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_evaluations_open_one_incident_and_send_once(integration, with_slack):
    Connection.objects.filter(pk=integration.xero_connection_id).update(status="needs_reauth")
    _race(integration.pk)
    assert Incident.objects.count() == 1
    assert AlertDelivery.objects.filter(kind="opened").count() == 2  # email + Slack
    assert len(mail.outbox) == 1
    assert len(with_slack.posts) == 1

    Connection.objects.filter(pk=integration.xero_connection_id).update(status="active")
    _race(integration.pk)
    assert AlertDelivery.objects.filter(kind="recovered").count() == 2
    assert len(mail.outbox) == 2
    assert len(with_slack.posts) == 2

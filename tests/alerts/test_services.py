"""Each kind of incident is told once per channel however often it is evaluated, once more
when it clears, and anew if it comes back; failed records never cause one message each."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core import mail
from django.utils import timezone

from alerts.models import AlertDelivery, AlertSettings, Incident
from integrations.connections.models import Connection
from integrations.core.models import IntegrationPause, PauseCause
from integrations.sync.models import PushEndpoint, SyncLogEntry

pytestmark = pytest.mark.django_db


def _deliveries(kind: str) -> list[AlertDelivery]:
    return list(AlertDelivery.objects.filter(kind=kind).order_by("id"))


def _needs_reauth(connection: Connection | None, *, active: bool = False) -> None:
    assert connection is not None
    connection.status = Connection.Status.ACTIVE if active else Connection.Status.NEEDS_REAUTH
    connection.last_error = "" if active else "The refresh token was revoked."
    connection.save()


def test_reauth_is_told_once_per_channel_then_recovers_then_reopens(
    integration, evaluate, with_slack
):
    _needs_reauth(integration.xero_connection)
    for _ in range(3):
        evaluate(integration)
    incident = Incident.objects.get()
    assert (incident.kind, incident.key, incident.resolved_at) == ("reauth", "xero", None)
    (email,) = mail.outbox
    assert email.subject == "[CarryTheOne] Reconnect Xero for Main (Acme)"
    assert sorted(email.to) == ["admin@acme.test", "owner@acme.test"]  # not support
    assert "The refresh token was revoked." in email.body
    slug = integration.account.slug
    fix = f"https://app.example/a/{slug}/integrations/{integration.pk}/xero/connect/"
    assert fix in email.body
    (text,) = with_slack.texts
    assert "Reconnect Xero for Main" in text
    assert f"<{fix}|Reconnect Xero>" in text
    assert all(d.sent_at for d in AlertDelivery.objects.all())

    # Reconnected: one recovery message per channel, however often evaluated.
    _needs_reauth(integration.xero_connection, active=True)
    evaluate(integration)
    evaluate(integration)
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert incident.recovery_notified_at is not None
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[CarryTheOne] Xero is reconnected for Main (Acme)"
    assert len(with_slack.posts) == 2

    # The same problem again is a new incident, told again.
    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
    assert len(mail.outbox) == 3
    assert len(with_slack.posts) == 3


def test_reauth_hides_the_failing_runs_and_silence_it_causes(integration, evaluate, settings):
    settings.SYNC_FAILURE_ALERT_AFTER = 0
    _needs_reauth(integration.salesforce_connection)
    integration.failing_since = timezone.now() - dt.timedelta(hours=3)
    integration.last_success_at = timezone.now() - dt.timedelta(hours=3)
    integration.save()
    evaluate(integration)
    assert list(Incident.objects.values_list("kind", flat=True)) == ["reauth"]
    assert len(mail.outbox) == 1


def test_sync_failing_waits_for_the_threshold_then_one_message_and_one_recovery(
    integration, evaluate, settings
):
    settings.SYNC_FAILURE_ALERT_AFTER = 600
    now = timezone.now()
    integration.failing_since = now - dt.timedelta(seconds=300)
    integration.last_failure = "Xero's token endpoint unavailable"
    integration.save()
    evaluate(integration, now)
    assert mail.outbox == []  # not for long enough
    for minutes in range(6, 15):
        evaluate(integration, now + dt.timedelta(minutes=minutes))
    (email,) = mail.outbox
    assert email.subject == "[CarryTheOne] Syncing is failing for Main (Acme)"
    assert "Xero's token endpoint unavailable" in email.body
    assert f"/integrations/{integration.pk}/log/" in email.body

    integration.failing_since = None
    integration.save()
    evaluate(integration)
    evaluate(integration)
    assert [m.subject for m in mail.outbox][1:] == [
        "[CarryTheOne] Syncing has recovered for Main (Acme)"
    ]


def test_a_configuration_problem_is_one_incident_until_fixed(integration, evaluate):
    integration.config_problems = [
        {
            "field": "sales_account_code",
            "message": "Sales account 299 does not exist.",
            "behaviour": "invoices",
        },
        {
            "field": "sales_account_code",
            "message": "Sales account 299 does not exist.",
            "behaviour": "credit_notes",
        },
    ]
    integration.save()
    evaluate(integration)
    # A second problem found later: the same incident, not another message.
    integration.config_problems.append(
        {"field": "default_currency", "message": "JPY is not enabled.", "behaviour": "currencies"}
    )
    integration.save()
    evaluate(integration)
    (email,) = mail.outbox
    assert email.subject == "[CarryTheOne] Check the settings of Main (Acme)"
    assert "holds back: credit notes, invoices" in email.body
    assert f"/integrations/{integration.pk}/setup/" in email.body
    incident = Incident.objects.get()
    assert "JPY is not enabled." in incident.detail  # the panel shows what is true now
    assert incident.affected == 3

    integration.config_problems = []
    integration.save()
    evaluate(integration)
    assert mail.outbox[1].subject == "[CarryTheOne] The settings of Main check out again (Acme)"


def test_a_configuration_pause_is_a_configuration_incident(integration, evaluate):
    IntegrationPause.objects.create(
        integration=integration, cause=PauseCause.CONFIGURATION, message="GBP is not enabled."
    )
    integration.last_success_at = timezone.now() - dt.timedelta(days=1)
    integration.save()
    evaluate(integration)
    assert list(Incident.objects.values_list("kind", flat=True)) == ["config_problem"]
    assert "GBP is not enabled." in mail.outbox[0].body


def _fail(integration, count: int, *, start: int = 0) -> None:
    SyncLogEntry.objects.bulk_create(
        SyncLogEntry(
            integration=integration,
            salesforce_id=f"006{n:015d}",
            outcome=SyncLogEntry.Outcome.FAILED,
            message="GBP is not enabled in Demo Pty Ltd",
        )
        for n in range(start, start + count)
    )


def test_failures_past_the_threshold_are_one_incident_not_one_per_record(
    integration, evaluate, with_slack
):
    AlertSettings.objects.filter(account=integration.account).update(failure_threshold=10)
    _fail(integration, 9)
    evaluate(integration)
    assert mail.outbox == []
    _fail(integration, 1, start=9)
    evaluate(integration)
    _fail(integration, 40, start=10)
    # The same record failing again in a later run is still one record.
    _fail(integration, 5)
    evaluate(integration)
    (email,) = mail.outbox
    assert email.subject == "[CarryTheOne] 10 records of Main need a person (Acme)"
    assert Incident.objects.get().affected == 50
    assert len(with_slack.posts) == 1

    # Fixed down to six: still above half the threshold, still the same incident.
    SyncLogEntry.objects.filter(salesforce_id__gte=f"006{6:015d}").update(
        dismissed_at=timezone.now()
    )
    evaluate(integration)
    assert Incident.objects.get().resolved_at is None
    assert len(mail.outbox) == 1
    SyncLogEntry.objects.update(dismissed_at=timezone.now())
    evaluate(integration)
    recovered = "[CarryTheOne] The failed records of Main are dealt with (Acme)"
    assert mail.outbox[1].subject == recovered
    assert len(with_slack.posts) == 2


def test_stalled_while_deals_may_wait_then_recovers(integration, evaluate, settings):
    settings.SYNC_POLL_INTERVAL = 60
    AlertSettings.objects.create(account=integration.account, stalled_after_minutes=60)
    integration.last_success_at = timezone.now() - dt.timedelta(minutes=59)
    integration.save()
    evaluate(integration)
    assert mail.outbox == []
    integration.last_success_at = timezone.now() - dt.timedelta(minutes=61)
    integration.save()
    evaluate(integration)
    evaluate(integration)
    (email,) = mail.outbox
    assert "Nothing has synced for Main since" in email.subject
    integration.last_success_at = timezone.now()
    integration.save()
    evaluate(integration)
    assert mail.outbox[1].subject == "[CarryTheOne] Main is syncing again (Acme)"


def test_stalled_under_healthy_push_needs_waiting_deals(integration, evaluate, settings):
    settings.PUSH_HEALTHY_POLL_INTERVAL = 900
    AlertSettings.objects.create(account=integration.account, stalled_after_minutes=30)
    PushEndpoint.objects.create(
        integration=integration, token="x", token_digest="d", last_message_at=timezone.now()
    )
    # 40 minutes is under three of push's 15-minute polls: expected, not stalled.
    integration.last_success_at = timezone.now() - dt.timedelta(minutes=40)
    integration.save()
    evaluate(integration)
    assert not Incident.objects.exists()
    # Long silent, but push works and nothing is known to wait: nothing is held back.
    integration.last_success_at = timezone.now() - dt.timedelta(hours=2)
    integration.save()
    evaluate(integration)
    assert not Incident.objects.exists()
    integration.ledger.create(salesforce_id="006000000000000001", state="pending")
    evaluate(integration)
    assert Incident.objects.get().kind == "stalled"
    assert "1 won deal wait for Xero." in mail.outbox[0].body


def test_switching_off_closes_what_was_open(integration, evaluate):
    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    integration.is_enabled = False
    integration.save()
    evaluate(integration)
    assert Incident.objects.get().resolved_at is not None
    assert mail.outbox[1].subject.startswith("[CarryTheOne] Closed: Main was switched off")


def test_slack_failures_are_recorded_without_the_url_and_retried(integration, evaluate, with_slack):
    with_slack.statuses = [500, 503]  # then 200
    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    delivery = AlertDelivery.objects.get(channel="slack")
    assert delivery.sent_at is not None
    assert delivery.attempts == 3
    assert delivery.error == ""
    assert len(with_slack.posts) == 1
    assert len(mail.outbox) == 1  # the email went at its first attempt, once


def test_a_slack_delivery_that_keeps_failing_says_why(integration, evaluate, with_slack, caplog):
    from alerts import tasks

    caplog.set_level(logging.DEBUG)  # not even urllib3's request lines name the URL
    with_slack.statuses = [404] * (tasks.DELIVERY_RETRIES + 1)
    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    delivery = AlertDelivery.objects.get(channel="slack")
    assert delivery.sent_at is None
    assert delivery.attempts == tasks.DELIVERY_RETRIES + 1
    assert delivery.error == "The webhook answered 404: no_service"
    assert "s3cr3tt0ken" not in caplog.text
    # An unreachable webhook: the error names the kind of failure, never the URL.
    AlertSettings.objects.update(slack_webhook={"url": "http://127.0.0.1:9/services/s3cr3tt0ken"})
    from alerts.delivery import DeliveryError, alert_delivery_send

    AlertDelivery.objects.filter(pk=delivery.pk).update(claimed_until=None)
    with pytest.raises(DeliveryError):
        alert_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.error == "The webhook could not be reached (ConnectionError)."
    assert "s3cr3tt0ken" not in caplog.text


def test_a_sent_message_is_never_sent_again(integration, evaluate):
    from alerts.delivery import alert_delivery_send

    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    (delivery,) = AlertDelivery.objects.all()
    assert alert_delivery_send(delivery_id=delivery.pk) is False
    assert len(mail.outbox) == 1


def test_a_closed_account_ends_its_incidents_quietly(integration, evaluate):
    _needs_reauth(integration.xero_connection)
    evaluate(integration)
    integration.account.closed_at = timezone.now()
    integration.account.save()
    evaluate(integration)
    assert Incident.objects.get().resolved_at is not None
    assert len(mail.outbox) == 1

"""The Salesforce Outbound Message endpoint and the "Real-time push" page.

The endpoint verifies the sender (the URL's token, the organisation) before storing anything,
records each notification once, answers Ack only after the commit, and queues a run on commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from carrytheone.celery import app as celery_app
from integrations.connections.crypto import decrypt_str
from integrations.connections.models import Connection
from integrations.core.models import ConfigChange, Integration
from integrations.sync.models import (
    PushEndpoint,
    PushNotification,
    PushReceipt,
    SyncLogEntry,
)
from integrations.sync.push import push_endpoint_for, push_endpoint_url, push_health
from tests.push_messages import ORG, outbound_message

pytestmark = pytest.mark.django_db

OPP_A = "0065g00000AbCdAAAV"
OPP_B = "0065g00000AbCdBAAV"
OPP_C = "0065g00000AbCdCAAV"


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """The tasks published to the broker (name, args, countdown)."""
    sent: list[tuple[str, Any, Any]] = []

    def send_task(name: str, args: Any = None, countdown: Any = None, **_: Any) -> None:
        sent.append((name, args, countdown))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return sent


def _integration(account: Account) -> Integration:
    salesforce = Connection.objects.create(
        account=account, provider="salesforce", external_id=ORG, display_name="SF", credentials={}
    )
    return Integration.objects.create(
        account=account, name="Main", salesforce_connection=salesforce
    )


def _token(integration: Integration) -> str:
    return decrypt_str(push_endpoint_for(integration=integration).token)


def _post(token: str, body: bytes, **extra: Any) -> Any:
    url = reverse("push_salesforce_outbound", kwargs={"token": token})
    return Client().post(url, body, content_type="text/xml; charset=utf-8", **extra)


@pytest.fixture
def integration(account: Account) -> Integration:
    return _integration(account)


def test_a_message_with_several_notifications_is_recorded_and_acked_after_commit(
    integration, queued, django_capture_on_commit_callbacks
):
    body = outbound_message([("04l1", OPP_A), ("04l2", OPP_B), ("04l3", OPP_A)])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(_token(integration), body)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.content
    pending = PushNotification.objects.filter(integration=integration)
    assert sorted(pending.values_list("salesforce_id", flat=True)) == [OPP_A, OPP_B]
    assert PushReceipt.objects.filter(integration=integration).count() == 3
    # Queued only once committed, one run for the whole batch, a window from now.
    assert len(callbacks) == 1
    assert queued == [("integrations.tasks.sync_push", [integration.pk], 1.0)]
    health = push_health(integration=integration)
    assert (health.messages_24h, health.notifications_24h, health.failures_24h) == (1, 3, 0)
    assert health.healthy


def test_a_burst_of_messages_makes_one_scheduled_run(
    integration, queued, django_capture_on_commit_callbacks
):
    token = _token(integration)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(50):
            assert _post(token, outbound_message([(f"04l{n}", OPP_A)])).status_code == 200
    assert len(queued) == 1


def test_the_same_delivery_twice_does_nothing_twice(
    integration, queued, django_capture_on_commit_callbacks
):
    token = _token(integration)
    body = outbound_message([("04l1", OPP_A)])
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(token, body).status_code == 200
    first = PushNotification.objects.get().received_at
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = _post(token, body)
    assert again.status_code == 200
    assert b"<Ack>true</Ack>" in again.content
    assert PushNotification.objects.get().received_at == first
    assert PushReceipt.objects.count() == 1
    assert not callbacks
    assert not queued


def test_a_15_character_org_id_is_the_same_org(integration, queued):
    response = _post(_token(integration), outbound_message([("04l1", OPP_A)], org=ORG[:15]))
    assert response.status_code == 200


# Another org; the same letters in another case (org ids are case-sensitive).
@pytest.mark.parametrize("org", ["00D5g000004ZxYaEAK", "00D5G000004ZxYzEAK"])
def test_a_wrong_organisation_is_refused_and_logged(integration, queued, org):
    response = _post(_token(integration), outbound_message([("04l1", OPP_A)], org=org))
    assert response.status_code == 403
    assert b"faultstring" in response.content
    assert b"not the one this integration is connected to" in response.content
    assert not PushNotification.objects.exists()
    assert not PushReceipt.objects.exists()
    assert not queued
    entry = SyncLogEntry.objects.get(integration=integration)
    assert entry.run is None
    assert entry.outcome == SyncLogEntry.Outcome.FAILED
    assert org in entry.message


def test_malformed_soap_is_a_fault_and_refusals_are_logged_at_most_every_few_minutes(
    integration, queued
):
    token = _token(integration)
    for body in (b"<oops", b"<root/>", outbound_message([("04l1", "nope")])):
        response = _post(token, body)
        assert response.status_code == 400
        assert b"<faultcode>soapenv:Client</faultcode>" in response.content
    assert not PushNotification.objects.exists()
    assert not queued
    # Three refusals, one log entry: a flood cannot fill the database; the tally counts all.
    entry = SyncLogEntry.objects.get(integration=integration)
    assert "not well-formed XML" in entry.message
    assert push_health(integration=integration).failures_24h == 3


def test_an_unknown_token_is_404_and_stores_nothing(integration, queued):
    push_endpoint_for(integration=integration)
    response = _post("no-such-token", outbound_message([("04l1", OPP_A)]))
    assert response.status_code == 404
    assert b"No integration receives messages at this URL" in response.content
    assert not PushNotification.objects.exists()
    assert not SyncLogEntry.objects.exists()


def test_a_rotated_token_is_404_and_logged_and_the_new_one_works(
    integration, account, admin_client_, queued
):
    old = _token(integration)
    response = admin_client_.post(
        reverse(
            "integrations:setup_push_rotate",
            kwargs={"account_slug": account.slug, "integration_id": integration.pk},
        )
    )
    assert response.status_code == 302
    new = _token(integration)
    assert new != old
    refused = _post(old, outbound_message([("04l1", OPP_A)]))
    assert refused.status_code == 404
    assert b"was replaced" in refused.content
    assert not PushNotification.objects.exists()
    assert "old push URL" in SyncLogEntry.objects.get(integration=integration).message
    assert _post(new, outbound_message([("04l1", OPP_A)])).status_code == 200
    change = ConfigChange.objects.get(integration=integration, what="push_url")
    assert old not in change.old + change.new


def test_an_oversized_body_is_413(integration, settings, queued):
    settings.PUSH_MAX_BODY_BYTES = 2000
    token = _token(integration)
    big = outbound_message([(f"04l{n}", OPP_A) for n in range(40)])
    assert len(big) > 2000
    response = _post(token, big)
    assert response.status_code == 413
    # A body longer than its Content-Length says is caught while reading, too.
    lying = _post(token, big, CONTENT_LENGTH="10")
    assert lying.status_code in (400, 413)
    assert not PushNotification.objects.exists()
    assert "larger than 2000 bytes" in SyncLogEntry.objects.get(integration=integration).message


def test_only_post(integration):
    url = reverse("push_salesforce_outbound", kwargs={"token": _token(integration)})
    assert Client().get(url).status_code == 405


# --- the page ----------------------------------------------------------------------------------


def _page(account: Account, integration: Integration) -> str:
    return reverse(
        "integrations:setup_push",
        kwargs={"account_slug": account.slug, "integration_id": integration.pk},
    )


def test_the_page_shows_the_url_the_salesforce_steps_and_health(
    integration, account, support_client, queued
):
    page = support_client.get(_page(account, integration))
    assert page.status_code == 200
    html = page.content.decode()
    endpoint = PushEndpoint.objects.get(integration=integration)
    assert push_endpoint_url(endpoint) in html
    assert "Record-Triggered Flow" in html
    assert "Outbound Message" in html
    assert "Send Session ID" in html
    # Support reads; the buttons are for owners and admins.
    assert "Rotate URL" not in html
    for name in ("setup_push_rotate", "setup_push_test"):
        url = reverse(
            f"integrations:{name}",
            kwargs={"account_slug": account.slug, "integration_id": integration.pk},
        )
        assert support_client.post(url).status_code == 403
    assert push_endpoint_url(PushEndpoint.objects.get(integration=integration)) in html


def test_send_a_test_message_shows_whether_one_arrived(integration, account, owner_client, queued):
    test_url = reverse(
        "integrations:setup_push_test",
        kwargs={"account_slug": account.slug, "integration_id": integration.pk},
    )
    assert owner_client.post(test_url).status_code == 302
    assert "Nothing yet" in owner_client.get(_page(account, integration)).content.decode()
    # A message with no notifications at all answers the check.
    assert _post(_token(integration), outbound_message([])).status_code == 200
    html = owner_client.get(_page(account, integration)).content.decode()
    assert "A message arrived" in html
    assert "Last message received" in html


def test_the_integration_page_shows_push_health(integration, account, owner_client, queued):
    detail = reverse(
        "integrations:detail",
        kwargs={"account_slug": account.slug, "integration_id": integration.pk},
    )
    assert "Not set up" in owner_client.get(detail).content.decode()
    _post(_token(integration), outbound_message([("04l1", OPP_A), ("04l2", OPP_B)]))
    _post(_token(integration), b"<broken")
    html = owner_client.get(detail).content.decode()
    assert "Receiving" in html
    assert "Messages in the last 24 h: 1 (2 opportunities)" in html
    assert "Refused in the last 24 h: 1" in html


def test_push_stops_counting_as_healthy_when_messages_stop(integration, queued):
    _post(_token(integration), outbound_message([("04l1", OPP_C)]))
    later = timezone.now() + dt.timedelta(hours=2)
    assert push_health(integration=integration).healthy
    assert not push_health(integration=integration, now=later).healthy

"""The Xero webhook endpoint: the sender verified before anything is stored, answered fast."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.sync.models import XeroWebhookEvent
from tests.integrations.connections.xero.test_webhooks import sign

KEY = "endpoint-test-key"
URL = "/webhooks/xero/"


@pytest.fixture(autouse=True)
def key(settings: Any) -> None:
    settings.XERO_WEBHOOK_KEY = KEY


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The processing tasks the endpoint queues (processing is tested in the sync's tests)."""
    from integrations.core import queue

    sent: list[list[int]] = []
    monkeypatch.setattr(queue, "enqueue_xero_webhook", lambda *, event_ids: sent.append(event_ids))
    from integrations.sync import writeback

    monkeypatch.setattr(
        writeback, "enqueue_xero_webhook", lambda *, event_ids: sent.append(event_ids)
    )
    return sent


def event(**fields: Any) -> dict[str, Any]:
    return {
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/x",
        "resourceId": "9f0e8d7c-0000-0000-0000-000000000001",
        "eventDateUtc": "2026-12-03T10:15:39.902",
        "eventType": "UPDATE",
        "eventCategory": "INVOICE",
        "tenantId": "11111111-2222-3333-4444-555555555555",
        "tenantType": "ORGANISATION",
        **fields,
    }


def payload(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "events": list(events),
            "firstEventSequence": 1 if events else 0,
            "lastEventSequence": len(events),
            "entropy": "QWERTYUIOPASDFGHJKLZ",
        }
    ).encode()


def post(client: Client, body: bytes, signature: str | None) -> Any:
    headers = {} if signature is None else {"x-xero-signature": signature}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_the_url_is_named():
    assert reverse("integrations:xero_webhook") == URL


@pytest.mark.django_db
def test_intent_to_receive_200_for_a_good_signature_401_for_a_bad_one(client: Client, queued):
    body = payload()
    good = post(client, body, sign(body, KEY))
    assert good.status_code == 200
    assert good.content == b""
    bad = post(client, body, sign(body, KEY + "-wrong"))
    assert bad.status_code == 401
    assert bad.content == b""
    missing = post(client, body, None)
    assert missing.status_code == 401
    assert missing.content == b""
    assert XeroWebhookEvent.objects.count() == 0
    assert queued == []


@pytest.mark.django_db
def test_a_badly_signed_event_is_refused_and_nothing_is_stored(client: Client, queued):
    body = payload(event())
    response = post(client, body, sign(body, "not-our-key"))
    assert response.status_code == 401
    assert response.content == b""
    # Signed correctly, but for other bytes: a tampered body.
    tampered = post(client, body.replace(b"UPDATE", b"CREATE"), sign(body, KEY))
    assert tampered.status_code == 401
    assert XeroWebhookEvent.objects.count() == 0
    assert queued == []


@pytest.mark.django_db
def test_no_key_configured_refuses_every_delivery(client: Client, settings: Any, queued):
    settings.XERO_WEBHOOK_KEY = ""
    body = payload(event())
    assert post(client, body, sign(body, "")).status_code == 401
    assert XeroWebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_malformed_json_with_a_good_signature_is_400_with_the_reason(client: Client, queued):
    body = b'{"events": [ {"resourceId": '
    response = post(client, body, sign(body, KEY))
    assert response.status_code == 400
    assert b"not JSON" in response.content
    missing = payload(event(eventDateUtc=None))
    response = post(client, missing, sign(missing, KEY))
    assert response.status_code == 400
    assert b"eventDateUtc" in response.content
    assert XeroWebhookEvent.objects.count() == 0
    assert queued == []


@pytest.mark.django_db
def test_events_are_stored_and_their_processing_queued(
    client: Client, queued, django_capture_on_commit_callbacks
):
    body = payload(event(), event(resourceId="9f0e8d7c-0000-0000-0000-000000000002"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, sign(body, KEY))
    assert response.status_code == 200
    assert response.content == b""
    rows = list(XeroWebhookEvent.objects.order_by("pk"))
    assert [r.state for r in rows] == ["pending", "pending"]
    assert rows[0].event_category == "INVOICE"
    assert rows[0].sequence == 2
    assert [sorted(ids) for ids in queued] == [[r.pk for r in rows]]


@pytest.mark.django_db
def test_a_repeated_delivery_does_nothing_twice(
    client: Client, queued, django_capture_on_commit_callbacks
):
    body = payload(event())
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, sign(body, KEY)).status_code == 200
        # Xero retries what it did not see answered; the same event in a new delivery too.
        assert post(client, body, sign(body, KEY)).status_code == 200
        again = payload(event(), event(resourceId="9f0e8d7c-0000-0000-0000-000000000003"))
        assert post(client, again, sign(again, KEY)).status_code == 200
    assert XeroWebhookEvent.objects.count() == 2
    assert len(queued) == 2
    assert len(queued[0]) == 1
    assert len(queued[1]) == 1


@pytest.mark.django_db
def test_get_is_not_allowed(client: Client):
    assert client.get(URL).status_code == 405

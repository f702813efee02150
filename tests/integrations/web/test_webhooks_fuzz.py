"""The Xero webhook under hostile input: never a 5xx, nothing stored unless signed, and a
signed delivery stored whole (every event) or not at all; what is stored can be processed.

The signature is computed here over whatever the body is, so the parsing and storing behind the
check is reached by garbage too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from integrations.sync.models import XeroWebhookEvent
from integrations.sync.writeback import webhook_events_process
from tests.hostile import (
    EDGE_DATES,
    FUZZ,
    HUGE_INTS,
    JSON_VALUES,
    RANDOM_BYTES,
    TEXT,
    deeply_nested_json,
)
from tests.integrations.connections.xero.test_webhooks import sign
from tests.integrations.web.test_xero_webhook import KEY, URL, event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def key(settings: Any) -> None:
    settings.XERO_WEBHOOK_KEY = KEY


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations.sync import writeback

    monkeypatch.setattr(writeback, "enqueue_xero_webhook", lambda *, event_ids: None)


def _post(client: Client, body: bytes, signature: str | None, content_type: str) -> Any:
    headers = {} if signature is None else {"x-xero-signature": signature}
    return client.post(URL, data=body, content_type=content_type, headers=headers)


CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/plain", "application/xml", "multipart/form-data; boundary=x", ""]
)
EVENT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "tenantId": st.one_of(TEXT, JSON_VALUES),
        "resourceId": st.one_of(TEXT, JSON_VALUES),
        "eventCategory": st.one_of(st.sampled_from(["INVOICE", "CREDITNOTE", "CONTACT"]), TEXT),
        "eventType": st.one_of(st.sampled_from(["CREATE", "UPDATE"]), TEXT),
        "eventDateUtc": st.one_of(EDGE_DATES, JSON_VALUES),
    },
)
PAYLOADS = st.fixed_dictionaries(
    {"events": st.lists(st.builds(lambda f: event(**f), EVENT_FIELDS), max_size=5)},
    optional={
        "lastEventSequence": st.one_of(HUGE_INTS, JSON_VALUES),
        "firstEventSequence": JSON_VALUES,
    },
)


@FUZZ
@given(body=RANDOM_BYTES, content_type=CONTENT_TYPES, signed=st.booleans())
@example(body=deeply_nested_json(100_000), content_type="application/json", signed=True)
@example(body=b'{"events": {}}', content_type="application/json", signed=True)
@example(body=b"\xff\xfe{", content_type="application/json", signed=True)
def test_random_bytes_are_refused_and_nothing_is_stored(
    client: Client, body: bytes, content_type: str, signed: bool
) -> None:
    before = XeroWebhookEvent.objects.count()
    response = _post(client, body, sign(body, KEY) if signed else None, content_type)
    assert response.status_code in (200, 400, 401)
    if response.status_code != 200:
        assert XeroWebhookEvent.objects.count() == before
    if response.status_code == 400:
        assert response.content.startswith(b"Not a Xero webhook payload: ")


@FUZZ
@given(data=PAYLOADS, wrong_key=TEXT.filter(lambda k: k != KEY))
def test_a_payload_signed_with_another_key_stores_nothing(
    client: Client, data: dict[str, Any], wrong_key: str
) -> None:
    body = json.dumps(data).encode("utf-8", "surrogatepass")
    before = XeroWebhookEvent.objects.count()
    signature = sign(body, wrong_key) if wrong_key else ""
    response = _post(client, body, signature, "application/json")
    assert response.status_code == 401
    assert response.content == b""
    assert XeroWebhookEvent.objects.count() == before


@FUZZ
@given(data=PAYLOADS)
@example(data={"events": [event()], "lastEventSequence": 2**64})
@example(data={"events": [event(eventDateUtc="0001-01-01T00:00:00+01:00")]})
@example(data={"events": [event(eventDateUtc="9999-12-31T23:59:59-01:00")]})
@example(data={"events": [event(tenantId="tenant\x00")]})
@example(data={"events": [event(resourceId="\ud800")]})
def test_a_signed_payload_is_stored_whole_or_refused_and_its_events_process(
    client: Client, data: dict[str, Any]
) -> None:
    """Valid envelopes with wrong types, ids and extreme values: a 400 saying why and nothing
    stored, or a 200 with every event of the delivery stored once; processing them records an
    outcome on each instead of raising."""
    body = json.dumps(data).encode("utf-8", "surrogatepass")
    before = set(XeroWebhookEvent.objects.values_list("pk", flat=True))
    response = _post(client, body, sign(body, KEY), "application/json")
    assert response.status_code in (200, 400), response.content
    added = list(XeroWebhookEvent.objects.exclude(pk__in=before).values_list("pk", flat=True))
    if response.status_code == 400:
        assert response.content.startswith(b"Not a Xero webhook payload: ")
        assert added == []
        return
    assert response.content == b""
    keys = set(XeroWebhookEvent.objects.filter(pk__in=added).values_list("key", flat=True))
    # Whole: each distinct event is a row (none was there before: earlier examples' rows are
    # excluded by key below).
    from integrations.connections.xero.webhooks import parse_payload

    expected = {e.key for e in parse_payload(body)}
    assert (
        keys
        | set(
            XeroWebhookEvent.objects.filter(pk__in=before, key__in=expected).values_list(
                "key", flat=True
            )
        )
        == expected
    )
    webhook_events_process(event_ids=added)
    assert not XeroWebhookEvent.objects.filter(
        pk__in=added, state=XeroWebhookEvent.State.PENDING
    ).exists()

"""Xero's webhook signature and payload, as the endpoint checks and reads them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from integrations.connections.xero.webhooks import (
    WebhookPayloadError,
    parse_payload,
    signature_valid,
)

KEY = "test-webhook-key"


def sign(body: bytes, key: str = KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_the_signature_is_the_base64_hmac_sha256_of_the_exact_body():
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"X"}'
    assert signature_valid(body, sign(body), KEY)
    assert not signature_valid(body + b" ", sign(body), KEY)
    assert not signature_valid(body, sign(body, "other"), KEY)
    assert not signature_valid(body, "", KEY)
    # No key configured: nothing can be verified, so nothing is accepted.
    assert not signature_valid(body, sign(body, ""), "")


def test_events_are_parsed_with_their_ids_type_and_utc_date():
    body = json.dumps(
        {
            "events": [
                {
                    "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/abc",
                    "resourceId": "0a1b2c3d-0000-0000-0000-000000000001",
                    "eventDateUtc": "2026-12-03T10:15:39.902",
                    "eventType": "UPDATE",
                    "eventCategory": "INVOICE",
                    "tenantId": "11111111-2222-3333-4444-555555555555",
                    "tenantType": "ORGANISATION",
                }
            ],
            "firstEventSequence": 7,
            "lastEventSequence": 7,
            "entropy": "ABC",
        }
    ).encode()
    [event] = parse_payload(body)
    assert event.category == "INVOICE"
    assert event.event_type == "UPDATE"
    assert event.resource_id == "0a1b2c3d-0000-0000-0000-000000000001"
    assert event.event_date == dt.datetime(2026, 12, 3, 10, 15, 39, 902000, tzinfo=dt.UTC)
    assert event.sequence == 7
    # The same event delivered again is the same key; another date is another event.
    assert parse_payload(body)[0].key == event.key
    later = body.replace(b"39.902", b"40.000")
    assert parse_payload(later)[0].key != event.key


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"entropy": "x"}', "events is missing"),
        (b'{"events": [1]}', "event 0 is not an object"),
        (b'{"events": [{"tenantId": "t", "eventCategory": "INVOICE"}]}', "resourceId"),
        (
            b'{"events": [{"tenantId": "t", "resourceId": "r", "eventCategory": "INVOICE",'
            b' "eventType": "UPDATE", "eventDateUtc": "yesterday"}]}',
            "not a date",
        ),
    ],
)
def test_a_body_that_is_not_a_payload_says_why(body: bytes, reason: str):
    with pytest.raises(WebhookPayloadError, match=reason):
        parse_payload(body)

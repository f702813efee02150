"""Sentry: off without a DSN; every event scrubbed of secrets before it is sent."""

from __future__ import annotations

import json
from typing import Any

import sentry_sdk
from django.conf import settings

from carrytheone.scrub import FILTERED, scrub_text
from carrytheone.sentry import before_send

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNpZ24"


def _event() -> dict[str, Any]:
    return {
        "request": {
            "url": "https://app.example.com/integrations/xero/callback/",
            "query_string": "code=one-time-code-123&state=abc",
            "headers": {
                "Authorization": f"Bearer {JWT}",
                "Cookie": "sessionid=s3ss10n; csrftoken=csrf123",
                "User-Agent": "Mozilla/5.0",
            },
            "cookies": {"sessionid": "s3ss10n"},
            "data": {"client_secret": "shh-secret", "code_verifier": "v3r1f13r", "note": "hello"},
        },
        "exception": {
            "values": [
                {
                    "type": "ProviderError",
                    "value": (
                        'token endpoint said {"refresh_token": "r3fr3sh"} for sk_live_abcdefgh12345'
                    ),
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "refresh",
                                "vars": {
                                    "password": "hunter2hunter2",
                                    "tokens": {"access_token": "acc355"},
                                    "account_code": "200",
                                },
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": {
            "values": [{"message": f"POST /token Authorization: Bearer {JWT}", "category": "http"}]
        },
        "extra": {"sf_session": "00D5g000004XyZq!AQ4AQFakeSessionTokenValue1234567890"},
    }


def test_before_send_masks_every_secret_and_keeps_the_rest():
    event = before_send(_event(), {})
    text = json.dumps(event)
    for secret in (
        "one-time-code-123",
        JWT,
        "s3ss10n",
        "csrf123",
        "shh-secret",
        "v3r1f13r",
        "r3fr3sh",
        "sk_live_abcdefgh12345",
        "hunter2hunter2",
        "acc355",
        "AQ4AQFakeSessionTokenValue",
    ):
        assert secret not in text, secret
    request = event["request"]
    assert "cookies" not in request
    assert request["headers"]["Authorization"] == FILTERED
    assert request["headers"]["User-Agent"] == "Mozilla/5.0"
    assert request["data"]["note"] == "hello"
    frame_vars = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert frame_vars["account_code"] == "200"  # accounting, not a credential
    assert event["exception"]["values"][0]["type"] == "ProviderError"


def test_header_pairs_are_masked_by_name():
    event = before_send(
        {
            "request": {
                "headers": [["Authorization", "Basic dXNlcjpwYXNzd29yZA=="], ["Accept", "*/*"]]
            }
        },
        {},
    )
    assert event["request"]["headers"] == [["Authorization", FILTERED], ["Accept", "*/*"]]


def test_plain_text_is_left_alone():
    for text in (
        "Invoice INV-0042 for Globex: GBP is not enabled (code 400).",
        'Salesforce answered code=400: [{"code": "INVALID_FIELD", "message": "No such column"}]',
    ):
        assert scrub_text(text) == text
    assert scrub_text("callback?code=7f3a9c1e5b2d4f6a8c0e&state=s") == (
        "callback?code=[Filtered]&state=s"
    )


def test_no_dsn_no_client():
    assert settings.SENTRY_DSN == ""
    assert sentry_sdk.get_client().dsn is None


def test_sentry_init_scrubs_and_sends_no_personal_data():
    """With a DSN (an address nothing listens on; no event is sent): our hook, no PII."""
    from carrytheone.sentry import sentry_init

    sentry_init(
        dsn="http://public@127.0.0.1:9/1", environment="test", release="r1", traces_sample_rate=0.0
    )
    try:
        options = sentry_sdk.get_client().options
        assert options["before_send"] is before_send
        assert not options["send_default_pii"]
        assert options["data_collection"]["user_info"] is False
        assert (options["environment"], options["release"]) == ("test", "r1")
    finally:
        sentry_sdk.get_client().close(timeout=0)
        sentry_sdk.init()  # no DSN: nothing is sent by the other tests
    assert sentry_sdk.get_client().dsn is None


def test_credential_urls_are_masked_in_requests_and_breadcrumbs():
    """A push endpoint's path and a Slack webhook's path are credentials."""
    event = before_send(
        {
            "request": {"url": "https://app.example.com/hooks/salesforce/outbound/Zx9-tok3n/"},
            "breadcrumbs": {
                "values": [
                    {
                        "category": "httplib",
                        "data": {"url": "https://hooks.slack.com/services/T01/B02/aBc123XyZ"},
                    }
                ]
            },
        },
        {},
    )
    assert event["request"]["url"] == (
        f"https://app.example.com/hooks/salesforce/outbound/{FILTERED}/"
    )
    crumb = event["breadcrumbs"]["values"][0]["data"]["url"]
    assert crumb == f"https://hooks.slack.com/services/{FILTERED}"
    # Salesforce's own /services/ paths are not webhooks.
    assert scrub_text("/services/data/v62.0/query") == "/services/data/v62.0/query"

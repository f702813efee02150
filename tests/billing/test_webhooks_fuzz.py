"""The Stripe webhook under hostile input: never a 5xx; nothing stored without a good
signature; a signed body that is not a storable event refused with nothing stored; and every
stored event processed to an outcome recorded on its row, never an exception (only Stripe
being unreachable may raise, for the task to retry)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from billing.models import StripeEvent
from billing.stripe_client import BillingError
from billing.webhooks import HANDLED, event_process
from sandbox.stripe.webhooks import sign
from tests.hostile import (
    FUZZ,
    HUGE_INTS,
    JSON_VALUES,
    RANDOM_BYTES,
    TEXT,
    WIRE_TEXT,
    deeply_nested_json,
)

pytestmark = pytest.mark.django_db

SECRET = "whsec_fuzz_0000000000000000"
URL = "/billing/stripe/webhook/"
DEAD = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _stripe(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_API_BASE = DEAD  # an event that needs Stripe finds it unreachable
    from billing.tasks import process_stripe_event

    monkeypatch.setattr(process_stripe_event, "delay", lambda pk: None)


def _post(client: Client, body: bytes, header: str | None) -> Any:
    headers = {} if header is None else {"Stripe-Signature": header}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def _signed(body: bytes, secret: str = SECRET) -> str:
    return sign(body, secret, int(time.time()))


HEADERS = st.one_of(
    st.none(),
    WIRE_TEXT,
    st.sampled_from(["t=abc,v1=00", "t=,v1=", "v1=" + "0" * 64, "t=99999999999999999999,v1=0"]),
)


@FUZZ
@given(body=RANDOM_BYTES, header=HEADERS)
def test_unsigned_or_badly_signed_bodies_store_nothing(
    client: Client, body: bytes, header: str | None
) -> None:
    before = StripeEvent.objects.count()
    response = _post(client, body, header)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == before


OBJECTS = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {},
        optional={
            "id": JSON_VALUES,
            "customer": st.one_of(TEXT, JSON_VALUES),
            "subscription": JSON_VALUES,
            "client_reference_id": st.one_of(st.just("1"), JSON_VALUES),
            "parent": JSON_VALUES,
        },
    ),
)
EVENTS = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just("evt_fuzz"), TEXT.map(lambda t: f"evt_{t}"), JSON_VALUES),
        "type": st.one_of(st.sampled_from(sorted(HANDLED)), TEXT, JSON_VALUES),
    },
    optional={
        "created": st.one_of(HUGE_INTS, JSON_VALUES),
        "data": st.one_of(JSON_VALUES, st.fixed_dictionaries({"object": OBJECTS})),
    },
)


@FUZZ
@given(event=EVENTS)
@example(event={"id": "evt_1", "type": "invoice.paid", "created": 10**20})
@example(event={"id": "evt_1", "type": "invoice.paid", "created": "soon"})
@example(event={"id": "evt_\x00", "type": "invoice.paid"})
@example(event={"id": "evt_" + "x" * 300, "type": "invoice.paid"})
@example(event={"id": "evt_2", "type": "x", "data": {"object": {"a": float("nan")}}})
@example(event={"id": "evt_3", "type": "x", "data": {"object": {"a": "\x00"}}})
@example(event={"id": "evt_4", "type": "invoice.paid", "data": []})
@example(event={"id": "evt_5", "type": "invoice.paid", "data": {"object": {"parent": "p"}}})
@example(event={"id": "evt_6", "type": "checkout.session.completed", "data": {"object": {}}})
def test_a_signed_event_is_stored_once_or_refused_and_processes_to_an_outcome(
    client: Client, event: dict[str, Any]
) -> None:
    body = json.dumps(event).encode()
    before = set(StripeEvent.objects.values_list("pk", flat=True))
    response = _post(client, body, _signed(body))
    assert response.status_code in (200, 400), response.content
    added = list(StripeEvent.objects.exclude(pk__in=before))
    if response.status_code == 400:
        assert response.content.startswith(b"Signed, but not ")  # says why, not "signature"
        assert added == []
        return
    assert len(added) <= 1
    for row in added:
        try:
            outcome = event_process(event_pk=row.pk)
        except BillingError as exc:
            if not exc.retryable:
                raise
            continue  # Stripe unreachable: the task retries, the row waits
        row.refresh_from_db()
        assert row.processed_at is not None
        assert outcome == row.outcome


@FUZZ
@given(depth=st.integers(min_value=10_000, max_value=100_000))
def test_deep_nesting_under_a_good_signature_is_refused(client: Client, depth: int) -> None:
    body = deeply_nested_json(depth)
    response = _post(client, body, _signed(body))
    assert response.status_code == 400
    assert response.content == b"Signed, but not JSON (RecursionError)."
    assert StripeEvent.objects.count() == 0

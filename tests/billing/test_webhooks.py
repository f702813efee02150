"""Every bad input of the Stripe webhook and of Checkout's return, against the simulated
Stripe over HTTP: signatures, replays, unknown customers, unused types, events out of order,
a session completed twice, a return URL visited without paying."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from django.core import mail

from billing.models import StripeEvent, Subscription
from sandbox.stripe import webhooks as sandbox_webhooks
from sandbox.stripe.models import StripeObject, WebhookDelivery
from tests.billing.conftest import DECLINED_CARD, GOOD_CARD, Billing, submit_card

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_sandbox_carrytheone_0000000000000000"


def _url(billing: Billing) -> str:
    return f"{billing.base}/billing/stripe/webhook/"


def _post(
    billing: Billing,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    at: int | None = None,
    header: str | None = None,
) -> requests.Response:
    body = json.dumps(event).encode()
    signature = (
        header
        if header is not None
        else sandbox_webhooks.sign(body, secret, at if at is not None else int(time.time()))
    )
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    return requests.post(_url(billing), data=body, headers=headers, timeout=30)


def _event(
    event_type: str, obj: dict[str, Any], *, eid: str = "evt_test_1", created: int | None = None
) -> dict[str, Any]:
    return {
        "id": eid,
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "api_version": "2026-10-28.endive",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def _subscribed(billing: Billing) -> Subscription:
    Subscription.objects.filter(account=billing.account).update(
        trial_ends_at=billing.subscription.trial_ends_at.replace(year=2000)
    )
    paid = billing.checkout(GOOD_CARD)
    assert paid.status_code == 302
    billing.return_to(paid)
    subscription = billing.subscription
    assert subscription.status == Subscription.Status.ACTIVE
    return subscription


def _state(billing: Billing) -> tuple[Any, ...]:
    s = billing.subscription
    return (s.status, s.stripe_subscription_id, s.quantity, s.past_due_since, s.current_period_end)


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong secret", "stale", "garbage"],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(billing: Billing, how: str):
    event = _event(
        "customer.subscription.deleted",
        {"id": "sub_x", "object": "subscription", "customer": "cus_x"},
    )
    response = {
        "missing": lambda: _post(billing, event, header=""),
        "wrong secret": lambda: _post(billing, event, secret="whsec_other"),
        "stale": lambda: _post(billing, event, at=int(time.time()) - 301),
        "garbage": lambda: _post(billing, event, header="t=1,v1=00"),
    }[how]()
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_replayed_event_is_stored_and_applied_once(billing: Billing):
    _subscribed(billing)
    delivered = WebhookDelivery.objects.filter(event_type="invoice.paid").first()
    assert delivered is not None
    before = StripeEvent.objects.count()
    state = _state(billing)
    # Stripe resending the very same event (its retry, or an attacker's replay in time).
    row = StripeEvent.objects.get(event_id=delivered.event_id)
    again = _post(billing, row.payload)
    assert again.status_code == 200
    assert StripeEvent.objects.count() == before
    assert StripeEvent.objects.get(pk=row.pk).processed_at == row.processed_at
    assert _state(billing) == state


def test_an_unknown_customer_is_logged_answered_200_and_changes_nothing(billing: Billing):
    _subscribed(billing)
    state = _state(billing)
    event = _event(
        "customer.subscription.deleted",
        {
            "id": "sub_nobody",
            "object": "subscription",
            "customer": "cus_nobody",
            "status": "canceled",
        },
        eid="evt_unknown",
    )
    response = _post(billing, event)
    assert response.status_code == 200
    stored = StripeEvent.objects.get(event_id="evt_unknown")
    assert stored.outcome == StripeEvent.Outcome.UNKNOWN
    assert stored.processed_at is not None
    assert _state(billing) == state


def test_an_unused_type_is_stored_as_ignored(billing: Billing):
    response = _post(
        billing, _event("charge.refunded", {"id": "ch_1", "object": "charge"}, eid="evt_charge")
    )
    assert response.status_code == 200
    assert StripeEvent.objects.get(event_id="evt_charge").outcome == StripeEvent.Outcome.IGNORED


def test_an_older_subscription_updated_after_a_newer_one_changes_nothing(billing: Billing):
    subscription = _subscribed(billing)
    newest = subscription.last_event_created
    assert newest is not None
    # A stale snapshot saying "past_due", made before what was applied, arriving late.
    old = _event(
        "customer.subscription.updated",
        {
            "id": subscription.stripe_subscription_id,
            "object": "subscription",
            "customer": subscription.stripe_customer_id,
            "status": "past_due",
        },
        eid="evt_old",
        created=int(newest.timestamp()) - 60,
    )
    state = _state(billing)
    assert _post(billing, old).status_code == 200
    assert StripeEvent.objects.get(event_id="evt_old").outcome == StripeEvent.Outcome.STALE
    assert _state(billing) == state
    # Even a "newer" forged snapshot is not trusted: Stripe's subscription is re-read.
    forged = {**old, "id": "evt_forged_newer", "created": int(newest.timestamp()) + 60}
    assert _post(billing, forged).status_code == 200
    assert billing.subscription.status == Subscription.Status.ACTIVE


def test_a_checkout_session_completed_twice_does_nothing_twice(billing: Billing):
    paid = billing.checkout(GOOD_CARD)
    first = billing.return_to(paid)
    state = _state(billing)
    events = StripeEvent.objects.count()
    emails = len(mail.outbox)
    # The return URL again (a reload, the back button) and the webhook resent.
    again = billing.return_to(paid)
    assert first.status_code == again.status_code == 200
    completed = StripeEvent.objects.get(type="checkout.session.completed")
    resent = _post(billing, {**completed.payload, "id": "evt_completed_again"})
    assert resent.status_code == 200
    assert _state(billing) == state
    assert StripeEvent.objects.count() == events + 1
    assert len(mail.outbox) == emails
    assert StripeObject.objects.filter(kind="subscription").count() == 1


def test_the_return_url_visited_without_paying_changes_nothing(billing: Billing):
    started = billing.client.post(f"{billing.page()}checkout/")
    assert started.status_code == 303
    session_id = started["Location"].rstrip("/").rsplit("/", 1)[-1]
    # The card declined on Stripe's page: the session stays open.
    declined = submit_card(started["Location"], DECLINED_CARD)
    assert declined.status_code == 402
    before = _state(billing)
    page = billing.client.get(f"{billing.page()}?checkout={session_id}", follow=True)
    assert "Checkout was not completed" in page.content.decode()
    assert _state(billing) == before
    assert billing.subscription.status == Subscription.Status.TRIALING
    assert not billing.subscription.stripe_subscription_id
    # A made-up session id: Stripe has none, the page says so, nothing changes.
    page = billing.client.get(f"{billing.page()}?checkout=cs_test_made_up", follow=True)
    assert page.status_code == 200
    assert _state(billing) == before


@pytest.mark.django_db
def test_settled_events_are_pruned_after_their_retention_and_open_ones_kept() -> None:
    import datetime as dt

    from django.utils import timezone

    from billing.tasks import prune_stripe_events

    old = timezone.now() - dt.timedelta(days=401)
    recent = timezone.now() - dt.timedelta(days=10)
    outcomes = StripeEvent.Outcome
    rows = {
        "old-applied": (old, outcomes.APPLIED),
        "old-ignored": (old, outcomes.IGNORED),
        "old-pending": (old, outcomes.PENDING),
        "old-failed": (old, outcomes.FAILED),
        "recent-applied": (recent, outcomes.APPLIED),
    }
    for event_id, (received_at, outcome) in rows.items():
        StripeEvent.objects.create(
            event_id=event_id,
            type="invoice.paid",
            created=received_at,
            payload={},
            received_at=received_at,
            outcome=outcome,
        )

    assert prune_stripe_events() == 2
    assert set(StripeEvent.objects.values_list("event_id", flat=True)) == {
        "old-pending",
        "old-failed",
        "recent-applied",
    }

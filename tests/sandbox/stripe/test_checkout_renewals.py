"""Hosted Checkout with Stripe's test cards, the portal, renewals on a test clock or the account's
clock, retries, and webhooks as Stripe signs them (checked by the SDK's own verifier)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

from sandbox.stripe import billing, services, webhooks
from sandbox.stripe.models import StripeObject, WebhookDelivery
from tests.sandbox.stripe.conftest import SECRET, checkout, submit_card

DAY = 86400


def _subscribe(client, plan, number: str = "4242424242424242", **params):
    session = checkout(client, plan, **params)
    response = submit_card(session.url, number)
    assert response.status_code == 302, response.text[:500]
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    return session, response, done


def test_the_good_card_completes_checkout_and_redirects_with_the_session_id(client, plan, received):
    customer = client.v1.customers.create(params={"email": "owner@example.com"})
    session, response, done = _subscribe(
        client,
        plan,
        customer=customer.id,
        client_reference_id="account-7",
        subscription_data={"metadata": {"account": "7"}},
        metadata={"account": "7"},
    )
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["session_id"] == [session.id]
    assert done.status == "complete"
    assert done.payment_status == "paid"
    assert done.client_reference_id == "account-7"
    subscription = done.subscription
    assert subscription.status == "active"
    assert subscription.metadata.to_dict() == {"account": "7"}
    assert subscription.customer == customer.id
    assert subscription["items"].data[0].quantity == 1
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.status == "paid"
    assert invoice.amount_paid == 2999
    assert invoice.hosted_invoice_url
    assert requests.get(invoice.hosted_invoice_url, timeout=10).ok
    card = client.v1.payment_methods.retrieve(
        client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method
    ).card
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    types = received.types()
    assert types.index("customer.subscription.created") < types.index("invoice.paid")
    assert types[-1] == "checkout.session.completed"
    completed = received.events()[-1]["data"]["object"]
    assert completed["subscription"] == subscription.id
    assert completed["client_reference_id"] == "account-7"


def test_every_delivery_is_signed_as_stripe_signs_it(client, plan, received):
    _subscribe(client, plan)
    assert received.requests
    for headers, body in received.requests:
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert event.id.startswith("evt_")
        assert event.object == "event"
        assert event.livemode is False
        assert set(event.to_dict()) >= {
            "api_version",
            "created",
            "data",
            "type",
            "pending_webhooks",
            "request",
        }
    headers, body = received.requests[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_wrong")
    retrieved = client.v1.events.retrieve(received.events()[0]["id"])
    assert retrieved.type == received.events()[0]["type"]
    assert retrieved.pending_webhooks == 0
    assert WebhookDelivery.objects.filter(status="delivered").count() == len(received.requests)


def test_the_declined_card_shows_a_message_and_creates_nothing(client, plan):
    session = checkout(client, plan)
    response = submit_card(session.url, "4000000000000002")
    assert response.status_code == 402
    assert "Your card was declined." in response.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert not client.v1.customers.list().data
    assert f'href="{session.cancel_url}"' in requests.get(session.url, timeout=10).text


def test_the_341_card_pays_now_and_fails_every_renewal_until_the_card_is_changed(
    client, plan, received
):
    frozen = 1_800_000_000
    test_clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    customer = client.v1.customers.create(
        params={"email": "late@example.com", "test_clock": test_clock.id}
    )
    _, _, done = _subscribe(client, plan, "4000000000000341", customer=customer.id)
    assert done.subscription.status == "active"
    end = done.subscription["items"].data[0].current_period_end
    received.clear()
    client.v1.test_helpers.test_clocks.advance(test_clock.id, params={"frozen_time": end + 60})
    subscription = client.v1.subscriptions.retrieve(done.subscription.id)
    assert subscription.status == "past_due"
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert (invoice.status, invoice.attempt_count, invoice.billing_reason) == (
        "open",
        1,
        "subscription_cycle",
    )
    assert invoice.next_payment_attempt == end + billing.RETRY_DAYS[0] * DAY
    assert "invoice.upcoming" in received.types()
    assert "invoice.payment_failed" in received.types()
    updated = [e for e in received.events() if e["type"] == "customer.subscription.updated"]
    assert updated[-1]["data"]["previous_attributes"] == {"status": "active"}
    # The next retry fails too; then the card is changed in the portal and the invoice is paid.
    client.v1.test_helpers.test_clocks.advance(
        test_clock.id, params={"frozen_time": invoice.next_payment_attempt + 60}
    )
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 2
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://127.0.0.1:9/billing/"}
    )
    page = requests.get(portal.url, timeout=10)
    assert "Past_due" in page.text or "Past due" in page.text
    assert "•••• 0341" in page.text
    assert 'href="http://127.0.0.1:9/billing/"' in page.text
    declined = submit_card(portal.url, "4000000000000002", extra={"action": "card"})
    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    changed = submit_card(portal.url, "4242424242424242", extra={"action": "card"})
    assert changed.status_code == 302
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert "•••• 4242" in requests.get(portal.url, timeout=10).text


def test_failed_retries_end_in_cancellation_by_default_or_unpaid(client, plan, account, received):
    _, _, done = _subscribe(client, plan, "4000000000000341")
    services.advance_account(account, days=31 + 15)
    subscription = client.v1.subscriptions.retrieve(done.subscription.id)
    assert subscription.status == "canceled"
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.attempt_count == 1 + len(billing.RETRY_DAYS)
    assert invoice.next_payment_attempt is None
    assert received.types().count("invoice.payment_failed") == 1 + len(billing.RETRY_DAYS)
    assert "customer.subscription.deleted" in received.types()
    account.after_retries = "unpaid"
    account.save()
    _, _, other = _subscribe(client, plan, "4000000000000341")
    services.advance_account(account, days=31 + 15)
    assert client.v1.subscriptions.retrieve(other.subscription.id).status == "unpaid"


def test_renewals_succeed_with_a_good_card_through_the_sandbox_command(
    client, plan, account, received
):
    from django.core.management import call_command

    _, _, done = _subscribe(client, plan)
    received.clear()
    call_command("sandbox_stripe", "advance", "--days", "62")
    invoices = client.v1.invoices.list(params={"subscription": done.subscription.id}).data
    assert [i.status for i in invoices] == ["paid", "paid", "paid"]
    assert [i.billing_reason for i in invoices] == [
        "subscription_cycle",
        "subscription_cycle",
        "subscription_create",
    ]
    assert received.types().count("invoice.payment_succeeded") == 2
    assert client.v1.subscriptions.retrieve(done.subscription.id).status == "active"


def test_a_trial_becomes_active_when_it_ends_and_warns_three_days_before(
    client, plan, account, received
):
    _, _, done = _subscribe(client, plan, subscription_data={"trial_period_days": 30})
    subscription = done.subscription
    assert subscription.status == "trialing"
    assert done.payment_status == "no_payment_required"
    assert client.v1.invoices.retrieve(subscription.latest_invoice).amount_paid == 0
    services.advance_account(account, days=28)
    assert "customer.subscription.trial_will_end" in received.types()
    assert client.v1.subscriptions.retrieve(subscription.id).status == "trialing"
    services.advance_account(account, days=2.1)
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "active"
    assert client.v1.invoices.retrieve(after.latest_invoice).amount_paid == 2999
    assert after["items"].data[0].current_period_start == subscription.trial_end


def test_quantity_changes_prorate_and_show_in_the_preview(client, plan, received):
    _, _, done = _subscribe(client, plan)
    item = done.subscription["items"].data[0]
    before = client.v1.invoices.create_preview(params={"subscription": done.subscription.id})
    assert before.amount_due == 2999
    preview = client.v1.invoices.create_preview(
        params={
            "subscription": done.subscription.id,
            "subscription_details": {"items": [{"id": item.id, "quantity": 3}]},
        }
    )
    assert preview.amount_due == 3 * 2999
    updated = client.v1.subscriptions.update(
        done.subscription.id,
        params={
            "items": [{"id": item.id, "quantity": 2}],
            "proration_behavior": "create_prorations",
        },
    )
    assert updated["items"].data[0].quantity == 2
    after = client.v1.invoices.create_preview(params={"subscription": done.subscription.id})
    prorations = [
        line for line in after.lines.data if line.parent.subscription_item_details.proration
    ]
    assert len(prorations) == 2
    assert after.amount_due > 2 * 2999
    event = [e for e in received.events() if e["type"] == "customer.subscription.updated"][-1]
    assert event["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 1


def test_metered_usage_is_billed_in_arrears(client, plan, account):
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "Synced deals",
            "event_name": "synced_deals",
            "default_aggregation": {"formula": "sum"},
        }
    )
    premium = client.v1.prices.create(
        params={
            "product": plan.product.id,
            "currency": "gbp",
            "unit_amount": 5,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": plan.price.id, "quantity": 1}, {"price": premium.id}],
            "success_url": "http://127.0.0.1:9/done",
        }
    )
    assert submit_card(session.url, "4242424242424242").status_code == 302
    for value in (100, 150):
        client.v1.billing.meter_events.create(
            params={
                "event_name": "synced_deals",
                "payload": {"stripe_customer_id": customer.id, "value": str(value)},
            }
        )
    services.advance_account(account, days=32)
    renewal = client.v1.invoices.list(params={"customer": customer.id}).data[0]
    assert renewal.amount_paid == 2999 + 250 * 5


def test_cancel_at_period_end_in_the_portal_ends_the_subscription_at_renewal(
    client, plan, account, received
):
    customer = client.v1.customers.create(params={"email": "bye@example.com"})
    _, _, done = _subscribe(client, plan, customer=customer.id)
    portal = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    page = requests.Session()
    response = page.post(
        portal.url, data={"action": "cancel", "subscription": done.subscription.id}, timeout=10
    )
    assert response.ok
    subscription = client.v1.subscriptions.retrieve(done.subscription.id)
    assert subscription.cancel_at_period_end
    assert subscription.status == "active"
    services.advance_account(account, days=32)
    assert client.v1.subscriptions.retrieve(done.subscription.id).status == "canceled"
    assert "customer.subscription.deleted" in received.types()


def test_an_unanswered_webhook_stays_pending_until_retried(client, received, account):
    received.status = 500
    client.v1.customers.create(params={"email": "x@example.com"})
    delivery = WebhookDelivery.objects.get(event_type="customer.created")
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.response_status == 500
    received.status = 200
    assert webhooks.retry_pending() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempts == 2
    event = StripeObject.objects.get(id=delivery.event_id)
    assert event.data["pending_webhooks"] == 0

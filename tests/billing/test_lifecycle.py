"""The whole subscription lifecycle against the simulated Stripe over HTTP, with the sandbox
Salesforce and Xero syncing underneath: nothing is lost while syncing is paused for billing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import StripeEvent, Subscription
from integrations.core.config import SyncConfig
from integrations.core.health import integration_health
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.setup.steps import switch_on
from integrations.sync.models import LedgerEntry
from integrations.sync.run import sync_integration
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from tests.billing.conftest import FAILS_RENEWALS, GOOD_CARD, Billing, submit_card
from tests.integrations.sync.helpers import ours, won
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(billing: Billing, sandbox_url: str, settings: Any) -> Integration:
    point_at_sandbox(settings, sandbox_url)
    return sandbox_integration(
        sandbox_url,
        account=billing.account,
        is_enabled=True,
        config=SyncConfig(default_currency="USD").to_json(),
    )


def _poll(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Beat's poll (billing applied first); the syncs it queues, run here."""
    from integrations import tasks

    queued: list[int] = []
    monkeypatch.setattr(
        tasks.sync_integration_task, "delay", lambda pk, *a, **kw: queued.append(pk)
    )
    tasks.poll_integrations()
    for pk in queued:
        sync_integration(integration_id=pk)
    return queued


def _billing_pause(integration: Integration) -> IntegrationPause | None:
    return IntegrationPause.objects.filter(
        integration=integration, cause=PauseCause.BILLING
    ).first()


def _stripe_subscription(billing: Billing) -> Any:
    return billing.stripe.v1.subscriptions.retrieve(
        billing.subscription.stripe_subscription_id, params={"expand": ["items.data.price"]}
    )


def _held_back(count: int) -> list[SandboxOpportunity]:
    """Won deals moved to an open stage before the first sync: won again while paused."""
    picked = sorted(won())[:count]
    for sf_id in picked:
        sf_sandbox.opportunity_set_stage(
            opportunity=SandboxOpportunity.objects.get(sf_id=sf_id), stage_name="Prospecting"
        )
    return [SandboxOpportunity.objects.get(sf_id=sf_id) for sf_id in picked]


def test_trial_checkout_quantity_failed_renewal_grace_pause_card_fixed_resume(
    billing: Billing, integration: Integration, monkeypatch: pytest.MonkeyPatch, settings: Any
):
    settings.BILLING_GRACE_DAYS = 7
    # The trial's last day: Checkout charges now (a trial shorter than 48 hours cannot be kept).
    Subscription.objects.filter(account=billing.account).update(
        trial_ends_at=timezone.now() + dt.timedelta(hours=20)
    )
    held = _held_back(2)
    assert _poll(monkeypatch) == [integration.pk]
    first_invoices = ours().count()
    assert first_invoices == len(won())

    # Checkout with the card that pays now and fails every renewal.
    paid = billing.checkout(FAILS_RENEWALS)
    assert paid.status_code == 302
    page = billing.return_to(paid)
    assert "your subscription is set up" in page.content.decode()
    subscription = billing.subscription
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.quantity == 1
    assert subscription.stripe_subscription_id.startswith("sub_")
    remote = _stripe_subscription(billing)
    assert remote.metadata["account_id"] == str(billing.account.pk)
    assert [i.quantity for i in remote["items"].data] == [1]
    assert remote["items"].data[0].price.tiers_mode == "graduated"
    # Handled by the return URL and by the webhook: one state, nothing done twice.
    assert StripeEvent.objects.filter(type="checkout.session.completed").count() == 1

    # A second integration switched on: the quantity follows, priced by the second tier.
    second = Integration.objects.create(account=billing.account, name="Second")
    switch_on(integration=second)
    remote = _stripe_subscription(billing)
    assert [i.quantity for i in remote["items"].data] == [2]
    assert billing.subscription.quantity == 2
    preview = billing.stripe.v1.invoices.create_preview(params={"subscription": remote.id})
    assert preview.amount_due == 2999 + 2399
    page = billing.client.get(billing.page()).content.decode()
    assert "£53.98" in page

    # The renewal fails: past due, the owners emailed once, syncing goes on through the grace.
    mail.outbox.clear()
    billing.advance(days=32)
    subscription = billing.subscription
    assert subscription.status == Subscription.Status.PAST_DUE
    assert subscription.past_due_since is not None
    failed_mails = [m for m in mail.outbox if "Payment failed" in m.subject]
    assert len(failed_mails) == 1
    assert failed_mails[0].to == [billing.owner.email]
    billing.advance(days=2)  # Stripe's retry fails too: the same incident, no second email
    assert len([m for m in mail.outbox if "Payment failed" in m.subject]) == 1
    assert StripeEvent.objects.filter(type="invoice.payment_failed").count() >= 2
    page = billing.client.get(billing.page()).content.decode()
    assert "payment-banner" in page
    assert "Update card" in page
    assert _poll(monkeypatch) == [integration.pk]
    assert _billing_pause(integration) is None

    # The grace ends (our clock: the failure moved back a week and a day): syncing pauses.
    Subscription.objects.filter(pk=subscription.pk).update(
        past_due_since=timezone.now() - dt.timedelta(days=8)
    )
    assert _poll(monkeypatch) == []
    pause = _billing_pause(integration)
    assert pause is not None
    assert "renewal payment failed" in pause.message
    assert "syncing is paused since" in pause.message
    health = integration_health(
        Integration.objects.select_related("account").get(pk=integration.pk)
    )
    assert health.state == "paused"
    assert health.action_label == "Update card"
    # Deals won while paused wait; nothing was deleted and the watermark stands.
    ledger_before = LedgerEntry.objects.filter(integration=integration).count()
    for opportunity in held:
        sf_sandbox.opportunity_set_stage(opportunity=opportunity, stage_name="Closed Won")
    assert _poll(monkeypatch) == []
    assert ours().count() == first_invoices
    assert LedgerEntry.objects.filter(integration=integration).count() == ledger_before

    # The card fixed in Stripe's portal: the open invoice is paid, the subscription is active.
    portal = billing.client.post(f"{billing.page()}portal/")
    assert portal.status_code == 303
    fixed = submit_card(portal["Location"], GOOD_CARD, extra={"action": "card"})
    assert fixed.status_code == 302, fixed.text[:300]
    subscription = billing.subscription
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.past_due_since is None

    # Syncing resumes from where it stopped: the deals won meanwhile are invoiced.
    assert _poll(monkeypatch) == [integration.pk]
    assert _billing_pause(integration) is None
    assert ours().count() == first_invoices + len(held)
    invoiced = set(
        LedgerEntry.objects.filter(integration=integration, state="synced").values_list(
            "salesforce_id", flat=True
        )
    )
    assert {o.sf_id for o in held} <= invoiced
    assert Decimal(preview.amount_due) > 0


def test_trial_ending_without_payment_pauses_and_subscribing_resumes(
    billing: Billing, integration: Integration, monkeypatch: pytest.MonkeyPatch
):
    held = _held_back(1)
    assert _poll(monkeypatch) == [integration.pk]
    before = ours().count()
    Subscription.objects.filter(account=billing.account).update(
        trial_ends_at=timezone.now() - dt.timedelta(hours=1)
    )
    sf_sandbox.opportunity_set_stage(opportunity=held[0], stage_name="Closed Won")
    assert _poll(monkeypatch) == []
    pause = _billing_pause(integration)
    assert pause is not None
    assert "free trial ended" in pause.message
    health = integration_health(
        Integration.objects.select_related("account").get(pk=integration.pk)
    )
    assert health.action_label == "Subscribe"
    assert ours().count() == before

    paid = billing.checkout(GOOD_CARD)
    assert paid.status_code == 302
    assert billing.subscription.status == Subscription.Status.ACTIVE
    assert _poll(monkeypatch) == [integration.pk]
    assert _billing_pause(integration) is None
    assert ours().count() == before + 1


def test_checkout_during_the_trial_keeps_the_trial_days(billing: Billing):
    ends = billing.subscription.trial_ends_at
    paid = billing.checkout(GOOD_CARD)
    assert paid.status_code == 302
    subscription = billing.subscription
    assert subscription.status == Subscription.Status.TRIALING
    assert subscription.stripe_subscription_id
    remote = _stripe_subscription(billing)
    assert remote.status == "trialing"
    assert abs(remote.trial_end - int(ends.timestamp())) <= 1
    page = billing.client.get(billing.page()).content.decode()
    assert "first payment is taken when the trial ends" in page
    assert "Next invoice" in page
    # Subscribed already: Subscribe is not offered twice.
    again = billing.client.post(f"{billing.page()}checkout/")
    assert again.status_code == 302


def test_closing_the_account_cancels_the_stripe_subscription(billing: Billing):
    from accounts.closing import account_close

    paid = billing.checkout(GOOD_CARD)
    assert paid.status_code == 302
    stripe_id = billing.subscription.stripe_subscription_id
    account_close(account=billing.account, by=billing.owner, confirm_name=billing.account.name)
    assert billing.stripe.v1.subscriptions.retrieve(stripe_id).status == "canceled"
    assert billing.subscription.status == Subscription.Status.CANCELED

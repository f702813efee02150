"""Beat's poll skips integrations whose subscription does not allow syncing, and says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from billing.models import Subscription
from integrations.models import Connection, Integration
from integrations.tasks import poll_integrations

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(account, monkeypatch: pytest.MonkeyPatch) -> Integration:
    from integrations import tasks

    monkeypatch.setattr(tasks.sync_integration_task, "delay", lambda *a, **kw: None)

    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account, provider=provider, external_id=provider, credentials={}
        )

    return Integration.objects.create(
        account=account,
        name="Main",
        is_enabled=True,
        salesforce_connection=connection("salesforce"),
        xero_connection=connection("xero"),
    )


def _subscription(account) -> Subscription:
    return Subscription.objects.get_or_create(
        account=account,
        defaults={"trial_ends_at": timezone.now() + dt.timedelta(days=30)},
    )[0]


def test_trial_running_polls(integration):
    _subscription(integration.account)
    assert poll_integrations() == 1
    integration.refresh_from_db()
    assert integration.paused_reason == ""


def test_trial_ended_pauses_with_the_reason_then_resumes_when_paid(integration):
    subscription = _subscription(integration.account)
    subscription.trial_ends_at = timezone.now() - dt.timedelta(days=1)
    subscription.save()
    assert poll_integrations() == 0
    integration.refresh_from_db()
    assert "free trial ended" in integration.paused_reason
    assert integration.paused_reason.startswith("Billing: ")

    subscription.status = Subscription.Status.ACTIVE
    subscription.save()
    assert poll_integrations() == 1
    integration.refresh_from_db()
    assert integration.paused_reason == ""


def test_billing_never_lifts_another_pause(integration):
    _subscription(integration.account)
    integration.paused_reason = "Xero needs reconnecting."
    integration.save()
    assert poll_integrations() == 0
    integration.refresh_from_db()
    assert integration.paused_reason == "Xero needs reconnecting."


def test_canceled_subscription_pauses(integration):
    subscription = _subscription(integration.account)
    subscription.status = Subscription.Status.CANCELED
    subscription.save()
    assert poll_integrations() == 0
    integration.refresh_from_db()
    assert "canceled" in integration.paused_reason.lower()

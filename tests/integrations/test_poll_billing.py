"""Beat's poll skips integrations whose subscription does not allow syncing, and says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from billing.models import Subscription
from integrations.connections.models import Connection
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.core.pauses import integration_pause
from integrations.tasks import poll_integrations
from tests.factories import UserFactory

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


def _pauses(integration: Integration) -> dict[str, str]:
    return dict(
        IntegrationPause.objects.filter(integration=integration).values_list("cause", "message")
    )


def test_trial_running_polls(integration):
    _subscription(integration.account)
    assert poll_integrations() == 1
    assert _pauses(integration) == {}


def test_trial_ended_pauses_with_the_reason_then_resumes_when_paid(integration):
    subscription = _subscription(integration.account)
    subscription.trial_ends_at = timezone.now() - dt.timedelta(days=1)
    subscription.save()
    assert poll_integrations() == 0
    pauses = _pauses(integration)
    assert list(pauses) == [PauseCause.BILLING]
    assert "free trial ended" in pauses[PauseCause.BILLING]

    subscription.status = Subscription.Status.ACTIVE
    subscription.save()
    assert poll_integrations() == 1
    assert _pauses(integration) == {}


def test_billing_never_lifts_another_pause(integration):
    _subscription(integration.account)
    integration_pause(
        integration_id=integration.pk, cause=PauseCause.PERSON, message="Paused for the audit."
    )
    assert poll_integrations() == 0
    assert _pauses(integration) == {PauseCause.PERSON: "Paused for the audit."}


def test_canceled_subscription_pauses(integration):
    subscription = _subscription(integration.account)
    subscription.status = Subscription.Status.CANCELED
    subscription.save()
    assert poll_integrations() == 0
    assert "canceled" in _pauses(integration)[PauseCause.BILLING].lower()


def test_reconnecting_a_connection_lifts_only_re_authorisation(integration, account):
    """A lost grant stops syncing through the connection's status; reconnecting lifts that,
    and a billing pause set meanwhile stays."""
    from integrations.connections.providers import TokenSet
    from integrations.connections.services import connection_mark_needs_reauth, connection_store

    subscription = _subscription(account)
    xero = integration.xero_connection
    assert xero is not None
    connection_mark_needs_reauth(connection_id=xero.pk, reason="Xero said invalid_grant.")
    assert poll_integrations() == 0
    subscription.trial_ends_at = timezone.now() - dt.timedelta(days=1)
    subscription.save()
    assert poll_integrations() == 0
    connection_store(
        account=account,
        provider="xero",
        external_id="xero",
        display_name="Org",
        tokens=TokenSet("a", "r", timezone.now() + dt.timedelta(hours=1)),
        user=UserFactory.create(),
    )
    assert list(_pauses(integration)) == [PauseCause.BILLING]
    assert poll_integrations() == 0
    subscription.status = Subscription.Status.ACTIVE
    subscription.save()
    assert poll_integrations() == 1

"""One free trial per business: a Xero organisation or Salesforce org connected under a second
account in trial does not sync there without a subscription."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.services import account_create
from billing.models import Subscription, TrialClaim
from integrations.connections.models import Connection
from integrations.connections.providers import TokenSet
from integrations.connections.services import connection_store
from integrations.core.models import Integration, IntegrationPause, PauseCause
from integrations.tasks import poll_integrations
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

XERO_MESSAGE = (
    "This Xero organisation already had a free trial under another account; subscribe to sync it."
)


@pytest.fixture(autouse=True)
def _no_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations import tasks

    monkeypatch.setattr(tasks.sync_integration_task, "delay", lambda *a, **kw: None)


@pytest.fixture
def owner():
    return UserFactory.create()


def _connect(account, owner, provider: str, external_id: str) -> Connection:
    return connection_store(
        account=account,
        provider=provider,
        external_id=external_id,
        display_name=f"{provider} {external_id}",
        tokens=TokenSet("a", "r", timezone.now() + dt.timedelta(hours=1)),
        user=owner,
    )


def _integration(account, owner, *, xero: str, salesforce: str) -> Integration:
    return Integration.objects.create(
        account=account,
        name="Main",
        is_enabled=True,
        xero_connection=_connect(account, owner, "xero", xero),
        salesforce_connection=_connect(account, owner, "salesforce", salesforce),
    )


def _billing_pause(integration: Integration) -> str | None:
    pause = IntegrationPause.objects.filter(
        integration=integration, cause=PauseCause.BILLING
    ).first()
    return pause.message if pause else None


def test_the_first_account_in_trial_claims_its_organisations(owner):
    account = account_create(owner=owner, name="First")
    integration = _integration(account, owner, xero="tenant-1", salesforce="00D1")
    assert set(TrialClaim.objects.values_list("provider", "external_id", "account")) == {
        ("xero", "tenant-1", account.pk),
        ("salesforce", "00D1", account.pk),
    }
    assert poll_integrations() == 1
    assert _billing_pause(integration) is None


def test_a_second_account_with_the_same_xero_org_is_paused_with_the_reason(owner):
    """The same owner (or anyone) opening another account gets no second trial for the org."""
    first = account_create(owner=owner, name="First")
    _integration(first, owner, xero="tenant-1", salesforce="00D1")
    second = account_create(owner=owner, name="Second")
    again = _integration(second, owner, xero="tenant-1", salesforce="00D2")

    assert poll_integrations() == 1  # only the first account's integration syncs
    assert _billing_pause(again) == XERO_MESSAGE
    # The claim stays with the first account.
    assert TrialClaim.objects.get(provider="xero").account == first

    # The panel says why, and where to go.
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=second, role=Role.ADMIN)
    from django.test import Client

    client = Client()
    client.force_login(user)
    page = client.get(
        reverse(
            "integrations:detail",
            kwargs={"account_slug": second.slug, "integration_id": again.pk},
        )
    ).content.decode()
    assert "already had a free trial under another account" in page


def test_both_organisations_claimed_elsewhere_are_both_named(owner):
    first = account_create(owner=owner, name="First")
    _integration(first, owner, xero="tenant-1", salesforce="00D1")
    second = account_create(owner=owner, name="Second")
    again = _integration(second, owner, xero="tenant-1", salesforce="00D1")
    poll_integrations()
    message = _billing_pause(again)
    assert message is not None
    assert "Xero organisation" in message
    assert "Salesforce org" in message


def test_different_organisations_each_get_their_trial(owner):
    first = account_create(owner=owner, name="First")
    one = _integration(first, owner, xero="tenant-1", salesforce="00D1")
    second = account_create(owner=owner, name="Second")
    two = _integration(second, owner, xero="tenant-2", salesforce="00D2")
    assert poll_integrations() == 2
    assert _billing_pause(one) is None
    assert _billing_pause(two) is None


def test_a_paying_account_is_unaffected_and_claims_nothing(owner):
    first = account_create(owner=owner, name="First")
    _integration(first, owner, xero="tenant-1", salesforce="00D1")
    paid = account_create(owner=owner, name="Paid")
    Subscription.objects.filter(account=paid).update(status=Subscription.Status.ACTIVE)
    integration = _integration(paid, owner, xero="tenant-1", salesforce="00D9")
    assert poll_integrations() == 2
    assert _billing_pause(integration) is None
    assert not TrialClaim.objects.filter(account=paid).exists()


def test_subscribing_lifts_the_trial_claim_pause(owner):
    first = account_create(owner=owner, name="First")
    _integration(first, owner, xero="tenant-1", salesforce="00D1")
    second = account_create(owner=owner, name="Second")
    again = _integration(second, owner, xero="tenant-1", salesforce="00D2")
    poll_integrations()
    assert _billing_pause(again) == XERO_MESSAGE
    Subscription.objects.filter(account=second).update(status=Subscription.Status.ACTIVE)
    assert poll_integrations() == 2
    assert _billing_pause(again) is None


def test_the_claim_outlives_the_deleted_account(owner):
    first = account_create(owner=owner, name="First")
    _integration(first, owner, xero="tenant-1", salesforce="00D1")
    first.delete()
    claim = TrialClaim.objects.get(provider="xero")
    assert claim.account is None
    second = account_create(owner=owner, name="Second")
    again = _integration(second, owner, xero="tenant-1", salesforce="00D2")
    poll_integrations()
    assert _billing_pause(again) == XERO_MESSAGE

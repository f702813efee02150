"""Closing an account: grants revoked at the providers (the simulators, over HTTP), syncing
off, subscription canceled, pages gone for every member, data deleted after the retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.closing import account_close, accounts_delete_expired
from accounts.models import Account, Membership, Role
from accounts.services import AccountsError, account_create
from accounts.tasks import delete_closed_accounts
from billing.models import Subscription
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import SyncRun
from sandbox.salesforce.models import RefreshToken
from sandbox.xero.models import Connection as XeroGrantConnection
from tests.factories import MembershipFactory, UserFactory
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration, xero_refresh_works


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def wired(sandbox_url: str, settings: Any) -> str:
    point_at_sandbox(settings, sandbox_url)
    xero = f"{sandbox_url}/sandbox/xero"
    settings.XERO_REVOKE_URL = f"{xero}/identity/connect/revocation"
    settings.XERO_CONNECTIONS_URL = f"{xero}/connections"
    return sandbox_url


@pytest.mark.django_db(transaction=True)
def test_closing_revokes_the_grants_and_hides_the_account(wired, settings):
    settings.ACCOUNT_RETENTION_DAYS = 30
    owner = UserFactory.create(email="owner@example.com")
    account = account_create(owner=owner, name="Acme Ltd")
    admin = MembershipFactory.create(account=account, role=Role.ADMIN).user
    integration = sandbox_integration(wired, account=account, is_enabled=True)
    xero_refresh = Connection.objects.get(provider="xero").credentials["refresh_token"]
    assert RefreshToken.objects.filter(revoked=False).exists()
    assert XeroGrantConnection.objects.exists()

    client = _client(owner)
    url = reverse("accounts:close", kwargs={"account_slug": account.slug})
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"confirm_name": "Acme"})
    assert wrong.status_code == 200
    assert "exactly as shown" in wrong.content.decode()
    assert Account.objects.get(pk=account.pk).closed_at is None

    response = client.post(url, {"confirm_name": "Acme Ltd"}, follow=True)
    assert "Acme Ltd is closed" in response.content.decode()

    account.refresh_from_db()
    assert account.closed_at is not None
    assert account.delete_after is not None
    assert account.delete_after - account.closed_at == dt.timedelta(days=30)
    # Revoked at the providers, over HTTP.
    assert not RefreshToken.objects.filter(revoked=False).exists()
    assert not xero_refresh_works(f"{wired}/sandbox/xero", xero_refresh)
    assert not XeroGrantConnection.objects.exists()
    assert not Connection.objects.filter(account=account).exists()
    assert not Integration.objects.get(pk=integration.pk).is_enabled
    assert Subscription.objects.get(account=account).status == Subscription.Status.CANCELED
    # The owners are told.
    [email] = mail.outbox
    assert email.to == ["owner@example.com"]
    assert "Acme Ltd is closed" in email.subject
    # Gone for every member.
    dashboard = reverse("accounts:dashboard", kwargs={"account_slug": account.slug})
    assert client.get(dashboard).status_code == 404
    assert _client(admin).get(dashboard).status_code == 404
    assert "Acme Ltd" not in client.get(reverse("accounts:account_list")).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPPORT])
def test_only_owners_close(role):
    owner = UserFactory.create()
    account = account_create(owner=owner, name="Acme")
    member = MembershipFactory.create(account=account, role=role).user
    url = reverse("accounts:close", kwargs={"account_slug": account.slug})
    assert _client(member).get(url).status_code == 403
    assert _client(member).post(url, {"confirm_name": "Acme"}).status_code == 403
    account.refresh_from_db()
    assert account.closed_at is None


@pytest.mark.django_db
def test_an_outsider_gets_404_and_nothing_closes():
    account = account_create(owner=UserFactory.create(), name="Acme")
    outsider = UserFactory.create()
    account_create(owner=outsider, name="Other")
    url = reverse("accounts:close", kwargs={"account_slug": account.slug})
    assert _client(outsider).post(url, {"confirm_name": "Acme"}).status_code == 404
    account.refresh_from_db()
    assert account.closed_at is None


@pytest.mark.django_db
def test_closing_twice_is_refused():
    owner = UserFactory.create()
    account = account_create(owner=owner, name="Acme")
    account_close(account=account, by=owner, confirm_name="Acme")
    with pytest.raises(AccountsError):
        account_close(account=account, by=owner, confirm_name="Acme")


@pytest.mark.django_db
def test_data_is_deleted_after_the_retention_and_other_accounts_are_untouched(caplog):
    owner = UserFactory.create()
    closed = account_create(owner=owner, name="Closing")
    kept = account_create(owner=owner, name="Kept")
    for account in (closed, kept):
        integration = Integration.objects.create(account=account, name="Main")
        SyncRun.objects.create(integration=integration, created_count=3)
    account_close(account=closed, by=owner, confirm_name="Closing")

    assert accounts_delete_expired() == 0  # still within the retention
    assert Account.objects.filter(pk=closed.pk).exists()

    caplog.set_level("INFO", logger="accounts.closing")
    later = timezone.now() + dt.timedelta(days=31)
    assert accounts_delete_expired(now=later) == 1
    assert not Account.objects.filter(pk=closed.pk).exists()
    assert not Integration.objects.filter(account_id=closed.pk).exists()
    assert not SyncRun.objects.filter(integration__account_id=closed.pk).exists()
    assert not Subscription.objects.filter(account_id=closed.pk).exists()
    assert not Membership.objects.filter(account_id=closed.pk).exists()
    assert "closed account deleted" in caplog.text
    # The other account, and the owner's login, are untouched.
    assert Integration.objects.filter(account=kept).count() == 1
    assert SyncRun.objects.filter(integration__account=kept).count() == 1
    assert Membership.objects.filter(account=kept, user=owner).exists()


@pytest.mark.django_db
def test_the_daily_task_deletes_past_retention(settings):
    owner = UserFactory.create()
    account = account_create(owner=owner, name="Gone")
    account_close(account=account, by=owner, confirm_name="Gone")
    Account.objects.filter(pk=account.pk).update(delete_after=timezone.now())
    assert delete_closed_accounts() == 1
    assert not Account.objects.filter(pk=account.pk).exists()

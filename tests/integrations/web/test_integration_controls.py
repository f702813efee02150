"""The integration page's controls: sync now, switch off and on, and disconnecting behind a
confirmation that says what stops and what stays."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.setup import steps
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "integrations.sync.services.enqueue_sync", lambda **kwargs: calls.append(kwargs)
    )
    return calls


def _integration(account, **fields: Any) -> Integration:
    xero = Connection.objects.create(
        account=account, provider="xero", external_id="t1", display_name="Demo Org", credentials={}
    )
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id="00D1",
        display_name="Demo SF",
        credentials={},
    )
    return Integration.objects.create(
        account=account,
        name="Main",
        xero_connection=xero,
        salesforce_connection=salesforce,
        **fields,
    )


def _url(name: str, integration: Integration, **extra: Any) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={
            "account_slug": integration.account.slug,
            "integration_id": integration.pk,
            **extra,
        },
    )


def _member(account, role: Role, email: str) -> Client:
    user = UserFactory.create(email=email)
    MembershipFactory.create(user=user, account=account, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_support_starts_a_sync_now_and_is_told_so(account, support_client, queued):
    integration = _integration(account, is_enabled=True)
    page = support_client.get(_url("detail", integration)).content.decode()
    assert "Sync now" in page
    assert "Switch off" not in page  # switching is the admins'
    response = support_client.post(_url("sync_now", integration), follow=True)
    assert queued == [{"integration_id": integration.pk, "trigger": "manual"}]
    assert "Sync started" in response.content.decode()


def test_sync_now_is_refused_with_the_reason_while_switched_off(account, admin_client_, queued):
    integration = _integration(account, is_enabled=False)
    response = admin_client_.post(_url("sync_now", integration), follow=True)
    assert queued == []
    assert "Syncing cannot start now" in response.content.decode()


def test_sync_now_needs_post_and_is_not_for_other_accounts(account, outsider_client, queued):
    integration = _integration(account, is_enabled=True)
    assert outsider_client.post(_url("sync_now", integration)).status_code == 404
    assert queued == []


def test_switched_off_from_the_page_says_by_whom_and_when(account):
    integration = _integration(account, is_enabled=True)
    admin = _member(account, Role.ADMIN, "ada@example.com")
    detail = _url("detail", integration)
    assert "Switch off" in admin.get(detail).content.decode()
    response = admin.post(_url("setup_switch", integration), {"on": "0", "back": "detail"})
    assert response["Location"] == detail
    integration.refresh_from_db()
    assert not integration.is_enabled
    assert integration.switched_off_at is not None
    page = admin.get(detail).content.decode()
    assert "Switched off by ada@example.com on" in page
    assert "Not switched on yet" not in page
    assert "Switch on" in page


def test_switching_on_again_clears_who_switched_off_and_keeps_the_wizard_ticks(account):
    integration = _integration(account, is_enabled=True)
    steps.switch_off(integration=integration, user=None)
    steps.switch_on(integration=integration, user=None)
    integration.refresh_from_db()
    assert integration.switched_off_at is None
    steps.switch_off(integration=integration, user=None)
    integration.refresh_from_db()
    # Switched on once means every step was reviewed: off again, they stay ticked.
    assert set(steps.CONFIGURED_STEPS) <= steps.done_steps(integration)


def test_never_switched_on_still_reads_not_switched_on_yet(account, admin_client_):
    integration = _integration(account)
    page = admin_client_.get(_url("detail", integration)).content.decode()
    assert "Not switched on yet" in page


def test_support_cannot_switch_off(account, support_client):
    integration = _integration(account, is_enabled=True)
    response = support_client.post(_url("setup_switch", integration), {"on": "0"})
    assert response.status_code == 403
    integration.refresh_from_db()
    assert integration.is_enabled


def test_disconnect_asks_first_saying_what_stops_and_what_stays(account, monkeypatch):
    revoked: list[str] = []
    monkeypatch.setattr(
        "integrations.connections.xero.provider.XeroProvider.revoke",
        lambda self, *, credentials, external_id: revoked.append(external_id),
    )
    integration = _integration(account, is_enabled=True)
    connection = integration.xero_connection
    assert connection is not None
    admin = _member(account, Role.ADMIN, "ada@example.com")
    url = _url("disconnect", integration, connection_id=connection.pk)
    assert url in admin.get(_url("detail", integration)).content.decode()
    page = admin.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "What stops" in text
    assert "What stays" in text
    assert "nothing is deleted there" in text
    assert "nothing is created twice" in text
    assert Connection.objects.filter(pk=connection.pk).exists()  # a GET changes nothing

    response = admin.post(url)
    assert response.status_code == 302
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert revoked == ["t1"]
    integration.refresh_from_db()
    assert not integration.is_enabled
    assert integration.switched_off_at is not None


def test_disconnect_page_is_the_admins_and_this_accounts(account, support_client, outsider_client):
    integration = _integration(account, is_enabled=True)
    connection = integration.xero_connection
    assert connection is not None
    url = _url("disconnect", integration, connection_id=connection.pk)
    assert support_client.get(url).status_code == 403
    assert outsider_client.get(url).status_code == 404

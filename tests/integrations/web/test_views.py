"""Integration pages: who may see and change them, and what they show."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.connections.models import Connection
from integrations.core.models import Integration

pytestmark = pytest.mark.django_db


def _integration(account, **kwargs) -> Integration:
    return Integration.objects.create(account=account, name="Main", **kwargs)


def test_admin_creates_an_integration_and_is_sent_to_xero(account, admin_client_):
    response = admin_client_.post(
        reverse("integrations:create", kwargs={"account_slug": account.slug}), {"name": "EU sales"}
    )
    integration = Integration.objects.get(account=account)
    assert integration.name == "EU sales"
    assert not integration.is_enabled
    assert response["Location"] == reverse(
        "xero:connect", kwargs={"account_slug": account.slug, "integration_id": integration.pk}
    )


def test_support_sees_integrations_but_cannot_add_or_disconnect(account, support_client):
    connection = Connection.objects.create(
        account=account, provider="xero", external_id="t1", display_name="Org", credentials={}
    )
    integration = _integration(account, xero_connection=connection)
    slug = account.slug
    assert (
        support_client.get(reverse("integrations:list", kwargs={"account_slug": slug})).status_code
        == 200
    )
    detail = reverse(
        "integrations:detail", kwargs={"account_slug": slug, "integration_id": integration.pk}
    )
    page = support_client.get(detail)
    assert page.status_code == 200
    assert b"Disconnect" not in page.content
    create = reverse("integrations:create", kwargs={"account_slug": slug})
    assert support_client.post(create, {"name": "x"}).status_code == 403
    disconnect = reverse(
        "integrations:disconnect",
        kwargs={
            "account_slug": slug,
            "integration_id": integration.pk,
            "connection_id": connection.pk,
        },
    )
    assert support_client.post(disconnect).status_code == 403
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_detail_offers_reconnect_when_a_connection_needs_it(account, admin_client_):
    connection = Connection.objects.create(
        account=account,
        provider="xero",
        external_id="t1",
        display_name="Demo Org",
        credentials={},
        status=Connection.Status.NEEDS_REAUTH,
        last_error="Xero no longer accepts this connection's authorisation (invalid_grant).",
    )
    integration = _integration(account, xero_connection=connection)
    page = admin_client_.get(
        reverse(
            "integrations:detail",
            kwargs={"account_slug": account.slug, "integration_id": integration.pk},
        )
    ).content.decode()
    assert "Needs re-authorisation" in page
    assert "Reconnect Xero" in page
    assert "invalid_grant" in page
    assert "Connect Salesforce" in page
    dashboard = admin_client_.get(
        reverse("accounts:dashboard", kwargs={"account_slug": account.slug})
    )
    # The dashboard names the one thing that helps: reconnecting, with Xero's reason.
    assert b"Reconnect Xero" in dashboard.content
    assert b"invalid_grant" in dashboard.content


def test_support_reads_the_log_and_dismisses_a_failure(account, support_client):
    from integrations.sync.models import SyncLogEntry, SyncRun

    integration = _integration(account)
    run = SyncRun.objects.create(integration=integration, status=SyncRun.Status.PARTIAL)
    failure = SyncLogEntry.objects.create(
        run=run,
        integration=integration,
        salesforce_id="006000000000001AAA",
        outcome=SyncLogEntry.Outcome.FAILED,
        message="Invoice not created: Account code '999' is not a valid code for this document.",
    )
    SyncLogEntry.objects.create(
        run=run,
        integration=integration,
        salesforce_id="006000000000002AAA",
        outcome=SyncLogEntry.Outcome.CREATED,
        message="Invoice INV-0042 created for Acme Ltd, 3 lines, USD 4,500.00",
    )
    kwargs = {"account_slug": account.slug, "integration_id": integration.pk}
    detail = support_client.get(reverse("integrations:detail", kwargs=kwargs)).content.decode()
    assert "1 record needs attention" in detail

    log = support_client.get(reverse("integrations:log", kwargs=kwargs)).content.decode()
    assert "is not a valid code" in log
    assert "INV-0042" not in log  # the default view shows what needs attention
    everything = support_client.get(reverse("integrations:log", kwargs=kwargs) + "?show=all")
    assert b"INV-0042" in everything.content

    support_client.post(
        reverse("integrations:log_dismiss", kwargs={**kwargs, "entry_id": failure.pk})
    )
    failure.refresh_from_db()
    assert failure.dismissed_at is not None
    detail = support_client.get(reverse("integrations:detail", kwargs=kwargs)).content.decode()
    assert "need attention" not in detail
    assert "needs attention" not in detail


def test_support_retries_a_failed_record(
    account, support_client, django_capture_on_commit_callbacks
):
    from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun

    integration = _integration(account)
    ledger = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id="006000000000001AAA",
        state=LedgerEntry.State.FAILED,
        content_hash="abc",
    )
    run = SyncRun.objects.create(integration=integration)
    failure = SyncLogEntry.objects.create(
        run=run,
        integration=integration,
        ledger=ledger,
        outcome=SyncLogEntry.Outcome.FAILED,
        message="The currency code JPY is not enabled for this organisation.",
    )
    kwargs = {"account_slug": account.slug, "integration_id": integration.pk}
    log = support_client.get(reverse("integrations:log", kwargs=kwargs)).content.decode()
    assert "Retry" in log
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = support_client.post(
            reverse("integrations:log_retry", kwargs={**kwargs, "entry_id": failure.pk})
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the sync is queued only once the retry is committed
    ledger.refresh_from_db()
    failure.refresh_from_db()
    assert ledger.state == LedgerEntry.State.PENDING
    assert ledger.content_hash == ""
    assert failure.dismissed_at is not None


def test_the_log_shows_each_outcome_with_its_own_count(account, support_client):
    from integrations.sync.models import SyncRun

    integration = _integration(account)
    SyncRun.objects.create(
        integration=integration,
        status=SyncRun.Status.PARTIAL,
        created_count=7,
        failed_count=0,
        attention_count=3,
    )
    html = support_client.get(
        reverse(
            "integrations:log",
            kwargs={"account_slug": account.slug, "integration_id": integration.pk},
        )
    ).content.decode()
    assert "Need a person" in html
    assert "<td>0</td><td>3</td>" in html  # failed, then needing a person
    assert "Some records failed" not in html
    assert "Completed; some records have problems" in html

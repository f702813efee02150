"""The alerts page: support staff read it, admins change it, other accounts get nothing, and
the Slack URL — the channel's credential — is never shown or logged in full."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from alerts.delivery import webhook_url_problem
from alerts.models import AlertDelivery, AlertSettings
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/T0001/B0002/s3cr3tt0ken9xyz"


def _client(account, role: Role) -> Client:
    user = UserFactory.create()
    MembershipFactory.create(account=account, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _page(account) -> str:
    return reverse("alerts:page", kwargs={"account_slug": account.slug})


def _form(**overrides: object) -> dict[str, object]:
    return {"failure_threshold": 25, "stalled_after_minutes": 90, **overrides}


def test_support_reads_open_incidents_and_history_but_cannot_change_anything(
    integration, evaluate, django_assert_max_num_queries
):
    AlertSettings.objects.create(account=integration.account, slack_webhook={"url": SLACK})
    integration.xero_connection.status = "needs_reauth"
    integration.xero_connection.save()
    AlertDelivery.objects.all().delete()
    evaluate(integration)
    support = _client(integration.account, Role.SUPPORT)
    with django_assert_max_num_queries(12):
        response = support.get(_page(integration.account))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Reconnect Xero for Main" in html
    assert f"/integrations/{integration.pk}/xero/connect/" in html
    assert "admin@acme.test" in html  # the history says who was told
    assert "s3cr3tt0ken" not in html
    assert "••••9xyz" in html
    assert "<form" not in html.split('id="settings-heading"')[1].split("</section>")[0]

    before = AlertSettings.objects.get()
    assert support.post(_page(integration.account), _form(daily_digest="on")).status_code == 403
    test_url = reverse("alerts:test", kwargs={"account_slug": integration.account.slug})
    assert support.post(test_url).status_code == 403
    after = AlertSettings.objects.get()
    assert (after.daily_digest, after.failure_threshold) == (before.daily_digest, 10)


def test_an_admin_changes_the_settings_and_the_url_stays_masked(integration, caplog, slack):
    admin = _client(integration.account, Role.ADMIN)
    page = _page(integration.account)
    response = admin.post(page, _form(daily_digest="on", slack_url=slack.url))
    assert response.status_code == 302
    row = AlertSettings.objects.get()
    assert (row.daily_digest, row.failure_threshold, row.stalled_after_minutes) == (True, 25, 90)
    assert row.slack_url == slack.url
    html = admin.get(page).content.decode()
    assert "s3cr3tt0ken" not in html
    assert "••••9xyz" in html
    # Stored encrypted: the database never holds the URL.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT slack_webhook FROM alerts_alertsettings")
        (raw,) = cursor.fetchone()
    assert raw.startswith("enc:fernet:")
    assert "s3cr3tt0ken" not in raw

    # An empty field keeps the stored URL; saving other settings does not drop it.
    admin.post(page, _form())
    assert AlertSettings.objects.get().slack_url == slack.url

    # The test button posts to the channel at once and records it in the history.
    test_url = reverse("alerts:test", kwargs={"account_slug": integration.account.slug})
    admin.post(test_url)
    (text,) = slack.texts
    assert "checked that alerts of Acme reach this channel" in text
    assert AlertDelivery.objects.get(kind="test").sent_at is not None

    admin.post(page, _form(remove_slack="on"))
    assert AlertSettings.objects.get().slack_url == ""
    assert "s3cr3tt0ken" not in caplog.text


def test_a_webhook_inside_our_network_is_refused(settings):
    """Production's rule (the sandbox allows plain http to local receivers)."""
    settings.SANDBOX_ENABLED = False
    assert webhook_url_problem("https://1.1.1.1/services/T0001/B0002/x") == ""
    for url, error in (
        ("http://hooks.slack.com/services/x", "must start with https://"),
        ("https://127.0.0.1/services/x", "private network"),
        ("https://169.254.169.254/latest/meta-data", "private network"),
        ("https://10.1.2.3/hook", "private network"),
    ):
        assert error in webhook_url_problem(url)


def test_another_account_gets_404(integration, outsider_client):
    assert outsider_client.get(_page(integration.account)).status_code == 404
    assert outsider_client.post(_page(integration.account), _form()).status_code == 404
    test_url = reverse("alerts:test", kwargs={"account_slug": integration.account.slug})
    assert outsider_client.post(test_url).status_code == 404


def test_the_dashboard_and_navigation_show_open_alerts(integration, evaluate):
    owner = _client(integration.account, Role.OWNER)
    dashboard = reverse("accounts:dashboard", kwargs={"account_slug": integration.account.slug})
    html = owner.get(dashboard).content.decode()
    assert "No open alerts" in html
    assert f'href="{_page(integration.account)}"' in html  # the navigation's link
    integration.xero_connection.status = "needs_reauth"
    integration.xero_connection.save()
    evaluate(integration)
    assert "1 open alert" in owner.get(dashboard).content.decode()
    other = AccountFactory.create()
    assert (
        "1 open alert"
        not in _client(other, Role.OWNER)
        .get(reverse("accounts:dashboard", kwargs={"account_slug": other.slug}))
        .content.decode()
    )

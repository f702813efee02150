"""The public pages (before signup) and the owners' billing page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from billing.models import PlanTier, Subscription
from billing.services import subscription_start_trial
from integrations.core.models import Integration
from integrations.sync.models import SyncRun
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["billing:pricing", "billing:how_it_works", "billing:faq"])
def test_public_pages_render_without_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert b"Start your free trial" in response.content or name == "billing:faq"


def test_pricing_shows_the_tiers_and_worked_examples(client):
    page = client.get(reverse("billing:pricing")).content.decode()
    for amount in ("£29.99", "£23.99", "£20.99", "£17.99", "£10.00", "£30.00", "£60.00"):
        assert amount in page
    # The worked examples: 1, 3 and 6 integrations.
    assert "1 integration: £29.99 a month" in page
    assert "3 integrations: £77.97 a month" in page
    assert "6 integrations: £137.94 a month" in page


def test_pricing_comes_from_the_data(client):
    tier = PlanTier.objects.get(plan__code="standard", first_integration=1)
    tier.unit_amount = Decimal("31.50")
    tier.save()
    page = client.get(reverse("billing:pricing")).content.decode()
    assert "£31.50" in page
    assert "£29.99" not in page
    assert "1 integration: £31.50 a month" in page


def test_how_it_works_walks_the_installation_with_help_on_the_options(client):
    page = client.get(reverse("billing:how_it_works")).content.decode()
    order = [
        "Sign up.",
        "Add a new integration.",
        "Salesforce is the source.",
        "Xero is the target.",
        "Authorise Xero.",
        "Connect Salesforce.",
        "Which opportunities.",
    ]
    positions = [page.index(step) for step in order]
    assert positions == sorted(positions)
    assert "Invoice status" in page  # an option's help, from integrations.setup.help


def test_landing_and_navigation_link_the_public_pages(client):
    page = client.get(reverse("home")).content.decode()
    for name in ("billing:pricing", "billing:how_it_works", "billing:faq"):
        assert reverse(name) in page


def _owner(account):
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


def test_owner_sees_the_trial_countdown_and_the_price_of_what_is_switched_on():
    account = AccountFactory.create()
    subscription_start_trial(account=account)
    for n in range(3):
        integration = Integration.objects.create(account=account, name=f"I{n}", is_enabled=True)
    Integration.objects.create(account=account, name="off", is_enabled=False)
    SyncRun.objects.create(integration=integration, created_count=600)
    client = _owner(account)
    url = reverse("billing:page", kwargs={"account_slug": account.slug})
    page = client.get(url).content.decode()
    assert "Standard plan" in page
    assert "Trial: 30 days left" in page  # the navigation's countdown
    assert "3 switched-on integrations" in page
    assert "600 invoices created" in page
    assert "Volume: over 500 invoices in 30 days" in page
    assert "£87.97" in page  # 29.99 + 2 x 23.99 + 10.00
    assert reverse("billing:checkout", kwargs={"account_slug": account.slug}) in page
    dashboard = client.get(account.get_absolute_url()).content.decode()
    assert "30 days left" in dashboard
    assert f'href="{url}"' in dashboard


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPPORT])
def test_admins_and_support_get_403_and_no_countdown(role):
    account = AccountFactory.create()
    subscription_start_trial(account=account)
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=role)
    client = Client()
    client.force_login(user)
    kwargs = {"account_slug": account.slug}
    assert client.get(reverse("billing:page", kwargs=kwargs)).status_code == 403
    assert client.post(reverse("billing:checkout", kwargs=kwargs)).status_code == 403
    assert "Trial:" not in client.get(account.get_absolute_url()).content.decode()


def test_subscribe_without_stripe_says_billing_is_not_configured(settings):
    settings.STRIPE_SECRET_KEY = ""
    account = AccountFactory.create()
    subscription_start_trial(account=account)
    client = _owner(account)
    url = reverse("billing:checkout", kwargs={"account_slug": account.slug})
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert "Billing is not configured on this server" in response.content.decode()
    assert Subscription.objects.get(account=account).status == Subscription.Status.TRIALING

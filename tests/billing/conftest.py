from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from django.apps import apps as django_apps
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Account, Role, User
from billing.models import Subscription
from billing.services import subscription_start_trial
from sandbox.stripe import seed, webhooks
from sandbox.stripe import services as stripe_sandbox
from sandbox.stripe.models import StripeAccount
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.integrations.connections.xero.conftest import xero
from tests.sandbox.stripe.conftest import submit_card

__all__ = ["submit_card", "xero"]

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
FAILS_RENEWALS = "4000000000000341"


@dataclass
class Billing:
    """The simulated Stripe at the live server, with its demo webhook endpoint at our
    ``/billing/stripe/webhook/``, and an owner of an account in trial."""

    base: str
    stripe: stripe.StripeClient
    sandbox_account: StripeAccount
    account: Account
    owner: User
    client: Client

    @property
    def subscription(self) -> Subscription:
        return Subscription.objects.get(account=self.account)

    def page(self) -> str:
        return f"/a/{self.account.slug}/billing/"

    def checkout(self, number: str = GOOD_CARD) -> requests.Response:
        """Subscribe: Checkout started by us, the card typed on Stripe's page."""
        started = self.client.post(f"{self.page()}checkout/")
        assert started.status_code == 303, list(get_messages(started.wsgi_request))
        return submit_card(started["Location"], number)

    def return_to(self, response: requests.Response) -> Any:
        """The browser following Checkout's redirect back to our billing page."""
        location = urlsplit(response.headers["Location"])
        assert location.path == self.page(), location
        return self.client.get(f"{location.path}?{location.query}", follow=True)

    def advance(self, days: float) -> None:
        stripe_sandbox.advance_account(self.sandbox_account, days=days)
        self.sandbox_account.refresh_from_db()


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Queued tasks (a webhook's processing, a quantity change) run where they are queued."""
    from carrytheone.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def billing(transactional_db: None, sandbox_url: str, settings: Any) -> Iterator[Billing]:
    base = f"{sandbox_url}/sandbox/stripe"
    settings.STRIPE_API_BASE = base
    settings.SITE_URL = sandbox_url
    settings.SANDBOX_STRIPE_WEBHOOK_URL = f"{sandbox_url}/billing/stripe/webhook/"
    seed.reset(seed="demo")
    webhooks.SYNCHRONOUS = True
    # A transactional test's flush took the migration's reference plan with it.
    importlib.import_module("billing.migrations.0003_seed_reference_plan").seed(django_apps, None)
    account = AccountFactory.create()
    owner = UserFactory.create()
    MembershipFactory.create(user=owner, account=account, role=Role.OWNER)
    subscription_start_trial(account=account)
    client = Client(SERVER_NAME="testserver")
    client.force_login(owner)
    yield Billing(
        base=sandbox_url,
        stripe=stripe.StripeClient(
            settings.STRIPE_SECRET_KEY, base_addresses={"api": base}, max_network_retries=0
        ),
        sandbox_account=StripeAccount.objects.get(secret_key=settings.STRIPE_SECRET_KEY),
        account=account,
        owner=owner,
        client=client,
    )
    webhooks.SYNCHRONOUS = False

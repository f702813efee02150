"""Wipes the simulated Stripe and (``seed="demo"``) creates the demo account and its webhook.

Only what Stripe's dashboard would hold before the product runs: the account with its fixed test
secret key, and the webhook endpoint pointing at the product (``SANDBOX_STRIPE_WEBHOOK_URL``)
with the fixed signing secret the product's ``STRIPE_WEBHOOK_SECRET`` defaults to. Products,
prices and customers are the product's to create.
"""

from __future__ import annotations

from django.conf import settings

from sandbox.db import atomic
from sandbox.stripe import services
from sandbox.stripe.models import IdempotencyRecord, StripeAccount, StripeObject, WebhookDelivery


def is_empty() -> bool:
    return not StripeAccount.objects.exists()


@atomic()
def reset(*, seed: str | None) -> None:
    for model in (WebhookDelivery, IdempotencyRecord, StripeObject, StripeAccount):
        model.objects.all().delete()
    if seed is None:
        return
    if seed != "demo":
        raise ValueError(f"unknown seed {seed!r}")
    account = StripeAccount.objects.create(
        name=services.DEMO_ACCOUNT_NAME,
        secret_key=services.DEMO_SECRET_KEY,
        api_version=services.DEFAULT_API_VERSION,
    )
    url = getattr(settings, "SANDBOX_STRIPE_WEBHOOK_URL", "")
    if url:
        services.webhook_endpoint_create(
            account,
            url=url,
            events=["*"],
            api_version=None,
            secret=getattr(settings, "STRIPE_WEBHOOK_SECRET", "") or services.DEMO_WEBHOOK_SECRET,
            description="CarryTheOne (make run)",
        )

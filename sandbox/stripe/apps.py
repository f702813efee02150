from django.apps import AppConfig


class SandboxStripeConfig(AppConfig):
    """A simulated Stripe: Billing API, hosted Checkout, portal and invoices, signed webhooks."""

    name = "sandbox.stripe"
    label = "sandbox_stripe"
    verbose_name = "Sandbox: Stripe"

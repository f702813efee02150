from django.apps import AppConfig


class SandboxXeroConfig(AppConfig):
    """A simulated Xero: Accounting API, identity (OAuth2, connections), webhooks, pages."""

    name = "sandbox.xero"
    label = "sandbox_xero"
    verbose_name = "Sandbox: Xero"

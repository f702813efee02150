from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Simulated Salesforce and Xero over real HTTP, for the demo and end-to-end tests."""

    name = "sandbox"
    verbose_name = "Sandbox"

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Providers (Salesforce, Xero), integrations, the sync engine and its logs."""

    name = "integrations"
    verbose_name = "Integrations"

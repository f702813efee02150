from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Providers (Salesforce, Xero), integrations, the sync engine and its logs."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.connections import checks  # noqa: F401  (registers the system checks)

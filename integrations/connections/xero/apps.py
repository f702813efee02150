from django.apps import AppConfig


class XeroConfig(AppConfig):
    """Installed so Django finds this package's templates (``xero/...``)."""

    name = "integrations.connections.xero"
    label = "integrations_xero"
    verbose_name = "Xero integration"

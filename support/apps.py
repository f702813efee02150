from django.apps import AppConfig


class SupportConfig(AppConfig):
    """Customers' conversations with CarryTheOne's team, answered from the operator admin."""

    name = "support"
    verbose_name = "Support"

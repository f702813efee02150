from django.apps import AppConfig


class SandboxSalesforceConfig(AppConfig):
    """A simulated Salesforce org: REST query/describe/updated/deleted, OAuth, pages."""

    name = "sandbox.salesforce"
    label = "sandbox_salesforce"
    verbose_name = "Sandbox: Salesforce"

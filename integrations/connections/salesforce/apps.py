from django.apps import AppConfig


class SalesforceIntegrationConfig(AppConfig):
    """Salesforce as a source: connect flow, API client, templates.

    Listed in INSTALLED_APPS so its templates are found; the label keeps it apart from the
    simulator (``sandbox.salesforce``, label ``sandbox_salesforce``).
    """

    name = "integrations.connections.salesforce"
    label = "integrations_salesforce"
    verbose_name = "Integrations: Salesforce"

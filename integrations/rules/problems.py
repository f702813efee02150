"""The one error the pure rule functions raise."""

from __future__ import annotations


class RuleProblem(ValueError):
    """An opportunity the rules cannot decide for, as things stand: it waits until they change.

    ``field`` names what to change, so the settings page (or a log reader) can point at it: a
    configuration key (``default_tax_type``), a rule table (``tax_rules``, ``tracking_rules``,
    ``payment_methods``), or a Salesforce field (``Opportunity.Region__c``,
    ``Account.BillingCountry``). ``message`` is a sentence for a business owner saying what is
    wrong and what to change; it is also the exception's text.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

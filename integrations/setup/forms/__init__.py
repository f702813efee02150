"""The setup wizard's forms, built per request from what Xero and Salesforce hold.

Each step form edits a few SyncConfig keys; :meth:`StepForm.config_data` gives them as the JSON
``config_update`` stores, and :meth:`StepForm.add_config_error` puts a ``ConfigError`` at its
field. Rule forms edit one row of a rule table and validate it through the model's
``full_clean()`` and constraints. Labels and help come from :mod:`integrations.setup.help`.

Dropdowns list what the customer's systems hold; a stored value missing from a list stays
selectable, marked as not found. Without a list (a system not connected or not readable), a
field falls back to a text box so the form still works.
"""

from __future__ import annotations

from integrations.setup.forms.rules import (
    RULE_FORMS,
    RULE_MODELS,
    PaymentMethodForm,
    RuleForm,
    TaxRuleForm,
    TrackingRuleForm,
    country_choices,
)
from integrations.setup.forms.steps import STEP_FORMS, StepForm
from integrations.setup.services import rule_label, rule_snapshot

__all__ = [
    "RULE_FORMS",
    "RULE_MODELS",
    "STEP_FORMS",
    "PaymentMethodForm",
    "RuleForm",
    "StepForm",
    "TaxRuleForm",
    "TrackingRuleForm",
    "country_choices",
    "rule_label",
    "rule_snapshot",
]

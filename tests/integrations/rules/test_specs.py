"""RuleSet loading, the extra fields the reader must select, and reading their values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.rules.problems import RuleProblem
from integrations.rules.selectors import rule_set_for
from integrations.rules.specs import (
    PaymentMethodSpec,
    RuleSet,
    TaxRuleSpec,
    TrackingRuleSpec,
    as_text,
    field_value,
    fields_needed,
)
from tests.factories import AccountFactory
from tests.integrations.rules.data import customer, opportunity


@pytest.mark.django_db
def test_for_integration_loads_only_its_rules_in_three_queries(
    django_assert_num_queries,
) -> None:
    account = AccountFactory.create()
    ours, other = (Integration.objects.create(account=account, name=n) for n in ("A", "B"))
    PaymentMethod.objects.create(
        integration=ours,
        name="Card",
        apply_payment=True,
        bank_account_code="090",
        currency_accounts={"eur": "091"},
        clearing_delay_days=2,
        invoice_status="AUTHORISED",
        payment_terms_days=7,
    )
    PaymentMethod.objects.create(integration=ours, name="Paid in shop", create_invoice=False)
    PaymentMethod.objects.create(integration=other, name="Cheque")
    TaxRule.objects.create(integration=ours, country="US", region="", tax_type="TAX003")
    TaxRule.objects.create(integration=ours, country="CA", region="ON", tax_type="TAX002")
    TaxRule.objects.create(integration=other, country="GB", region="", tax_type="OUTPUT2")
    TrackingRule.objects.create(
        integration=ours, category_name="Region", source="field", field="Region__c",
        mapping={"NE": "North"}, create_missing_options=True,
    )  # fmt: skip
    TrackingRule.objects.create(integration=ours, category_name="Channel", fixed_option="Web")

    with django_assert_num_queries(3):
        rules = rule_set_for(ours.pk)

    assert rules == RuleSet(
        payment_methods=(
            PaymentMethodSpec(
                name="Card",
                create_invoice=True,
                apply_payment=True,
                bank_account_code="090",
                currency_accounts={"EUR": "091"},
                clearing_delay_days=2,
                invoice_status="AUTHORISED",
                payment_terms_days=7,
            ),
            PaymentMethodSpec(name="Paid in shop", create_invoice=False),
        ),
        tax_rules=(TaxRuleSpec("CA", "ON", "TAX002"), TaxRuleSpec("US", "", "TAX003")),
        tracking_rules=(
            TrackingRuleSpec(
                "Region", "field", field="Region__c", mapping={"NE": "North"},
                create_missing_options=True,
            ),
            TrackingRuleSpec("Channel", "fixed", fixed_option="Web"),
        ),
    )  # fmt: skip
    assert rules.payment_method("CARD") == rules.payment_methods[0]
    assert rules.payment_method("Cheque") is None
    assert rules.tax_rule("CA", "ON") == TaxRuleSpec("CA", "ON", "TAX002")
    assert rules.tax_rule("CA") is None


def test_fields_needed_by_configuration_and_rules() -> None:
    config = SyncConfig(
        payment_method_field="Payment_Method__c", tax_mode="field", tax_field="Account.Tax__c"
    )
    rules = RuleSet(
        tracking_rules=(
            TrackingRuleSpec("Region", "field", field="Account.Region__c"),
            TrackingRuleSpec("Sales Rep", "field", field="Owner.Name"),
        )
    )
    assert fields_needed(config, rules) == (
        ("Payment_Method__c", "Owner.Name"),
        ("Tax__c", "Region__c"),
    )


def test_fields_needed_skips_unused_settings_and_duplicates() -> None:
    """A tax field left over from field mode, and fixed tracking rules, need nothing."""
    config = SyncConfig(tax_mode="rules", tax_field="Tax__c")
    rules = RuleSet(
        tracking_rules=(
            TrackingRuleSpec("Region", "fixed", fixed_option="North", field="Ignored__c"),
            TrackingRuleSpec("Sales Rep", "field", field="Region__c"),
        )
    )
    assert fields_needed(config, rules) == (("Region__c",), ())
    config = SyncConfig(payment_method_field="Region__c", tax_mode="field", tax_field="Region__c")
    assert fields_needed(config, rules) == (("Region__c",), ())
    assert fields_needed(SyncConfig(), RuleSet()) == ((), ())


def test_field_value_reads_opportunity_and_account_fields() -> None:
    opp = opportunity(fields={"Region__c": "NE", "Owner.Name": "Jo"}, customer=customer(Tier__c=2))
    assert field_value(opp, "Region__c", setting="s") == "NE"
    assert field_value(opp, "Owner.Name", setting="s") == "Jo"
    assert field_value(opp, "Account.Tier__c", setting="s") == 2
    assert field_value(opportunity(customer=None), "Account.Tier__c", setting="s") is None
    with pytest.raises(RuleProblem) as caught:
        field_value(opp, "Account.Missing__c", setting="tracking_rules")
    assert caught.value.field == "tracking_rules"
    assert "Account.Missing__c was not read" in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("  Card ", "Card"),
        (True, "true"),
        (False, "false"),
        (Decimal("10.00"), "10"),
        (Decimal("1.50"), "1.5"),
        (3, "3"),
        (dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_as_text(value: object, text: str) -> None:
    assert as_text(value) == text

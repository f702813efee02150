"""tax_type_for: the TaxType for an opportunity's lines, checked against the org's own rates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from integrations.connections.salesforce.records import Opportunity
from integrations.core.config import SyncConfig
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import RuleSet, TaxRuleSpec
from integrations.rules.tax import check_tax_type, tax_type_for
from tests.integrations.rules.data import US_METADATA, customer, opportunity

RULES = RuleSet(
    tax_rules=(
        TaxRuleSpec("US", "CA", "TAX001"),
        TaxRuleSpec("US", "NY", "TAX002"),
        TaxRuleSpec("US", "", "TAX003"),
        TaxRuleSpec("GB", "", "NONE"),
    )
)
RULES_MODE = SyncConfig(tax_mode="rules")


def in_place(country: str, region: str = "") -> Opportunity:
    return opportunity(customer=customer(country=country, region=region))


def problem(
    opp: Opportunity, config: SyncConfig, rules: RuleSet = RULES, metadata: Any = US_METADATA
) -> RuleProblem:
    with pytest.raises(RuleProblem) as caught:
        tax_type_for(opp, config, rules, metadata)
    return caught.value


# --- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["xero_default", "single", "rules", "field"])
def test_no_tax_invoices_never_carry_a_tax_type(mode: str) -> None:
    """Even a configuration that could not decide gives "" on a NoTax invoice."""
    config = SyncConfig(line_amount_types="NoTax", tax_mode=mode, tax_field="Missing__c")
    assert tax_type_for(opportunity(customer=None), config, RuleSet(), US_METADATA) == ""


def test_xero_default_sends_no_tax_type() -> None:
    config = SyncConfig.from_json({})
    assert config.tax_mode == "xero_default"
    assert tax_type_for(opportunity(), config, RULES, US_METADATA) == ""


def test_single_mode_uses_the_default_tax_type() -> None:
    config = SyncConfig.from_json({"default_tax_type": "TAX002"})
    assert config.tax_mode == "single"
    assert tax_type_for(in_place("Canada", "Ontario"), config, RULES, US_METADATA) == "TAX002"


def test_unknown_tax_mode_is_a_problem() -> None:
    caught = problem(opportunity(), SyncConfig(tax_mode="guess"))
    assert caught.field == "tax_mode"


# --- checks against the organisation's tax rates -------------------------------------------


@pytest.mark.parametrize(
    ("tax_type", "message"),
    [
        (
            "TAX009",
            "Tax rate TAX009 does not exist in Demo Widgets Ltd any more: choose another as the "
            "default tax type.",
        ),
        (
            "TAX008",
            "Tax rate TAX008 (Old Oregon Tax) is archived in Demo Widgets Ltd, not active: choose "
            "another as the default tax type.",
        ),
        (
            "INPUT",
            "Tax rate INPUT cannot be used on sales (revenue) in Demo Widgets Ltd: choose another "
            "as the default tax type.",
        ),
    ],
)
def test_unusable_default_tax_type(tax_type: str, message: str) -> None:
    caught = problem(opportunity(), SyncConfig(default_tax_type=tax_type))
    assert caught.field == "default_tax_type"
    assert caught.message == message
    assert str(caught) == message
    assert isinstance(caught, ValueError)


@pytest.mark.parametrize(
    ("tax_type", "message"),
    [
        (
            "TAX009",
            "Tax rate TAX009 does not exist in Demo Widgets Ltd any more: choose another in the "
            "tax rules.",
        ),
        (
            "INPUT",
            "Tax rate INPUT cannot be used on sales (revenue) in Demo Widgets Ltd: choose another "
            "in the tax rules.",
        ),
    ],
)
def test_unusable_rule_tax_type(tax_type: str, message: str) -> None:
    rules = RuleSet(tax_rules=(TaxRuleSpec("US", "", tax_type),))
    caught = problem(in_place("US"), RULES_MODE, rules)
    assert (caught.field, caught.message) == ("tax_rules", message)


def test_unusable_export_tax_type() -> None:
    config = SyncConfig(tax_mode="rules", export_tax_type="INPUT")
    caught = problem(in_place("Germany"), config)
    assert caught.field == "export_tax_type"
    assert caught.message.endswith("choose another as the export tax type.")


def test_check_tax_type_for_a_settings_form() -> None:
    assert check_tax_type("TAX001", US_METADATA, setting="x").effective_rate == 7.25
    with pytest.raises(RuleProblem, match="in the settings") as caught:
        check_tax_type("INPUT", US_METADATA, setting="export_tax_type")
    assert caught.value.field == "export_tax_type"


def test_an_organisation_without_a_name_is_still_named() -> None:
    metadata = replace(US_METADATA, name="")
    caught = problem(opportunity(), SyncConfig(default_tax_type="TAX009"), metadata=metadata)
    assert "in the Xero organisation any more" in caught.message


# --- rules mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("United States", "California", "TAX001"),  # (country, region)
        ("USA", "NY", "TAX002"),
        ("US", "New York State", "TAX002"),
        ("U.S.", "Texas", "TAX003"),  # no rule for TX: the whole country's
        ("US", "", "TAX003"),
        ("US", "Somewhere", "TAX003"),  # an unknown region still matches the country
        ("UK", "Kent", "NONE"),  # regions do not count outside US/CA/AU
        ("England", "", "NONE"),
    ],
)
def test_rules_match_region_then_country(country: str, region: str, expected: str) -> None:
    assert tax_type_for(in_place(country, region), RULES_MODE, RULES, US_METADATA) == expected


def test_export_tax_type_for_customers_abroad_without_a_rule() -> None:
    config = SyncConfig(tax_mode="rules", export_tax_type="EXPORT", default_tax_type="TAX003")
    assert tax_type_for(in_place("Canada", "Ontario"), config, RULES, US_METADATA) == "EXPORT"
    # A rule for the country still wins over the export rate.
    assert tax_type_for(in_place("United Kingdom"), config, RULES, US_METADATA) == "NONE"
    # At home the export rate does not apply: the default does.
    assert tax_type_for(in_place("US", "CA"), config, RuleSet(), US_METADATA) == "TAX003"


def test_default_tax_type_when_no_rule_matches() -> None:
    config = SyncConfig(tax_mode="rules", default_tax_type="TAX003")
    assert tax_type_for(in_place("Canada", "Ontario"), config, RULES, US_METADATA) == "TAX003"
    assert tax_type_for(in_place("", ""), config, RULES, US_METADATA) == "TAX003"
    assert tax_type_for(opportunity(customer=None), config, RULES, US_METADATA) == "TAX003"


def test_no_rule_abroad_says_add_a_rule_or_an_export_tax_type() -> None:
    caught = problem(in_place("Canada", "Ontario"), RULES_MODE)
    assert caught.field == "tax_rules"
    assert caught.message == (
        "No tax rule matches customers in Ontario, Canada: add a rule for CA/ON or CA, or set "
        "an export tax type."
    )


def test_no_rule_at_home_says_add_a_rule_or_a_default() -> None:
    rules = RuleSet(tax_rules=(TaxRuleSpec("US", "NY", "TAX002"),))
    caught = problem(in_place("US", "TX"), RULES_MODE, rules)
    assert caught.message == (
        "No tax rule matches customers in Texas, United States: add a rule for US/TX or US, or "
        "set a default tax type."
    )


def test_no_rule_for_a_country_without_regions() -> None:
    caught = problem(in_place("Deutschland"), RULES_MODE)
    assert caught.message == (
        "No tax rule matches customers in Germany: add a rule for DE, or set an export tax type."
    )


def test_no_rule_and_an_unrecognised_region_says_so() -> None:
    caught = problem(in_place("Canada", "Ontaryo"), RULES_MODE)
    assert caught.message == (
        "No tax rule matches customers in Canada (its billing state/province 'Ontaryo' is not "
        "one we recognise): add a rule for CA, or set an export tax type."
    )


def test_without_the_organisation_country_nobody_counts_as_abroad() -> None:
    metadata = replace(US_METADATA, country_code="")
    config = SyncConfig(tax_mode="rules", export_tax_type="EXPORT")
    caught = problem(in_place("Canada"), config, metadata=metadata)
    assert caught.message.endswith("or set a default tax type.")


def test_a_customer_without_a_country_needs_a_default() -> None:
    for opp in (in_place("", "Ontario"), opportunity(customer=None)):
        caught = problem(opp, RULES_MODE)
        assert caught.field == "Account.BillingCountry"
        assert caught.message == (
            "Opportunity 'Big Deal' (006000000000001AAA): its Account has no billing country, "
            "so no tax rule applies: fill in the Account's Billing Country in Salesforce, or "
            "set a default tax type."
        )


def test_an_unrecognised_country_is_not_guessed() -> None:
    """A typo could turn an export into a domestic sale: even a default does not apply."""
    config = SyncConfig(tax_mode="rules", default_tax_type="TAX003")
    caught = problem(in_place("Deutchland"), config)
    assert caught.field == "Account.BillingCountry"
    assert caught.message == (
        "Account 'Acme Corporation' has the billing country 'Deutchland', which is not a "
        "country we recognise: correct it in Salesforce (a 2-letter code such as US or GB "
        "always works)."
    )


# --- field mode ----------------------------------------------------------------------------


def field_config(field: str = "Tax_Code__c", **changes: Any) -> SyncConfig:
    return SyncConfig(tax_mode="field", tax_field=field, **changes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TAX002", "TAX002"),
        (" tax002 ", "TAX002"),
        ("New York City Sales Tax", "TAX002"),
        ("texas sales tax", "TAX003"),
    ],
)
def test_field_mode_reads_a_code_or_a_rate_name(value: str, expected: str) -> None:
    opp = opportunity(fields={"Tax_Code__c": value})
    assert tax_type_for(opp, field_config(), RuleSet(), US_METADATA) == expected


def test_field_mode_reads_an_account_field() -> None:
    opp = opportunity(customer=customer(Tax_Code__c="TAX001"))
    config = field_config("Account.Tax_Code__c")
    assert tax_type_for(opp, config, RuleSet(), US_METADATA) == "TAX001"


def test_field_mode_blank_takes_the_default_or_is_a_problem() -> None:
    opp = opportunity(fields={"Tax_Code__c": None})
    assert tax_type_for(opp, field_config(default_tax_type="NONE"), RuleSet(), US_METADATA) == (
        "NONE"
    )
    caught = problem(opp, field_config())
    assert caught.field == "Opportunity.Tax_Code__c"
    assert caught.message == (
        "Opportunity 'Big Deal' (006000000000001AAA) has no tax code in Tax_Code__c: fill it "
        "in Salesforce, or set a default tax type."
    )
    caught = problem(opportunity(customer=None), field_config("Account.Tax_Code__c"))
    assert caught.field == "Account.Tax_Code__c"


def test_field_mode_unknown_code_lists_the_rates_for_sales() -> None:
    caught = problem(opportunity(fields={"Tax_Code__c": "VAT20"}), field_config())
    assert caught.field == "Opportunity.Tax_Code__c"
    assert caught.message.startswith(
        "Opportunity 'Big Deal' (006000000000001AAA): 'VAT20' in Tax_Code__c is neither a tax "
        "rate code nor a tax rate name in Demo Widgets Ltd: correct it in Salesforce; rates "
        "for sales: NONE (Tax Exempt), TAX001 (California Sales Tax)"
    )
    assert "INPUT" not in caught.message
    assert "TAX008" not in caught.message


def test_field_mode_code_that_cannot_be_used_on_sales() -> None:
    caught = problem(opportunity(fields={"Tax_Code__c": "Tax on Purchases"}), field_config())
    assert caught.field == "Opportunity.Tax_Code__c"
    assert caught.message.startswith(
        "Tax rate INPUT cannot be used on sales (revenue) in Demo Widgets Ltd: choose another "
        "in Salesforce (Tax_Code__c of Opportunity 'Big Deal'"
    )


def test_field_mode_field_not_read_is_a_configuration_problem() -> None:
    caught = problem(opportunity(fields={}), field_config())
    assert caught.field == "tax_field"
    assert caught.message == (
        "The Salesforce field Tax_Code__c was not read: check that it exists and that the "
        "integration's Salesforce user can see it, or choose another field."
    )

"""tracking_for: one Xero tracking option per rule, fixed or from a Salesforce field."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.connections.salesforce.records import Opportunity
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import RuleSet, TrackingRuleSpec
from integrations.rules.tracking import TrackingChoice, tracking_for
from tests.integrations.rules.data import US_METADATA, customer, opportunity


def rules(*specs: TrackingRuleSpec) -> RuleSet:
    return RuleSet(tracking_rules=specs)


def fixed(category: str, option: str, **changes: Any) -> TrackingRuleSpec:
    return TrackingRuleSpec(category, "fixed", fixed_option=option, **changes)


def from_field(category: str, field: str, **changes: Any) -> TrackingRuleSpec:
    return TrackingRuleSpec(category, "field", field=field, **changes)


def problem(opp: Opportunity, ruleset: RuleSet) -> RuleProblem:
    with pytest.raises(RuleProblem) as caught:
        tracking_for(opp, ruleset, US_METADATA)
    return caught.value


def test_no_rules_no_tracking() -> None:
    assert tracking_for(opportunity(), RuleSet(), US_METADATA) == ()


def test_fixed_and_field_rules_give_xero_spellings() -> None:
    """Category and option names match in any case; the choice carries Xero's spelling."""
    opp = opportunity(fields={"Owner.Name": "alice smith"})
    choices = tracking_for(
        opp, rules(fixed("region", " north "), from_field("SALES REP", "Owner.Name")), US_METADATA
    )
    assert choices == (
        TrackingChoice("Region", "North", needs_creating=False),
        TrackingChoice("Sales Rep", "Alice Smith", needs_creating=False),
    )


def test_mapping_is_trimmed_and_case_insensitive() -> None:
    rule = from_field("Region", "Region__c", mapping={" NE ": "North", "se": "South"})
    for value, option in (("ne", "North"), ("  SE", "South"), ("West", "West")):
        opp = opportunity(fields={"Region__c": value})
        assert tracking_for(opp, rules(rule), US_METADATA) == (TrackingChoice("Region", option),)


def test_account_fields_and_non_text_values() -> None:
    rule = from_field("Region", "Account.Territory__c", mapping={"7": "East", "true": "West"})
    for value, option in ((7, "East"), (True, "West")):
        opp = opportunity(customer=customer(Territory__c=value))
        assert tracking_for(opp, rules(rule), US_METADATA) == (TrackingChoice("Region", option),)


def test_blank_value_uses_the_mapping_for_blank() -> None:
    rule = from_field("Region", "Region__c", mapping={"": "North"})
    for value in (None, "", "   "):
        opp = opportunity(fields={"Region__c": value})
        assert tracking_for(opp, rules(rule), US_METADATA) == (TrackingChoice("Region", "North"),)


def test_blank_value_without_a_mapping_is_a_problem() -> None:
    caught = problem(
        opportunity(fields={"Region__c": None}), rules(from_field("Region", "Region__c"))
    )
    assert caught.field == "Opportunity.Region__c"
    assert caught.message == (
        "Opportunity 'Big Deal' (006000000000001AAA) has no value in Region__c, which chooses "
        "the 'Region' tracking option: fill it in Salesforce, or map blank values to an option "
        "in the tracking rules."
    )


def test_missing_option_can_be_created_when_allowed() -> None:
    rule = from_field("Region", "Region__c", create_missing_options=True)
    opp = opportunity(fields={"Region__c": "Northeast"})
    assert tracking_for(opp, rules(rule), US_METADATA) == (
        TrackingChoice("Region", "Northeast", needs_creating=True),
    )


def test_missing_option_without_creating_is_a_problem() -> None:
    caught = problem(
        opportunity(fields={"Region__c": "Northeast"}), rules(from_field("Region", "Region__c"))
    )
    assert caught.field == "tracking_rules"
    assert caught.message == (
        "The tracking option 'Northeast' in category 'Region' of Demo Widgets Ltd does not "
        "exist: add it in Xero, map the value to an existing option, or allow creating missing "
        "options in the tracking rules."
    )


def test_archived_option_is_not_recreated() -> None:
    """Xero would refuse a second option of an archived one's name."""
    rule = fixed("Region", "central", create_missing_options=True)
    caught = problem(opportunity(), rules(rule))
    assert caught.message == (
        "The tracking option 'central' in category 'Region' of Demo Widgets Ltd is archived: "
        "restore it in Xero, or map the value to another option."
    )


def test_too_long_option_is_a_problem() -> None:
    rule = from_field("Region", "Region__c", create_missing_options=True)
    caught = problem(opportunity(fields={"Region__c": "x" * 101}), rules(rule))
    assert "longer than Xero's 100 characters" in caught.message


@pytest.mark.parametrize("name", ["Department", "Old Projects"])
def test_missing_or_archived_category_is_a_problem(name: str) -> None:
    caught = problem(opportunity(), rules(fixed(name, "Alpha")))
    assert caught.field == "tracking_rules"
    assert caught.message == (
        f"Tracking category '{name}' does not exist or is not active in Demo Widgets Ltd: add "
        "or restore it in Xero (Settings > Tracking categories), or change the tracking rules."
    )


def test_fixed_rule_without_option_is_a_problem() -> None:
    caught = problem(opportunity(), rules(fixed("Region", "  ")))
    assert caught.message == "The tracking rule for 'Region' names no option: choose one."


def test_at_most_two_distinct_categories() -> None:
    three = rules(
        fixed("Region", "North"), fixed("Sales Rep", "Bob Jones"), fixed("Region", "South")
    )
    assert "at most 2 tracking categories" in problem(opportunity(), three).message
    twice = rules(fixed("Region", "North"), fixed("region", "South"))
    assert problem(opportunity(), twice).message == (
        "Two tracking rules name the category 'Region': remove one of them."
    )


def test_field_not_read_is_a_configuration_problem() -> None:
    caught = problem(opportunity(fields={}), rules(from_field("Region", "Region__c")))
    assert caught.field == "tracking_rules"
    assert "The Salesforce field Region__c was not read" in caught.message

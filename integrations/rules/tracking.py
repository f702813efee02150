"""Which Xero tracking options an opportunity's invoice lines carry. Pure: no I/O.

Xero allows at most two active tracking categories, and each line names an option of each by
name. A rule gives one category's option: a fixed one, or one read from a Salesforce field and
looked up in the rule's mapping (a value not mapped is the option's name itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from integrations.connections.salesforce.records import Opportunity
from integrations.connections.xero.metadata_types import OrganisationMetadata, TrackingCategoryInfo
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import (
    RuleSet,
    TrackingRuleSpec,
    as_text,
    describe,
    field_value,
    salesforce_label,
)

MAX_CATEGORIES: Final = 2
MAX_OPTION_NAME: Final = 100
SETTING: Final = "tracking_rules"


@dataclass(frozen=True)
class TrackingChoice:
    """One line's ``Tracking`` entry: ``{"Name": category_name, "Option": option_name}``."""

    category_name: str
    """As Xero spells it."""
    option_name: str
    """As Xero spells it when the option exists; else as it will be created."""
    needs_creating: bool = False
    """The option does not exist yet and the rule allows creating it (before the invoice)."""


def tracking_for(
    opportunity: Opportunity, rules: RuleSet, metadata: OrganisationMetadata
) -> tuple[TrackingChoice, ...]:
    """The tracking options for every line of the opportunity's invoice, one per rule.

    Raises :class:`RuleProblem` for a category that is not active in Xero, an option that does
    not exist (unless the rule may create it), or a blank Salesforce value without a mapping
    for ``""``.
    """
    if len(rules.tracking_rules) > MAX_CATEGORIES:
        raise RuleProblem(
            SETTING,
            f"Xero allows at most {MAX_CATEGORIES} tracking categories: remove a tracking rule.",
        )
    choices: list[TrackingChoice] = []
    for rule in rules.tracking_rules:
        category = _category(rule.category_name, metadata)
        if any(c.category_name == category.name for c in choices):
            raise RuleProblem(
                SETTING,
                f"Two tracking rules name the category {category.name!r}: remove one of them.",
            )
        choices.append(_choice(opportunity, rule, category, metadata))
    return tuple(choices)


def _category(name: str, metadata: OrganisationMetadata) -> TrackingCategoryInfo:
    wanted = name.strip().casefold()
    for category in metadata.tracking_categories.values():
        if category.name.strip().casefold() == wanted and category.status == "ACTIVE":
            return category
    org = metadata.name or "the Xero organisation"
    raise RuleProblem(
        SETTING,
        f"Tracking category {name!r} does not exist or is not active in {org}: add or restore "
        "it in Xero (Settings > Tracking categories), or change the tracking rules.",
    )


def _choice(
    opportunity: Opportunity,
    rule: TrackingRuleSpec,
    category: TrackingCategoryInfo,
    metadata: OrganisationMetadata,
) -> TrackingChoice:
    if rule.source == "fixed":
        wanted = rule.fixed_option.strip()
    else:
        value = as_text(field_value(opportunity, rule.field, setting=SETTING))
        mapped = _mapped(value, rule)
        if mapped is None and not value:
            raise RuleProblem(
                salesforce_label(rule.field),
                f"{describe(opportunity)} has no value in {rule.field}, which chooses the "
                f"{category.name!r} tracking option: fill it in Salesforce, or map blank "
                "values to an option in the tracking rules.",
            )
        wanted = mapped if mapped is not None else value
    if not wanted:
        raise RuleProblem(
            SETTING, f"The tracking rule for {category.name!r} names no option: choose one."
        )
    option = category.option(wanted)
    if option is not None:
        return TrackingChoice(category.name, option.name)
    org = metadata.name or "the Xero organisation"
    where = f"tracking option {wanted!r} in category {category.name!r} of {org}"
    if _archived(category, wanted):
        raise RuleProblem(
            SETTING,
            f"The {where} is archived: restore it in Xero, or map the value to another option.",
        )
    if len(wanted) > MAX_OPTION_NAME:
        raise RuleProblem(
            SETTING,
            f"The {where[:160]}... is longer than Xero's {MAX_OPTION_NAME} characters: map the "
            "value to a shorter option in the tracking rules.",
        )
    if rule.create_missing_options:
        return TrackingChoice(category.name, wanted, needs_creating=True)
    raise RuleProblem(
        SETTING,
        f"The {where} does not exist: add it in Xero, map the value to an existing option, or "
        "allow creating missing options in the tracking rules.",
    )


def _mapped(value: str, rule: TrackingRuleSpec) -> str | None:
    """The mapping's option for a value (trimmed, any case); None when it has none."""
    wanted = value.strip().casefold()
    for key, option in rule.mapping.items():
        if key.strip().casefold() == wanted:
            return option.strip()
    return None


def _archived(category: TrackingCategoryInfo, name: str) -> bool:
    wanted = name.strip().casefold()
    return any(
        o.name.strip().casefold() == wanted and o.status != "ACTIVE"
        for o in category.options.values()
    )

"""Which Xero tax rate an opportunity's lines carry. Pure: no I/O.

Tax codes differ by organisation (ARCHITECTURE §3): every code chosen here is checked against
the organisation's own ``/TaxRates`` (in :class:`OrganisationMetadata`) before any call, so a
deleted or purchase-only rate stops the opportunity with a message saying what to change,
instead of a refused invoice.
"""

from __future__ import annotations

from integrations.connections.salesforce.records import Opportunity
from integrations.connections.xero.metadata_types import OrganisationMetadata, TaxRateInfo
from integrations.core.config import SyncConfig
from integrations.rules.countries import (
    REGION_COUNTRIES,
    normalize_country,
    normalize_region,
    place_name,
)
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import RuleSet, as_text, describe, field_value, salesforce_label

_RULES = ("tax_rules", "in the tax rules")
_DEFAULT = ("default_tax_type", "as the default tax type")
_EXPORT = ("export_tax_type", "as the export tax type")


def tax_type_for(
    opportunity: Opportunity,
    config: SyncConfig,
    rules: RuleSet,
    metadata: OrganisationMetadata,
) -> str:
    """The TaxType for the opportunity's lines; ``""`` lets Xero apply the item's or account's.

    By ``config.tax_mode``: "xero_default" gives ``""``; "single" the default tax type; "rules"
    the customer's billing place: a rule for (country, region), else for the whole country,
    else the export tax type for a customer outside the organisation's country, else the default
    tax type; "field" the Salesforce field's tax code or tax rate name. NoTax invoices carry no
    tax type at all. Raises :class:`RuleProblem` when nothing applies or the rate chosen does
    not exist, is not active, or cannot be used on sales in this organisation.
    """
    if config.line_amount_types == "NoTax":
        return ""
    mode = config.tax_mode
    if mode == "xero_default":
        return ""
    if mode == "single":
        return _checked(config.default_tax_type, metadata, *_DEFAULT)
    if mode == "rules":
        return _by_rules(opportunity, config, rules, metadata)
    if mode == "field":
        return _by_field(opportunity, config, metadata)
    raise RuleProblem("tax_mode", f"Unknown tax mode {mode!r}: choose how tax is applied.")


def _org(metadata: OrganisationMetadata) -> str:
    return metadata.name or "the Xero organisation"


def check_tax_type(tax_type: str, metadata: OrganisationMetadata, *, setting: str) -> TaxRateInfo:
    """The organisation's rate for ``tax_type`` if it can go on a sales invoice, else a
    :class:`RuleProblem` naming ``setting``: for a settings form checking a choice."""
    _checked(tax_type, metadata, setting, "in the settings")
    return metadata.tax_rates[tax_type]


def _checked(tax_type: str, metadata: OrganisationMetadata, setting: str, where: str) -> str:
    org = _org(metadata)
    info = metadata.tax_rates.get(tax_type)
    if info is None:
        raise RuleProblem(
            setting,
            f"Tax rate {tax_type} does not exist in {org} any more: choose another {where}.",
        )
    if info.status != "ACTIVE":
        raise RuleProblem(
            setting,
            f"Tax rate {tax_type} ({info.name}) is {info.status.lower()} in {org}, not active: "
            f"choose another {where}.",
        )
    if not info.can_apply_to_revenue:
        raise RuleProblem(
            setting,
            f"Tax rate {tax_type} cannot be used on sales (revenue) in {org}: choose another "
            f"{where}.",
        )
    return tax_type


def _by_rules(
    opportunity: Opportunity,
    config: SyncConfig,
    rules: RuleSet,
    metadata: OrganisationMetadata,
) -> str:
    customer = opportunity.customer
    address = customer.billing_address if customer else None
    typed_country = address.country.strip() if address else ""
    typed_region = address.region.strip() if address else ""
    country = normalize_country(typed_country)
    if typed_country and not country:
        account = f"Account {customer.name!r}" if customer else "The Account"
        raise RuleProblem(
            "Account.BillingCountry",
            f"{account} has the billing country {typed_country!r}, which is not a country we "
            "recognise: correct it in Salesforce (a 2-letter code such as US or GB always "
            "works).",
        )
    region = normalize_region(country, typed_region) if country else ""
    foreign = bool(country and metadata.country_code and country != metadata.country_code)
    if country:
        rule = (rules.tax_rule(country, region) if region else None) or rules.tax_rule(country)
        if rule is not None:
            return _checked(rule.tax_type, metadata, *_RULES)
        if foreign and config.export_tax_type:
            return _checked(config.export_tax_type, metadata, *_EXPORT)
    if config.default_tax_type:
        return _checked(config.default_tax_type, metadata, *_DEFAULT)
    if not country:
        raise RuleProblem(
            "Account.BillingCountry",
            f"{describe(opportunity)}: its Account has no billing country, so no tax rule "
            "applies: fill in the Account's Billing Country in Salesforce, or set a default "
            "tax type.",
        )
    place = place_name(country, region)
    targets = f"{country}/{region} or {country}" if region else country
    otherwise = "set an export tax type" if foreign else "set a default tax type"
    unread = ""
    if typed_region and not region and country in REGION_COUNTRIES:
        unread = f" (its billing state/province {typed_region!r} is not one we recognise)"
    raise RuleProblem(
        "tax_rules",
        f"No tax rule matches customers in {place}{unread}: add a rule for {targets}, "
        f"or {otherwise}.",
    )


def _by_field(opportunity: Opportunity, config: SyncConfig, metadata: OrganisationMetadata) -> str:
    path = config.tax_field
    label = salesforce_label(path)
    value = as_text(field_value(opportunity, path, setting="tax_field"))
    if not value:
        if config.default_tax_type:
            return _checked(config.default_tax_type, metadata, *_DEFAULT)
        raise RuleProblem(
            label,
            f"{describe(opportunity)} has no tax code in {path}: fill it in Salesforce, or set "
            "a default tax type.",
        )
    tax_type = _resolve(value, metadata)
    if not tax_type:
        examples = ", ".join(
            f"{info.tax_type} ({info.name})"
            for info in metadata.tax_rates.values()
            if info.usable_for_sales
        )
        hint = f"; rates for sales: {examples}" if examples else ""
        raise RuleProblem(
            label,
            f"{describe(opportunity)}: {value!r} in {path} is neither a tax rate code nor a tax "
            f"rate name in {_org(metadata)}: correct it in Salesforce{hint}.",
        )
    return _checked(tax_type, metadata, label, f"in Salesforce ({path} of {describe(opportunity)})")


def _resolve(value: str, metadata: OrganisationMetadata) -> str:
    """A TaxType from a code (any case) or a rate's name (any case); ``""`` when neither."""
    rates = metadata.tax_rates
    if value in rates:
        return value
    folded = value.casefold()
    for tax_type in rates:
        if tax_type.casefold() == folded:
            return tax_type
    named = [info for info in rates.values() if info.name.strip().casefold() == folded]
    # Names are not unique across statuses: an archived rate may share an active one's name.
    named.sort(key=lambda info: not info.usable_for_sales)
    return named[0].tax_type if named else ""

"""The rules of one integration as frozen values: what the pure rule functions take.

``rules.selectors.rule_set_for`` loads them with one query per table, once per sync run; the
functions in ``tax``, ``tracking`` and ``payments`` never touch the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any, Final

from integrations.connections.salesforce.records import Opportunity
from integrations.core.config import SyncConfig
from integrations.rules.problems import RuleProblem

ACCOUNT_PREFIX: Final = "Account."
OWNER_NAME: Final = "Owner.Name"


@dataclass(frozen=True)
class PaymentMethodSpec:
    name: str
    create_invoice: bool = True
    apply_payment: bool = False
    bank_account_code: str = ""
    currency_accounts: Mapping[str, str] = dataclass_field(default_factory=dict)
    """Currency code → account code, for payments in that currency."""
    clearing_delay_days: int = 0
    invoice_status: str = ""
    """Empty: the integration's ``invoice_status``."""
    payment_terms_days: int | None = None
    """None: the integration's ``payment_terms_days``."""

    def status_for(self, config: SyncConfig) -> str:
        return self.invoice_status or config.invoice_status

    def terms_for(self, config: SyncConfig) -> int:
        if self.payment_terms_days is None:
            return config.payment_terms_days
        return self.payment_terms_days


@dataclass(frozen=True)
class TaxRuleSpec:
    country: str
    """ISO alpha-2."""
    region: str
    """State, province or territory code; ``""`` for the whole country."""
    tax_type: str


@dataclass(frozen=True)
class TrackingRuleSpec:
    category_name: str
    source: str
    """"fixed" or "field"."""
    fixed_option: str = ""
    field: str = ""
    """An Opportunity field, ``Account.<field>``, or ``Owner.Name``."""
    mapping: Mapping[str, str] = dataclass_field(default_factory=dict)
    """Salesforce value → Xero option name."""
    create_missing_options: bool = False


@dataclass(frozen=True)
class RuleSet:
    """Every rule of one integration."""

    payment_methods: tuple[PaymentMethodSpec, ...] = ()
    tax_rules: tuple[TaxRuleSpec, ...] = ()
    tracking_rules: tuple[TrackingRuleSpec, ...] = ()

    def payment_method(self, name: str) -> PaymentMethodSpec | None:
        """The method of that name, as Salesforce spells it or in any other case."""
        wanted = name.strip().casefold()
        for method in self.payment_methods:
            if method.name.strip().casefold() == wanted:
                return method
        return None

    def tax_rule(self, country: str, region: str = "") -> TaxRuleSpec | None:
        for rule in self.tax_rules:
            if rule.country == country and rule.region == region:
                return rule
        return None


def fields_needed(config: SyncConfig, rules: RuleSet) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The extra (Opportunity fields, Account fields) the reader must select for these rules.

    ``Account.X`` becomes the Account field ``X`` (the reader puts it in ``customer.fields``);
    ``Owner.Name`` is a relationship field of the Opportunity and stays as it is.
    """
    paths: list[str] = []
    if config.payment_method_field:
        paths.append(config.payment_method_field)
    if config.tax_mode == "field" and config.tax_field:
        paths.append(config.tax_field)
    paths.extend(r.field for r in rules.tracking_rules if r.source == "field" and r.field)
    opportunity: list[str] = []
    account: list[str] = []
    for path in paths:
        if path.startswith(ACCOUNT_PREFIX):
            name = path.removeprefix(ACCOUNT_PREFIX)
            if name not in account:
                account.append(name)
        elif path not in opportunity:
            opportunity.append(path)
    return tuple(opportunity), tuple(account)


def describe(opportunity: Opportunity) -> str:
    return f"Opportunity {opportunity.name!r} ({opportunity.salesforce_id})"


def salesforce_label(path: str) -> str:
    """``Account.Region__c`` as it is; an Opportunity field as ``Opportunity.Region__c``."""
    return path if path.startswith(ACCOUNT_PREFIX) else f"Opportunity.{path}"


def field_value(opportunity: Opportunity, path: str, *, setting: str) -> Any:
    """The value of an Opportunity field, ``Account.<field>`` or ``Owner.Name`` read with it.

    A field the reader did not return is a :class:`RuleProblem` naming ``setting`` (the
    configuration that asked for it): the field may have been renamed or hidden in Salesforce.
    An opportunity without an Account has blank Account fields.
    """
    if path.startswith(ACCOUNT_PREFIX):
        name = path.removeprefix(ACCOUNT_PREFIX)
        customer = opportunity.customer
        if customer is None:
            return None
        values: Mapping[str, Any] = customer.fields
    else:
        name = path
        values = opportunity.fields
    if name not in values:
        raise RuleProblem(
            setting,
            f"The Salesforce field {path} was not read: check that it exists and that the "
            "integration's Salesforce user can see it, or choose another field.",
        )
    return values[name]


def as_text(value: Any) -> str:
    """A Salesforce value as the text a person would type to match it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        # 10.0 and 10 are the same picklist-like value to a person writing a mapping.
        return format(value.normalize(), "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value).strip()

"""The check itself, pure: the configuration and rule tables against both organisations'
metadata, taken as values; each problem names the behaviour it affects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from integrations.connections.salesforce.metadata_types import FieldInfo, SalesforceMetadata
from integrations.connections.salesforce.reader import OPPORTUNITY_FIELDS
from integrations.connections.xero.metadata_types import (
    AccountInfo,
    OrganisationMetadata,
    TrackingCategoryInfo,
)
from integrations.core.behaviours import (
    ConfigProblem,
)
from integrations.core.config import (
    WRITEBACK_FIELD_TYPES,
    WRITEBACK_SOURCES,
    ConfigError,
    SyncConfig,
)
from integrations.core.models import Integration
from integrations.rules.countries import place_name
from integrations.rules.problems import RuleProblem
from integrations.rules.selectors import rule_set_for
from integrations.rules.specs import (
    PaymentMethodSpec,
    RuleSet,
    TrackingRuleSpec,
    fields_needed,
    salesforce_label,
)
from integrations.rules.tax import check_tax_type

# Xero account types whose accounts can take sales lines.
REVENUE_TYPES: Final = frozenset({"REVENUE", "SALES", "OTHERINCOME"})
MAX_TRACKING_CATEGORIES: Final = 2
MAX_OPTION_NAME: Final = 100
# Lists in messages are cut here: a picklist of 300 values makes no readable sentence.
_LIST_MAX = 8

CONFIG_LABELS: Final = {
    "invoice_status": "Invoice status",
    "line_amount_types": "Amounts are",
    "payment_terms_days": "Payment terms",
    "reference_field": "Reference field",
    "invoice_number_pattern": "Invoice number pattern",
    "sales_account_code": "Sales account",
    "default_tax_type": "Default tax rate",
    "branding_theme_id": "Branding theme",
    "default_currency": "Default currency",
    "create_missing_items": "Create missing items",
    "contact_name_collision": "Contacts with the same name",
    "stage": "Stage",
    "stage_confirmed": "Invoice at a stage not marked won",
    "start_date": "Start date",
    "payment_method_field": "Payment method field",
    "default_payment_method": "Default payment method",
    "tax_mode": "Tax mode",
    "tax_field": "Tax field",
    "export_tax_type": "Export tax rate",
    "credit_note_on_withdrawal": "Credit withdrawn opportunities",
    "void_unpaid_instead": "Void unpaid invoices instead",
    "credit_note_on_amount_drop": "Credit amount drops",
    "negative_lines": "Negative lines",
    "enable_missing_currencies": "Enable missing currencies",
    "use_salesforce_rates": "Use Salesforce's exchange rates",
    "writeback_enabled": "Write-back to Salesforce",
    "writeback_fields": "Write-back fields",
    "config": "Settings",
}


WRITEBACK_LABELS: Final = {
    "xero_invoice_number": "Xero invoice number",
    "xero_invoice_status": "Xero invoice status",
    "xero_amount_due": "Amount due",
    "xero_amount_paid": "Amount paid",
    "xero_credited_amount": "Amount credited",
    "xero_fully_paid_date": "Fully paid on",
    "xero_invoice_url": "Link to the invoice in Xero",
}


def check_configuration(
    integration: Integration,
    *,
    xero: OrganisationMetadata,
    salesforce: SalesforceMetadata,
    rules: RuleSet | None = None,
) -> list[ConfigProblem]:
    """Every mismatch between the integration's configuration and rules and the two orgs.

    No call to Xero or Salesforce: both are given as metadata. The rules are read from the
    database (one query per table) unless given. Problems come in a stable order, without
    duplicates.
    """
    if rules is None:
        rules = rule_set_for(integration.pk)
    checker = _Checker(rules, xero, salesforce)
    try:
        config = SyncConfig.from_json(integration.config)
    except ConfigError as exc:
        label = CONFIG_LABELS.get(exc.field, exc.field)
        # Nothing syncs with a configuration that does not load: every run stops on it.
        checker.add(
            exc.field,
            f"{label}: {exc.message} Nothing is synced until it is corrected in the settings.",
            "invoices",
        )
    else:
        checker.config(config)
    checker.tracking()
    return checker.problems


class _Checker:
    def __init__(
        self, rules: RuleSet, xero: OrganisationMetadata, salesforce: SalesforceMetadata
    ) -> None:
        self.rules = rules
        self.xero = xero
        self.salesforce = salesforce
        self.org = xero.name or "the Xero organisation"
        self.problems: list[ConfigProblem] = []

    def add(self, field: str, message: str, behaviour: str) -> None:
        problem = ConfigProblem(field=field, message=message, behaviour=behaviour)
        if problem not in self.problems:
            self.problems.append(problem)

    def config(self, config: SyncConfig) -> None:
        self.invoices(config)
        self.tax(config)
        self.currencies(config)
        self.payments(config)
        self.credit_notes(config)
        self.writeback(config)

    # --- invoices ----------------------------------------------------------------------------

    def invoices(self, config: SyncConfig) -> None:
        trouble = self.sales_account_trouble(config.sales_account_code)
        if trouble:
            self.add("sales_account_code", f"{trouble} Invoices wait until it is.", "invoices")
        reference = config.reference_field
        if self.salesforce.opportunity.field(reference) is None:
            self.add(
                "reference_field",
                f"The invoice reference comes from Opportunity.{reference}, which does not "
                "exist in Salesforce (or the connected user cannot see it): choose another "
                "reference field.",
                "invoices",
            )
        theme = config.branding_theme_id
        if theme and theme not in self.xero.branding_themes:
            self.add(
                "branding_theme_id",
                f"The branding theme chosen for invoices no longer exists in {self.org}: "
                "choose another, or none.",
                "invoices",
            )
        self.check_stage(config)

    def check_stage(self, config: SyncConfig) -> None:
        """The stage that counts must exist and must not be lost; one not marked won only once
        a person confirmed it (invoices for deals that are still open are rarely meant)."""
        stage = config.stage
        stages = self.salesforce.stages
        if not stage or not stages:
            return
        info = self.salesforce.stage(stage)
        won = [s.name for s in stages if s.won]
        hint = f"choose one of the won stages ({_listed(won)})" if won else "choose a stage"
        if info is None:
            self.add(
                "stage",
                f"The stage {stage!r} is not a value of Opportunity.StageName in Salesforce, so "
                f"no opportunity will be invoiced: {hint}, or leave it empty for every won "
                "stage.",
                "invoices",
            )
        elif info.lost:
            self.add(
                "stage",
                f"Salesforce marks the stage {stage!r} as closed and not won (lost): invoicing "
                f"deals that were lost would bill customers who did not buy. {hint.capitalize()}, "
                "or leave it empty for every won stage.",
                "invoices",
            )
        elif not info.won and config.stage_confirmed.casefold() != stage.casefold():
            self.add(
                "stage",
                f"Salesforce does not mark the stage {stage!r} as won: opportunities would be "
                "invoiced while the deal is still open. Confirm it on this step if that is what "
                f"you want, or {hint}.",
                "invoices",
            )

    def sales_account_trouble(self, code: str) -> str:
        """What is wrong with the sales account, as a sentence; ``""`` when nothing is."""
        account = self.xero.account_by_code(code)
        if account is None:
            return (
                f"Sales account {code} does not exist in {self.org}: choose the revenue account "
                "invoice lines go to."
            )
        label = f"Sales account {code} ({account.name})"
        if account.status != "ACTIVE":
            return (
                f"{label} is {account.status.lower()} in {self.org}, not active: restore it in "
                "Xero or choose another sales account."
            )
        if account.type not in REVENUE_TYPES:
            return (
                f"{label} is a {account.type or 'non-revenue'} account: choose a revenue, sales "
                "or other income account for invoice lines."
            )
        return ""

    # --- write-back ------------------------------------------------------------------------

    def writeback(self, config: SyncConfig) -> None:
        """Each chosen Opportunity field exists, may be written by the connected user, holds
        the kind of value, and is not one the sync reads (a write-back must never look like
        a change to invoice)."""
        if not config.writeback_enabled:
            return
        if not config.writeback_fields:
            self.add(
                "writeback_fields",
                "Write-back is on but no Opportunity field is chosen: choose where Xero's "
                "values go, or turn write-back off.",
                "writeback",
            )
            return
        opportunity_fields, _ = fields_needed(config, self.rules)
        read = {*OPPORTUNITY_FIELDS, *opportunity_fields, config.reference_field}
        for source, name in config.writeback_fields:
            label = WRITEBACK_LABELS.get(source, source)
            info = self.salesforce.opportunity.field(name)
            if info is None:
                self.add(
                    f"writeback_fields:{source}",
                    f"{label} is written to Opportunity.{name}, which does not exist in "
                    "Salesforce (or the connected user cannot see it): choose another field. "
                    "Write-back waits until then.",
                    "writeback",
                )
            elif not info.updateable:
                self.add(
                    f"writeback_fields:{source}",
                    f"{label} is written to Opportunity.{name}, which the connected Salesforce "
                    "user may not edit: give them edit access to the field (field-level "
                    "security) or choose another. Write-back waits until then.",
                    "writeback",
                )
            elif info.type not in WRITEBACK_FIELD_TYPES[WRITEBACK_SOURCES[source]]:
                kinds = ", ".join(sorted(WRITEBACK_FIELD_TYPES[WRITEBACK_SOURCES[source]]))
                self.add(
                    f"writeback_fields:{source}",
                    f"Opportunity.{name} is a {info.type} field and cannot hold {label.lower()}: "
                    f"choose a field of type {kinds}. Write-back waits until then.",
                    "writeback",
                )
            elif name in read:
                self.add(
                    f"writeback_fields:{source}",
                    f"Opportunity.{name} is read to build invoices: writing {label.lower()} "
                    "into it would change the invoice. Choose a field of its own. Write-back "
                    "waits until then.",
                    "writeback",
                )

    # --- tax ---------------------------------------------------------------------------------

    def tax(self, config: SyncConfig) -> None:
        # NoTax invoices and "as Xero's defaults" send no tax type at all: nothing to check.
        if config.line_amount_types == "NoTax" or config.tax_mode == "xero_default":
            return
        if config.default_tax_type:
            self.tax_type(config.default_tax_type, "default_tax_type")
        if config.tax_mode == "rules":
            if config.export_tax_type:
                self.tax_type(config.export_tax_type, "export_tax_type")
            for rule in self.rules.tax_rules:
                field = _tax_rule_field(rule.country, rule.region)
                self.tax_type(
                    rule.tax_type,
                    field,
                    prefix=f"Tax rule for {place_name(rule.country, rule.region)}: ",
                )
            if not self.rules.tax_rules and not config.default_tax_type:
                self.add(
                    "tax_rules",
                    "Tax is chosen by the customer's location, but there are no tax rules and "
                    "no default tax rate, so every opportunity waits: add tax rules, or set a "
                    "default tax rate.",
                    "tax",
                )
        elif config.tax_mode == "field":
            self.tax_field(config)

    def tax_type(self, tax_type: str, field: str, *, prefix: str = "") -> None:
        try:
            check_tax_type(tax_type, self.xero, setting=field)
        except RuleProblem as problem:
            self.add(field, f"{prefix}{problem.message}", "tax")

    def tax_field(self, config: SyncConfig) -> None:
        path = config.tax_field
        info = self.salesforce.resolve(path)
        label = salesforce_label(path)
        if info is None:
            self.add(
                "tax_field",
                f"The tax code is read from {label}, which does not exist in Salesforce (or the "
                "connected user cannot see it): choose the field that holds it.",
                "tax",
            )
            return
        if not info.is_text:
            self.add(
                "tax_field",
                f"{label} is a {info.type} field: choose a text or picklist field holding a tax "
                "rate's code or name.",
                "tax",
            )
            return
        if info.is_picklist:
            unusable = [v for v in info.picklist_values if not self.usable_tax_value(v)]
            if unusable:
                self.add(
                    "tax_field",
                    f"Values of {label} that are neither the code nor the name of a tax rate "
                    f"usable on sales in {self.org}: {_listed(unusable)}. Opportunities with "
                    "them wait: correct the picklist in Salesforce or the tax rates in Xero.",
                    "tax",
                )

    def usable_tax_value(self, value: str) -> bool:
        """As the sync reads a tax field: a TaxType or a rate's name, in any case."""
        rates = self.xero.tax_rates
        folded = value.strip().casefold()
        return any(
            info.usable_for_sales
            and (tax_type.casefold() == folded or info.name.strip().casefold() == folded)
            for tax_type, info in rates.items()
        )

    # --- currencies --------------------------------------------------------------------------

    def currencies(self, config: SyncConfig) -> None:
        currency = config.default_currency
        if currency and not self.currency_ok(currency, config):
            self.add(
                "default_currency",
                f"The default currency {currency} is not enabled in {self.org}: enable it in "
                "Xero (Settings > Currencies), turn on enabling missing currencies, or choose "
                "another default currency.",
                "currencies",
            )

    def currency_ok(self, currency: str, config: SyncConfig) -> bool:
        return (
            currency.upper() in self.xero.currencies
            or currency.upper() == self.xero.base_currency
            or config.enable_missing_currencies
        )

    # --- payments ----------------------------------------------------------------------------

    def payments(self, config: SyncConfig) -> None:
        if config.payment_method_field:
            self.payment_method_field(config.payment_method_field)
        default = config.default_payment_method
        if default and self.rules.payment_method(default) is None:
            self.add(
                "default_payment_method",
                f"The default payment method {default!r} has no payment method rule: add it "
                "under payment methods, or change the default.",
                "payments",
            )
        for method in self.rules.payment_methods:
            if method.create_invoice and method.apply_payment:
                self.payment_method(method, config)

    def payment_method_field(self, name: str) -> None:
        info = self.salesforce.opportunity.field(name)
        label = f"Opportunity.{name}"
        if info is None:
            self.add(
                "payment_method_field",
                f"The payment method is read from {label}, which does not exist in Salesforce "
                "(or the connected user cannot see it): choose the field that holds it, or "
                "none.",
                "payments",
            )
            return
        if not info.is_text:
            self.add(
                "payment_method_field",
                f"{label} is a {info.type} field: choose a picklist or text field holding the "
                "payment method.",
                "payments",
            )
            return
        if not info.is_picklist:
            return
        values = {v.strip().casefold() for v in info.picklist_values}
        for method in self.rules.payment_methods:
            if method.name.strip().casefold() not in values:
                self.add(
                    f"payment_methods:{method.name}",
                    f"Payment method {method.name!r} is not a value of {_field_name(info)} "
                    f"({label}) in Salesforce, so no opportunity will use it: rename it to one "
                    f"of {_listed(info.picklist_values)}, or delete it.",
                    "matching",
                )
        # The sync holds each such opportunity back on its own (RuleProblem): this tells first.
        missing = [v for v in info.picklist_values if self.rules.payment_method(v) is None]
        if missing:
            self.add(
                "payment_methods",
                f"Opportunities paid by {_listed(missing)} ({label}) will wait: add a payment "
                "method for each, saying whether to invoice and record payments.",
                "matching",
            )

    def payment_method(self, method: PaymentMethodSpec, config: SyncConfig) -> None:
        field = f"payment_methods:{method.name}"
        name = method.name
        status = method.status_for(config)
        if status != "AUTHORISED":
            self.add(
                field,
                f"Payment method {name!r} records payments, but its invoices are created as "
                f"{status.lower()}; Xero records payments only on approved invoices: choose "
                "Authorised, or turn off recording payments.",
                "payments",
            )
        if not method.bank_account_code:
            self.add(
                field,
                f"Payment method {name!r} has no bank account: choose the Xero account its "
                "payments go into.",
                "payments",
            )
        else:
            trouble = self.payment_account_trouble(method.bank_account_code, name)
            if trouble:
                self.add(field, trouble, "payments")
        base = self.xero.base_currency.upper()
        for raw_currency, code in sorted(method.currency_accounts.items()):
            currency = raw_currency.upper()
            trouble = self.payment_account_trouble(code, name, currency=currency)
            if trouble:
                self.add(field, trouble, "payments")
            else:
                account = self.xero.account_by_code(code)
                held = account.currency_code.strip().upper() if account else ""
                if held and held not in (currency, base):
                    self.add(
                        field,
                        f"Account {code} holds {held}, so it cannot take the {currency} payments "
                        f"of payment method {name!r}: choose a {currency} account, or one in "
                        f"{base or 'the organisation currency'}.",
                        "payments",
                    )
            if not self.currency_ok(currency, config):
                self.add(
                    field,
                    f"Payment method {name!r} has an account for {currency}, which is not "
                    f"enabled in {self.org}: enable it in Xero (Settings > Currencies), or turn "
                    "on enabling missing currencies.",
                    "currencies",
                )

    def payment_account_trouble(self, code: str, method: str, *, currency: str = "") -> str:
        account: AccountInfo | None = self.xero.account_by_code(code)
        which = f"payments of payment method {method!r}"
        if currency:
            which = f"{currency} {which}"
        if account is None:
            return (
                f"Account {code} (for {which}) does not exist in {self.org}: choose another "
                "account."
            )
        label = f"Account {code} ({account.name}, for {which})"
        if account.status != "ACTIVE":
            return (
                f"{label} is {account.status.lower()} in {self.org}, not active: restore it in "
                "Xero or choose another account."
            )
        if not account.accepts_payments:
            return (
                f"{label} does not take payments: choose a bank account, or enable payments to "
                "this account in Xero."
            )
        return ""

    # --- credit notes -------------------------------------------------------------------------

    def credit_notes(self, config: SyncConfig) -> None:
        crediting = (
            config.credit_note_on_withdrawal
            or config.credit_note_on_amount_drop
            or config.negative_lines == "credit_note"
        )
        if not crediting:
            return
        trouble = self.sales_account_trouble(config.sales_account_code)
        if trouble:
            self.add(
                "sales_account_code",
                f"{trouble} Credit notes use the same account, so none is raised until then.",
                "credit_notes",
            )

    # --- tracking ----------------------------------------------------------------------------

    def tracking(self) -> None:
        rules = self.rules.tracking_rules
        if len(rules) > MAX_TRACKING_CATEGORIES:
            self.add(
                "tracking_rules",
                f"Xero allows at most {MAX_TRACKING_CATEGORIES} tracking categories: remove a "
                "tracking rule.",
                "tracking",
            )
        for rule in rules:
            self.tracking_rule(rule)

    def tracking_rule(self, rule: TrackingRuleSpec) -> None:
        field = f"tracking_rules:{rule.category_name}"
        category = self.category(rule.category_name)
        if category is None:
            self.add(
                field,
                f"Tracking category {rule.category_name!r} does not exist or is not active in "
                f"{self.org}: add or restore it in Xero (Settings > Tracking categories), or "
                "change the tracking rules.",
                "tracking",
            )
        if rule.source == "fixed":
            option = rule.fixed_option.strip()
            if not option:
                self.add(
                    field,
                    f"The tracking rule for {rule.category_name!r} names no option: choose one.",
                    "tracking",
                )
            elif category is not None:
                self.options(field, category, [option], rule, where="the option it always uses")
            return
        info = self.salesforce.resolve(rule.field)
        if info is None:
            self.add(
                field,
                f"The {rule.category_name!r} tracking option is read from "
                f"{salesforce_label(rule.field)}, which does not exist in Salesforce (or the "
                "connected user cannot see it): choose another field.",
                "tracking",
            )
        if category is None:
            return
        mapped = [o.strip() for o in rule.mapping.values() if o.strip()]
        self.options(field, category, mapped, rule, where="in its mapping")
        if info is not None and info.is_picklist:
            keys = {k.strip().casefold() for k in rule.mapping}
            unmapped = [v for v in info.picklist_values if v.strip().casefold() not in keys]
            self.options(
                field,
                category,
                unmapped,
                rule,
                where=f"values of {salesforce_label(rule.field)} used as options",
            )

    def category(self, name: str) -> TrackingCategoryInfo | None:
        wanted = name.strip().casefold()
        for category in self.xero.tracking_categories.values():
            if category.name.strip().casefold() == wanted and category.status == "ACTIVE":
                return category
        return None

    def options(
        self,
        field: str,
        category: TrackingCategoryInfo,
        names: Iterable[str],
        rule: TrackingRuleSpec,
        *,
        where: str,
    ) -> None:
        """Options the rule may need that the category lacks (and the rule may not create)."""
        missing: list[str] = []
        archived: list[str] = []
        too_long: list[str] = []
        for name in names:
            if category.option(name) is not None or name in missing + archived + too_long:
                continue
            if any(
                o.name.strip().casefold() == name.casefold() and o.status != "ACTIVE"
                for o in category.options.values()
            ):
                archived.append(name)
            elif len(name) > MAX_OPTION_NAME:
                too_long.append(name)
            elif not rule.create_missing_options:
                missing.append(name)
        where_ = f"{category.name!r} tracking rule ({where})"
        if archived:
            self.add(
                field,
                f"Tracking options {_listed(archived)} of the {where_} are archived in "
                f"{self.org}: restore them in Xero, or map to other options.",
                "tracking",
            )
        if too_long:
            self.add(
                field,
                f"Tracking options {_listed(too_long)} of the {where_} are longer than Xero's "
                f"{MAX_OPTION_NAME} characters: map them to shorter options.",
                "tracking",
            )
        if missing:
            self.add(
                field,
                f"Tracking options {_listed(missing)} of the {where_} do not exist in category "
                f"{category.name!r} of {self.org}: add them in Xero, map to existing options, "
                "or allow creating missing options.",
                "tracking",
            )


def _tax_rule_field(country: str, region: str) -> str:
    return f"tax_rules:{country}/{region}" if region else f"tax_rules:{country}"


def _field_name(info: FieldInfo) -> str:
    return info.label or info.name


def _listed(values: Iterable[str]) -> str:
    items = [repr(v) for v in values]
    if len(items) > _LIST_MAX:
        return ", ".join(items[:_LIST_MAX]) + f" and {len(items) - _LIST_MAX} more"
    return ", ".join(items)

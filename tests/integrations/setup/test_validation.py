"""The configuration check finds each mismatch with Xero and Salesforce, naming the setting, what
it affects and what to do. Pure: metadata and rules are given as values, no database."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from integrations.connections.salesforce.metadata_types import (
    FieldInfo,
    ObjectInfo,
    SalesforceMetadata,
    StageInfo,
)
from integrations.connections.xero.metadata_types import OrganisationMetadata
from integrations.core.behaviours import (
    BEHAVIOURS,
    ConfigProblem,
    paused_behaviours,
    stored_problems,
)
from integrations.core.models import Integration
from integrations.rules.specs import PaymentMethodSpec, RuleSet, TaxRuleSpec, TrackingRuleSpec
from integrations.setup.validation import check_configuration
from tests.integrations.rules.data import account, category, rate

THEME = "5a1f3c2e-9a56-4d4b-8f11-0f3c0b1e2d3a"
CARD_ACCOUNTS = {"GBP": "091", "EUR": "092"}

XERO = OrganisationMetadata(
    name="Demo Widgets Ltd",
    country_code="US",
    base_currency="USD",
    tax_rates={
        r.tax_type: r
        for r in (
            rate("NONE", "Tax Exempt", "0"),
            rate("TAX001", "California Sales Tax", "7.25"),
            rate("TAX002", "New York City Sales Tax", "8.875"),
            rate("TAX003", "Texas Sales Tax", "8.25"),
            rate("TAX008", "Old Oregon Tax", "1", status="ARCHIVED"),
            rate("INPUT", "Tax on Purchases", "0", revenue=False),
        )
    },
    currencies=frozenset({"USD", "GBP", "EUR"}),
    accounts=(
        account("090", "Business Checking", currency_code="USD"),
        account("091", "GBP Account", currency_code="GBP"),
        account("092", "EUR Account", currency_code="EUR"),
        account("093", "Old Savings", status="ARCHIVED", currency_code="USD"),
        account("200", "Sales", "REVENUE"),
        account("201", "Old Sales", "REVENUE", status="ARCHIVED"),
        account("260", "Other Revenue", "OTHERINCOME"),
        account("400", "Advertising", "EXPENSE"),
        account("615", "Payment Clearing", "CURRENT", enable_payments_to_account=True),
    ),
    tracking_categories={
        c.name: c
        for c in (
            category("Region", "North", "East", "West"),
            category("Sales Rep", "Alice Smith", "Bob Jones"),
        )
    },
    branding_themes={THEME: "Standard"},
)


def _field(name: str, type_: str = "string", *values: str, custom: bool = False) -> FieldInfo:
    return FieldInfo(
        name=name,
        label=name.removesuffix("__c").replace("_", " "),
        type=type_,
        custom=custom,
        picklist_values=values,
    )


STAGES = ("Prospecting", "Negotiation/Review", "Closed Won", "Closed Lost")
SALESFORCE = SalesforceMetadata(
    opportunity=ObjectInfo(
        "Opportunity",
        {
            f.name: f
            for f in (
                _field("Id", "id"),
                _field("Name"),
                _field("Amount", "currency"),
                _field("StageName", "picklist", *STAGES),
                _field("CurrencyIsoCode", "picklist", "USD", "GBP", "EUR"),
                _field(
                    "Payment_Method__c",
                    "picklist",
                    "Credit Card",
                    "Bank Transfer",
                    "Check",
                    custom=True,
                ),
                _field("Region__c", "picklist", "North America", "EMEA", "APAC", custom=True),
                _field("Tax_Code__c", "picklist", "TAX001", "california sales tax", custom=True),
                _field("PO_Number__c", custom=True),
            )
        },
    ),
    account=ObjectInfo(
        "Account",
        {f.name: f for f in (_field("Name"), _field("Tax_Code__c", custom=True))},
    ),
    multi_currency=True,
    stages=tuple(StageInfo(s, s == "Closed Won", s.startswith("Closed")) for s in STAGES),
)

CONFIG: dict[str, Any] = {
    "default_currency": "USD",
    "sales_account_code": "200",
    "branding_theme_id": THEME,
    "stage": "Closed Won",
    "reference_field": "PO_Number__c",
    "payment_method_field": "Payment_Method__c",
    "default_payment_method": "Bank Transfer",
    "tax_mode": "rules",
    "default_tax_type": "NONE",
    "export_tax_type": "NONE",
    "credit_note_on_withdrawal": True,
    "credit_note_on_amount_drop": True,
    "negative_lines": "credit_note",
}
RULES = RuleSet(
    payment_methods=(
        PaymentMethodSpec(
            "Credit Card",
            apply_payment=True,
            bank_account_code="090",
            currency_accounts=CARD_ACCOUNTS,
            clearing_delay_days=2,
        ),
        PaymentMethodSpec("Bank Transfer"),
        PaymentMethodSpec("Check", create_invoice=False),
    ),
    tax_rules=(
        TaxRuleSpec("US", "CA", "TAX001"),
        TaxRuleSpec("US", "NY", "TAX002"),
        TaxRuleSpec("US", "TX", "TAX003"),
        TaxRuleSpec("US", "", "NONE"),
    ),
    tracking_rules=(
        TrackingRuleSpec(
            "Region",
            "field",
            field="Region__c",
            mapping={"North America": "North", "EMEA": "East", "APAC": "West"},
        ),
        TrackingRuleSpec("Sales Rep", "fixed", fixed_option="Alice Smith"),
    ),
)


def check(
    config: dict[str, Any] | None = None,
    *,
    rules: RuleSet = RULES,
    xero: OrganisationMetadata = XERO,
    salesforce: SalesforceMetadata = SALESFORCE,
    **changes: Any,
) -> list[ConfigProblem]:
    integration = Integration(config={**(CONFIG if config is None else config), **changes})
    return check_configuration(integration, xero=xero, salesforce=salesforce, rules=rules)


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, problems
    return problems[0]


def methods(*specs: PaymentMethodSpec) -> RuleSet:
    return dataclasses.replace(RULES, payment_methods=(*specs, *RULES.payment_methods[1:]))


def card(**changes: Any) -> PaymentMethodSpec:
    return dataclasses.replace(RULES.payment_methods[0], **changes)


def tracking(*rules: TrackingRuleSpec) -> RuleSet:
    return dataclasses.replace(RULES, tracking_rules=rules)


def with_fields(*fields: FieldInfo, drop: tuple[str, ...] = ()) -> SalesforceMetadata:
    opportunity = {k: v for k, v in SALESFORCE.opportunity.fields.items() if k not in drop}
    opportunity.update({f.name: f for f in fields})
    return dataclasses.replace(SALESFORCE, opportunity=ObjectInfo("Opportunity", opportunity))


# --- a clean configuration ------------------------------------------------------------------


def test_a_demo_like_configuration_has_no_problems():
    assert check() == []


def test_defaults_against_a_plain_organisation_have_no_problems():
    """A new integration (every default) against an org with account 200 needs nothing."""
    assert check({}, rules=RuleSet()) == []


# --- the configuration itself ---------------------------------------------------------------


def test_a_configuration_that_does_not_load_stops_everything():
    problem = only(check(invoice_status="PAID"))
    assert (problem.field, problem.behaviour) == ("invoice_status", "invoices")
    assert problem.message.startswith("Invoice status: must be one of")
    assert "Nothing is synced" in problem.message


def test_tracking_is_still_checked_when_the_configuration_does_not_load():
    rules = tracking(TrackingRuleSpec("Department", "fixed", fixed_option="Sales"))
    fields = {p.field for p in check(rules=rules, payment_terms_days="soon")}
    assert fields == {"payment_terms_days", "tracking_rules:Department"}


# --- invoices -------------------------------------------------------------------------------


def test_a_missing_sales_account():
    problems = check(
        sales_account_code="299",
        credit_note_on_withdrawal=False,
        credit_note_on_amount_drop=False,
        negative_lines="line",
    )
    problem = only(problems)
    assert (problem.field, problem.behaviour) == ("sales_account_code", "invoices")
    assert "Sales account 299 does not exist in Demo Widgets Ltd" in problem.message


def test_an_archived_sales_account_also_stops_credit_notes():
    problems = check(sales_account_code="201")
    assert [(p.field, p.behaviour) for p in problems] == [
        ("sales_account_code", "invoices"),
        ("sales_account_code", "credit_notes"),
    ]
    assert "Sales account 201 (Old Sales) is archived" in problems[0].message
    assert "Credit notes use the same account" in problems[1].message


def test_a_sales_account_that_is_not_revenue():
    problems = check(
        sales_account_code="400",
        negative_lines="line",
        credit_note_on_withdrawal=False,
        credit_note_on_amount_drop=False,
    )
    problem = only(problems)
    assert "is a EXPENSE account: choose a revenue, sales or other income" in problem.message


def test_other_income_is_a_revenue_account():
    assert check(sales_account_code="260") == []


def test_a_reference_field_that_does_not_exist():
    problem = only(check(reference_field="Invoice_Ref__c"))
    assert (problem.field, problem.behaviour) == ("reference_field", "invoices")
    assert "Opportunity.Invoice_Ref__c, which does not exist in Salesforce" in problem.message


def test_a_branding_theme_that_is_gone():
    problem = only(check(branding_theme_id="11111111-2222-3333-4444-555555555555"))
    assert (problem.field, problem.behaviour) == ("branding_theme_id", "invoices")
    assert "no longer exists" in problem.message


def test_a_stage_that_is_not_a_stagename_value():
    problem = only(check(stage="Closed - Paid"))
    # An error, not advice: with it nothing would ever be invoiced.
    assert (problem.field, problem.behaviour) == ("stage", "invoices")
    assert "not a value of Opportunity.StageName" in problem.message
    assert "'Closed Won'" in problem.message
    # Salesforce compares picklist values without case.
    assert check(stage="closed won") == []


def test_a_lost_stage_is_an_error_and_holds_invoices_back():
    problem = only(check(stage="Closed Lost"))
    assert (problem.field, problem.behaviour) == ("stage", "invoices")
    assert "closed and not won (lost)" in problem.message
    # A confirmation does not make a lost stage acceptable.
    problem = only(check(stage="Closed Lost", stage_confirmed="Closed Lost"))
    assert "lost" in problem.message


def test_an_open_stage_must_be_confirmed_for_that_stage():
    problem = only(check(stage="Negotiation/Review"))
    assert (problem.field, problem.behaviour) == ("stage", "invoices")
    assert "does not mark the stage 'Negotiation/Review' as won" in problem.message
    assert check(stage="Negotiation/Review", stage_confirmed="Negotiation/Review") == []
    # Confirming one open stage is not confirming another.
    assert only(check(stage="Prospecting", stage_confirmed="Negotiation/Review"))


# --- tax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tax_type", "expected"),
    [
        ("TAX099", "does not exist"),
        ("TAX008", "is archived"),
        ("INPUT", "cannot be used on sales"),
    ],
)
def test_a_default_tax_rate_that_cannot_be_used(tax_type, expected):
    problem = only(check(tax_mode="single", default_tax_type=tax_type))
    assert (problem.field, problem.behaviour) == ("default_tax_type", "tax")
    assert expected in problem.message


def test_an_export_tax_rate_that_cannot_be_used():
    problem = only(check(export_tax_type="TAX008"))
    assert (problem.field, problem.behaviour) == ("export_tax_type", "tax")


def test_a_tax_rule_whose_rate_is_gone():
    rules = dataclasses.replace(
        RULES, tax_rules=(TaxRuleSpec("US", "TX", "TAX099"), TaxRuleSpec("GB", "", "INPUT"))
    )
    problems = check(rules=rules)
    assert [(p.field, p.behaviour) for p in problems] == [
        ("tax_rules:US/TX", "tax"),
        ("tax_rules:GB", "tax"),
    ]
    assert problems[0].message.startswith("Tax rule for Texas, United States: Tax rate TAX099")
    assert "cannot be used on sales" in problems[1].message


def test_tax_by_location_without_rules_or_default():
    problem = only(check(rules=dataclasses.replace(RULES, tax_rules=()), default_tax_type=""))
    assert (problem.field, problem.behaviour) == ("tax_rules", "tax")


def test_tax_is_not_checked_when_none_is_sent():
    assert check(tax_mode="rules", line_amount_types="NoTax", export_tax_type="TAX099") == []
    assert check(tax_mode="xero_default", default_tax_type="TAX099") == []
    # Rules are not used outside the rules mode.
    rules = dataclasses.replace(RULES, tax_rules=(TaxRuleSpec("US", "TX", "TAX099"),))
    assert check(rules=rules, tax_mode="single") == []


def test_a_tax_field_that_does_not_exist():
    problem = only(check(tax_mode="field", tax_field="Account.VAT_Code__c"))
    assert (problem.field, problem.behaviour) == ("tax_field", "tax")
    assert "Account.VAT_Code__c, which does not exist" in problem.message
    assert check(tax_mode="field", tax_field="Account.Tax_Code__c") == []


def test_a_tax_field_that_holds_no_text():
    problem = only(check(tax_mode="field", tax_field="Amount"))
    assert "Opportunity.Amount is a currency field" in problem.message


def test_tax_field_picklist_values_must_name_usable_rates():
    """Codes or names, any case, as the sync reads them; the rest are listed."""
    assert check(tax_mode="field", tax_field="Tax_Code__c") == []
    salesforce = with_fields(_field("Tax_Code__c", "picklist", "tax001", "INPUT", "VAT20"))
    problem = only(check(tax_mode="field", tax_field="Tax_Code__c", salesforce=salesforce))
    assert (problem.field, problem.behaviour) == ("tax_field", "tax")
    assert "'INPUT', 'VAT20'" in problem.message
    assert "'tax001'" not in problem.message


# --- currencies -----------------------------------------------------------------------------


def test_a_default_currency_not_enabled():
    problem = only(check(default_currency="JPY"))
    assert (problem.field, problem.behaviour) == ("default_currency", "currencies")
    assert "JPY is not enabled in Demo Widgets Ltd" in problem.message
    assert check(default_currency="JPY", enable_missing_currencies=True) == []


# --- payments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("099", "Account 099 (for payments of payment method 'Credit Card') does not exist"),
        ("093", "(Old Savings, for payments of payment method 'Credit Card') is archived"),
        ("200", "does not take payments: choose a bank account, or enable payments"),
    ],
)
def test_a_payment_account_that_cannot_take_payments(code, expected):
    problem = only(check(rules=methods(card(bank_account_code=code))))
    assert (problem.field, problem.behaviour) == ("payment_methods:Credit Card", "payments")
    assert expected in problem.message


def test_an_account_with_payments_enabled_takes_them():
    assert check(rules=methods(card(bank_account_code="615"))) == []


def test_a_payment_method_without_a_bank_account():
    problem = only(check(rules=methods(card(bank_account_code=""))))
    assert "has no bank account" in problem.message


def test_a_payment_method_whose_invoices_are_drafts():
    problem = only(check(rules=methods(card(invoice_status="DRAFT"))))
    assert (problem.field, problem.behaviour) == ("payment_methods:Credit Card", "payments")
    assert "Xero records payments only on approved invoices" in problem.message
    # Inherited from the integration just the same.
    assert only(check(rules=methods(card()), invoice_status="DRAFT")).behaviour == "payments"


def test_a_currency_account_in_another_currency():
    problem = only(check(rules=methods(card(currency_accounts={"GBP": "092"}))))
    assert (problem.field, problem.behaviour) == ("payment_methods:Credit Card", "payments")
    assert "Account 092 holds EUR, so it cannot take the GBP payments" in problem.message


def test_a_currency_account_that_is_archived():
    problem = only(check(rules=methods(card(currency_accounts={"GBP": "093"}))))
    assert "GBP payments of payment method 'Credit Card'" in problem.message
    assert "archived" in problem.message


def test_a_currency_account_for_a_currency_not_enabled():
    problem = only(check(rules=methods(card(currency_accounts={"JPY": "090"}))))
    assert (problem.field, problem.behaviour) == ("payment_methods:Credit Card", "currencies")
    assert "JPY, which is not enabled" in problem.message
    assert (
        check(rules=methods(card(currency_accounts={"JPY": "090"})), enable_missing_currencies=True)
        == []
    )


def test_methods_that_record_no_payment_need_no_account():
    assert check(rules=methods(card(apply_payment=False, bank_account_code="099"))) == []


def test_a_payment_method_field_that_does_not_exist():
    salesforce = with_fields(drop=("Payment_Method__c",))
    problem = only(check(salesforce=salesforce))
    assert (problem.field, problem.behaviour) == ("payment_method_field", "payments")
    assert "Opportunity.Payment_Method__c, which does not exist" in problem.message


def test_a_payment_method_field_that_is_no_picklist_or_text():
    problem = only(check(payment_method_field="Amount"))
    assert (problem.field, problem.behaviour) == ("payment_method_field", "payments")
    assert "is a currency field: choose a picklist or text field" in problem.message
    # A text field is fine; its values cannot be listed, so nothing else is checked.
    assert check(payment_method_field="PO_Number__c") == []


def test_a_payment_method_name_that_is_not_a_picklist_value():
    rules = methods(card(name="Visa"))
    problems = check(rules=rules)
    assert [(p.field, p.behaviour) for p in problems] == [
        ("payment_methods:Visa", "matching"),
        ("payment_methods", "matching"),
    ]
    assert "'Visa' is not a value of Payment Method (Opportunity.Payment_Method__c)" in (
        problems[0].message
    )
    assert "Opportunities paid by 'Credit Card'" in problems[1].message


def test_a_picklist_value_without_a_payment_method():
    salesforce = with_fields(
        _field("Payment_Method__c", "picklist", "Credit Card", "Bank Transfer", "Check", "Cash")
    )
    problem = only(check(salesforce=salesforce))
    assert (problem.field, problem.behaviour) == ("payment_methods", "matching")
    assert "'Cash'" in problem.message


def test_a_default_payment_method_without_a_rule():
    problem = only(check(default_payment_method="Invoice"))
    assert (problem.field, problem.behaviour) == ("default_payment_method", "payments")


# --- tracking -------------------------------------------------------------------------------


def test_a_tracking_category_that_is_not_active():
    rules = tracking(TrackingRuleSpec("Department", "fixed", fixed_option="Sales"))
    problem = only(check(rules=rules))
    assert (problem.field, problem.behaviour) == ("tracking_rules:Department", "tracking")
    assert "'Department' does not exist or is not active" in problem.message


def test_a_fixed_option_that_does_not_exist_unless_it_may_be_created():
    rule = TrackingRuleSpec("Sales Rep", "fixed", fixed_option="Carol")
    problem = only(check(rules=tracking(rule)))
    assert (problem.field, problem.behaviour) == ("tracking_rules:Sales Rep", "tracking")
    assert "Tracking options 'Carol'" in problem.message
    assert "do not exist in category 'Sales Rep'" in problem.message
    creating = dataclasses.replace(rule, create_missing_options=True)
    assert check(rules=tracking(creating)) == []
    # Xero matches option names without case.
    assert check(rules=tracking(dataclasses.replace(rule, fixed_option="alice smith"))) == []


def test_a_mapped_option_that_does_not_exist():
    rule = dataclasses.replace(
        RULES.tracking_rules[0],
        mapping={"North America": "North", "EMEA": "Europe", "APAC": "West"},
    )
    problem = only(check(rules=tracking(rule)))
    assert (problem.field, problem.behaviour) == ("tracking_rules:Region", "tracking")
    assert "'Europe'" in problem.message
    assert "in its mapping" in problem.message
    assert check(rules=tracking(dataclasses.replace(rule, create_missing_options=True))) == []


def test_unmapped_picklist_values_must_be_options():
    rule = dataclasses.replace(RULES.tracking_rules[0], mapping={"North America": "North"})
    problem = only(check(rules=tracking(rule)))
    assert "'EMEA', 'APAC'" in problem.message
    assert "values of Opportunity.Region__c used as options" in problem.message


def test_a_tracking_field_that_does_not_exist():
    rule = TrackingRuleSpec(
        "Region", "field", field="Account.Territory__c", create_missing_options=True
    )
    problem = only(check(rules=tracking(rule)))
    assert (problem.field, problem.behaviour) == ("tracking_rules:Region", "tracking")
    assert "Account.Territory__c, which does not exist" in problem.message
    owner = TrackingRuleSpec("Sales Rep", "field", field="Owner.Name", create_missing_options=True)
    assert check(rules=tracking(owner)) == []


def test_more_than_two_tracking_rules():
    extra = TrackingRuleSpec("Sales Rep", "fixed", fixed_option="Bob Jones")
    problems = check(rules=tracking(*RULES.tracking_rules, extra))
    assert problems[0].field == "tracking_rules"
    assert "at most 2 tracking categories" in problems[0].message


# --- the stored result ----------------------------------------------------------------------


def test_paused_behaviours_leave_out_advisory_problems_and_unreadable_rows():
    problems = [
        ConfigProblem("default_tax_type", "x", "tax"),
        ConfigProblem("payment_methods:Visa", "y", "matching"),
        ConfigProblem("payment_methods:Card", "z", "payments"),
    ]
    integration = Integration(
        config_problems=[*(p.to_json() for p in problems), {"field": "x"}, "junk"]
    )
    assert stored_problems(integration) == problems
    assert paused_behaviours(integration) == frozenset({"tax", "payments"})
    assert paused_behaviours(Integration()) == frozenset()


def test_a_problem_names_a_known_behaviour():
    assert set(BEHAVIOURS) == {
        "invoices",
        "payments",
        "credit_notes",
        "tax",
        "currencies",
        "tracking",
        "writeback",
        "matching",
    }
    with pytest.raises(ValueError, match="behaviour"):
        ConfigProblem("stage", "x", "everything")


# --- write-back --------------------------------------------------------------------------------

WRITEBACK_SF = dataclasses.replace(
    SALESFORCE,
    opportunity=ObjectInfo(
        "Opportunity",
        {
            **SALESFORCE.opportunity.fields,
            "Xero_Status__c": dataclasses.replace(
                _field("Xero_Status__c", custom=True), updateable=True
            ),
            "Xero_Due__c": dataclasses.replace(
                _field("Xero_Due__c", "currency", custom=True), updateable=True
            ),
            "Xero_Locked__c": _field("Xero_Locked__c", custom=True),  # not updateable
            "PO_Number__c": dataclasses.replace(
                _field("PO_Number__c", custom=True), updateable=True
            ),
        },
    ),
)


def test_write_back_off_is_not_checked():
    assert check(writeback_fields={"xero_amount_due": "Nope__c"}, salesforce=WRITEBACK_SF) == []


def test_write_back_to_writable_fields_of_the_right_type_is_fine():
    problems = check(
        writeback_enabled=True,
        writeback_fields={
            "xero_invoice_status": "Xero_Status__c",
            "xero_amount_due": "Xero_Due__c",
        },
        salesforce=WRITEBACK_SF,
    )
    assert problems == []


@pytest.mark.parametrize(
    ("source", "field", "message"),
    [
        ("xero_amount_due", "Gone__c", "does not exist in Salesforce"),
        ("xero_invoice_status", "Xero_Locked__c", "may not edit"),
        ("xero_amount_due", "Xero_Status__c", "is a string field and cannot hold amount due"),
        # The sync reads it for the invoice's Reference: writing it would look like a change.
        ("xero_invoice_number", "PO_Number__c", "is read to build invoices"),
    ],
)
def test_write_back_problems_are_configuration_required_for_the_write_back_only(
    source: str, field: str, message: str
):
    problem = only(
        check(
            writeback_enabled=True,
            writeback_fields={source: field},
            salesforce=WRITEBACK_SF,
        )
    )
    assert problem.field == f"writeback_fields:{source}"
    assert problem.behaviour == "writeback"
    assert message in problem.message
    integration = Integration(config_problems=[problem.to_json()])
    assert paused_behaviours(integration) == frozenset({"writeback"})


def test_write_back_on_without_fields_says_so():
    problem = only(check(writeback_enabled=True, salesforce=WRITEBACK_SF))
    assert problem.field == "writeback_fields"

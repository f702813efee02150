"""The rule models validate and normalise what people type; constraints hold per integration."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration() -> Integration:
    return Integration.objects.create(account=AccountFactory.create(), name="Main")


def errors(instance: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def test_every_field_has_help_text() -> None:
    for model in (PaymentMethod, TaxRule, TrackingRule):
        for field in model._meta.get_fields():
            if isinstance(field, models.Field) and field.concrete and not field.primary_key:
                assert field.help_text, f"{model.__name__}.{field.name}"


# --- payment methods -----------------------------------------------------------------------


def test_payment_method_is_normalised(integration: Integration) -> None:
    method = PaymentMethod(
        integration=integration,
        name="  Credit card ",
        apply_payment=True,
        bank_account_code=" 090 ",
        currency_accounts={" eur ": " 091 "},
    )
    method.full_clean()
    assert (method.name, method.bank_account_code) == ("Credit card", "090")
    assert method.currency_accounts == {"EUR": "091"}


def test_payment_method_names_are_unique_in_any_case(integration: Integration) -> None:
    PaymentMethod.objects.create(integration=integration, name="Card")
    assert "__all__" in errors(PaymentMethod(integration=integration, name="CARD"))
    other = Integration.objects.create(account=integration.account, name="Other")
    PaymentMethod(integration=other, name="card").full_clean()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter the payment method"),
        ({"bank_account_code": "09 0"}, "bank_account_code", "Xero account code"),
        ({"currency_accounts": ["EUR"]}, "currency_accounts", 'Enter currency accounts as {"EUR"'),
        ({"currency_accounts": {"EURO": "091"}}, "currency_accounts", "not a currency code"),
        ({"currency_accounts": {"EUR": 91}}, "currency_accounts", "must be a Xero account code"),
        ({"currency_accounts": {"EUR": "1", "eur": "2"}}, "currency_accounts", "listed twice"),
        ({"clearing_delay_days": 366}, "clearing_delay_days", "less than or equal to 365"),
        ({"payment_terms_days": 3651}, "payment_terms_days", "less than or equal to 3650"),
        ({"invoice_status": "PAID"}, "invoice_status", "not a valid choice"),
        (
            {"apply_payment": True, "create_invoice": False, "bank_account_code": "090"},
            "apply_payment",
            "A payment needs an invoice to pay",
        ),
        ({"apply_payment": True}, "bank_account_code", "Choose the bank account"),
        (
            {"apply_payment": True, "bank_account_code": "090", "invoice_status": "DRAFT"},
            "invoice_status",
            "Xero records payments only on approved invoices",
        ),
    ],
)
def test_payment_method_problems(
    integration: Integration, changes: dict[str, Any], field: str, message: str
) -> None:
    found = errors(PaymentMethod(integration=integration, **{"name": "Card", **changes}))
    assert field in found, found
    assert message in found[field][0]


def test_payments_need_the_integrations_status_to_be_authorised(integration: Integration) -> None:
    """A method without its own status takes the integration's: drafts cannot be paid."""
    integration.config = {"invoice_status": "DRAFT"}
    method = PaymentMethod(
        integration=integration, name="Card", apply_payment=True, bank_account_code="090"
    )
    assert "invoice_status" in errors(method)
    method.invoice_status = "AUTHORISED"
    method.full_clean()
    # A broken configuration is reported by the integration's own form, not here.
    integration.config = {"invoice_status": "PAID"}
    PaymentMethod(
        integration=integration, name="Card", apply_payment=True, bank_account_code="090"
    ).full_clean()


# --- tax rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("Canada", "Ontario", ("CA", "ON")),
        ("us", "new york", ("US", "NY")),
        ("Australia", "nsw", ("AU", "NSW")),
        ("UK", "", ("GB", "")),
        ("BT", "", ("BT", "")),
    ],
)
def test_tax_rule_is_normalised(
    integration: Integration, country: str, region: str, expected: tuple[str, str]
) -> None:
    rule = TaxRule(integration=integration, country=country, region=region, tax_type=" TAX001 ")
    rule.full_clean()
    assert (rule.country, rule.region, rule.tax_type) == (*expected, "TAX001")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"country": "Atlantis"}, "country", "'Atlantis' is not a country we recognise"),
        ({"country": "GB", "region": "Kent"}, "region", "leave it empty for United Kingdom"),
        ({"region": "Ontario"}, "region", "not a state, province or territory of United States"),
        ({"tax_type": "TAX 1"}, "tax_type", "Enter the Xero tax rate's code"),
        ({"tax_type": ""}, "tax_type", "This field cannot be blank"),
    ],
)
def test_tax_rule_problems(
    integration: Integration, changes: dict[str, Any], field: str, message: str
) -> None:
    values = {"country": "US", "region": "", "tax_type": "TAX001", **changes}
    found = errors(TaxRule(integration=integration, **values))
    assert field in found, found
    assert message in found[field][0]


def test_tax_rule_unique_per_place(integration: Integration) -> None:
    TaxRule.objects.create(integration=integration, country="CA", region="ON", tax_type="T1")
    duplicate = TaxRule(integration=integration, country="Canada", region="Ontario", tax_type="T2")
    assert "already has a tax rule for that country and region" in str(errors(duplicate))
    TaxRule(integration=integration, country="CA", region="", tax_type="T2").full_clean()


# --- tracking rules ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["Region__c", "Account.Region__c", "Owner.Name"])
def test_tracking_rule_fields(integration: Integration, field: str) -> None:
    rule = TrackingRule(
        integration=integration,
        category_name=" Region ",
        source="field",
        field=field,
        mapping={" NE ": " North ", "": "South"},
    )
    rule.full_clean()
    assert rule.category_name == "Region"
    assert rule.mapping == {"NE": "North", "": "South"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"category_name": " "}, "category_name", "Enter the tracking category"),
        ({"fixed_option": ""}, "fixed_option", "Enter the option every invoice gets"),
        ({"source": "field", "field": ""}, "field", "Enter a Salesforce field API name"),
        ({"source": "field", "field": "Owner.Email"}, "field", "Enter a Salesforce field"),
        ({"source": "field", "field": "Region c"}, "field", "Enter a Salesforce field"),
        ({"mapping": ["North"]}, "mapping", "Enter the mapping as"),
        ({"mapping": {"NE": ""}}, "mapping", "Enter the Xero option for 'NE'"),
        ({"mapping": {"NE": 1}}, "mapping", "Enter the Xero option for 'NE'"),
        ({"mapping": {"NE": "x" * 101}}, "mapping", "longer than Xero's 100 characters"),
        ({"mapping": {"NE": "A", "ne ": "B"}}, "mapping", "'ne' is listed twice"),
        ({"source": "other"}, "source", "not a valid choice"),
    ],
)
def test_tracking_rule_problems(
    integration: Integration, changes: dict[str, Any], field: str, message: str
) -> None:
    values = {"category_name": "Region", "fixed_option": "North", **changes}
    found = errors(TrackingRule(integration=integration, **values))
    assert field in found, found
    assert message in found[field][0]


def test_at_most_two_tracking_rules(integration: Integration) -> None:
    first = TrackingRule.objects.create(
        integration=integration, category_name="Region", fixed_option="North"
    )
    TrackingRule.objects.create(
        integration=integration, category_name="Channel", fixed_option="Web"
    )
    third = TrackingRule(integration=integration, category_name="Rep", fixed_option="Jo")
    assert "at most 2 tracking rules" in errors(third)["category_name"][0]
    first.fixed_option = "South"
    first.full_clean()  # editing one of the two is fine


def test_tracking_categories_unique_in_any_case(integration: Integration) -> None:
    TrackingRule.objects.create(integration=integration, category_name="Region", fixed_option="N")
    duplicate = TrackingRule(integration=integration, category_name="REGION", fixed_option="S")
    assert "already has a rule for that tracking category" in str(errors(duplicate))


def test_str() -> None:
    assert str(PaymentMethod(name="Card")) == "Card"
    assert str(TaxRule(country="CA", region="ON", tax_type="T")) == "CA/ON → T"
    assert str(TaxRule(country="GB", tax_type="T")) == "GB → T"
    assert str(TrackingRule(category_name="Region", fixed_option="North")) == "Region: North"
    rule = TrackingRule(category_name="Region", source="field", field="Region__c")
    assert str(rule) == "Region: from Region__c"

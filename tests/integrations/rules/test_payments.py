"""Payment methods: which applies, which account a payment goes into, and its date."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from integrations.core.config import SyncConfig
from integrations.rules.payments import payment_account_for, payment_date, payment_method_for
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from tests.integrations.rules.data import US_METADATA, opportunity

CARD = PaymentMethodSpec(
    name="Credit Card",
    apply_payment=True,
    bank_account_code="090",
    currency_accounts={"EUR": "091"},
    clearing_delay_days=2,
)
SHOP = PaymentMethodSpec(name="Paid in shop", create_invoice=False)
RULES = RuleSet(payment_methods=(CARD, SHOP))
BY_FIELD = SyncConfig(payment_method_field="Payment_Method__c")


def test_no_payment_method_configured_gives_none() -> None:
    assert payment_method_for(opportunity(), SyncConfig(), RULES) is None


def test_the_fields_value_picks_the_method_in_any_case() -> None:
    for value in ("Credit Card", " credit card ", "CREDIT CARD"):
        opp = opportunity(fields={"Payment_Method__c": value})
        assert payment_method_for(opp, BY_FIELD, RULES) == CARD
    opp = opportunity(fields={"Payment_Method__c": "Paid in shop"})
    method = payment_method_for(opp, BY_FIELD, RULES)
    assert method is not None
    assert not method.create_invoice


def test_blank_value_takes_the_default_or_none() -> None:
    opp = opportunity(fields={"Payment_Method__c": None})
    assert payment_method_for(opp, BY_FIELD, RULES) is None
    config = replace(BY_FIELD, default_payment_method="paid in shop")
    assert payment_method_for(opp, config, RULES) == SHOP


def test_default_alone_applies_to_every_opportunity() -> None:
    config = SyncConfig(default_payment_method="Credit Card")
    assert payment_method_for(opportunity(), config, RULES) == CARD


def test_a_value_without_a_rule_is_a_problem() -> None:
    opp = opportunity(fields={"Payment_Method__c": "Cheque"})
    with pytest.raises(RuleProblem) as caught:
        payment_method_for(opp, BY_FIELD, RULES)
    assert caught.value.field == "payment_methods"
    assert caught.value.message == (
        "Opportunity 'Big Deal' (006000000000001AAA) is paid by 'Cheque' (Payment_Method__c), "
        "which has no payment method rule: add it under payment methods, saying whether to "
        "invoice and record payments for it."
    )


def test_a_default_without_a_rule_is_a_problem() -> None:
    config = SyncConfig(default_payment_method="Cheque")
    with pytest.raises(RuleProblem) as caught:
        payment_method_for(opportunity(), config, RULES)
    assert caught.value.field == "default_payment_method"
    assert caught.value.message == (
        "The default payment method 'Cheque' has no payment method rule: add it under payment "
        "methods, or change the default."
    )


def test_payment_method_field_not_read() -> None:
    with pytest.raises(RuleProblem) as caught:
        payment_method_for(opportunity(fields={}), BY_FIELD, RULES)
    assert caught.value.field == "payment_method_field"


def test_method_status_and_terms_default_to_the_integration() -> None:
    config = SyncConfig(invoice_status="DRAFT", payment_terms_days=14)
    assert (CARD.status_for(config), CARD.terms_for(config)) == ("DRAFT", 14)
    own = replace(CARD, invoice_status="AUTHORISED", payment_terms_days=0)
    assert (own.status_for(config), own.terms_for(config)) == ("AUTHORISED", 0)


# --- accounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "code"),
    [
        ("EUR", "091"),  # the method's account for euros
        ("eur", "091"),
        ("USD", "090"),
        ("", "090"),  # the base currency
        ("GBP", "090"),  # a base-currency bank account takes any currency
    ],
)
def test_account_per_currency_else_the_methods(currency: str, code: str) -> None:
    assert payment_account_for(CARD, currency, US_METADATA).code == code


def test_accounts_with_payments_enabled_and_without_currency_take_payments() -> None:
    for code in ("615", "093"):
        method = replace(CARD, bank_account_code=code, currency_accounts={})
        assert payment_account_for(method, "EUR", US_METADATA).code == code


@pytest.mark.parametrize(
    ("method", "currency", "message"),
    [
        (
            replace(CARD, bank_account_code="", currency_accounts={}),
            "USD",
            "Payment method 'Credit Card' has no bank account: choose the Xero account its "
            "payments go into.",
        ),
        (
            replace(CARD, bank_account_code="099"),
            "USD",
            "Account 099 (payment method 'Credit Card') does not exist in Demo Widgets Ltd: "
            "choose another account for its payments.",
        ),
        (
            replace(CARD, bank_account_code="092"),
            "USD",
            "Account 092 (Old Savings) is archived in Demo Widgets Ltd, not active: restore it "
            "in Xero or choose another account for payment method 'Credit Card'.",
        ),
        (
            replace(CARD, bank_account_code="200"),
            "USD",
            "Account 200 (Sales) does not take payments: choose a bank account for payment "
            "method 'Credit Card', or enable payments to this account in Xero.",
        ),
        (
            replace(CARD, bank_account_code="091", currency_accounts={}),
            "GBP",
            "Account 091 (EUR Account) holds EUR, so it cannot take a payment in GBP: add a GBP "
            "account for payment method 'Credit Card' under its currency accounts, or choose an "
            "account in the organisation's own currency.",
        ),
        (
            replace(CARD, currency_accounts={"GBP": "091"}),
            "GBP",
            "Account 091 (EUR Account) holds EUR, so it cannot take a payment in GBP: add a GBP "
            "account for payment method 'Credit Card' under its currency accounts, or choose an "
            "account in the organisation's own currency.",
        ),
    ],
)
def test_account_problems(method: PaymentMethodSpec, currency: str, message: str) -> None:
    with pytest.raises(RuleProblem) as caught:
        payment_account_for(method, currency, US_METADATA)
    assert (caught.value.field, caught.value.message) == ("payment_methods", message)


def test_payment_date_adds_the_clearing_delay() -> None:
    close = dt.date(2026, 2, 27)
    assert payment_date(close, 0) == close
    assert payment_date(close, 2) == dt.date(2026, 3, 1)
    assert payment_date(close, 365) == dt.date(2027, 2, 27)
    for days in (-1, 366):
        with pytest.raises(ValueError, match="0 to 365"):
            payment_date(close, days)

"""``steps.decide``: what the rules decide for one opportunity, and when it must wait.

Pure, no database: opportunities and the organisation come from the rules' test data
(``tests.integrations.rules.data``); each row of a table is one decision or one
:class:`RuleProblem` and the setting it names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from integrations.connections.salesforce.records import Opportunity, RateTable
from integrations.core.config import SyncConfig
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec, RuleSet, TrackingRuleSpec
from integrations.sync.steps.decide import decide, rate_between
from tests.integrations.rules.data import US_METADATA, opportunity

D = Decimal
CARD = PaymentMethodSpec(
    name="Card", apply_payment=True, bank_account_code="090", invoice_status="AUTHORISED"
)
SHOP = PaymentMethodSpec(name="Paid in shop", create_invoice=False)
NO_BANK = PaymentMethodSpec(name="Cheque", apply_payment=True)
TERMS = PaymentMethodSpec(name="Net 7", payment_terms_days=7, invoice_status="DRAFT")


def _no_rate(o: Opportunity, currency: str) -> Decimal:
    raise AssertionError(f"no Salesforce rate should be needed for {currency}")


@dataclass(frozen=True)
class Case:
    config: dict[str, Any] = field(default_factory=dict)
    methods: tuple[PaymentMethodSpec, ...] = ()
    tracking: tuple[TrackingRuleSpec, ...] = ()
    opportunity: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    """Decision attributes (``rules.x`` for the invoice rules) and their values."""


DECISIONS: dict[str, Case] = {
    "nothing configured: Xero's defaults, no payment": Case(
        expect={
            "method": None,
            "currency": "USD",
            "rules.tax_type": "",
            "rules.status": None,
            "rules.payment_terms_days": None,
            "rules.currency_rate": None,
            "rules.negative_lines_apart": False,
            "new_options": (),
        }
    ),
    "a method that is not invoiced skips every other rule": Case(
        # JPY is not enabled and the tax rate is archived: neither matters for a sale that
        # is never invoiced.
        config={"default_payment_method": "Paid in shop", "default_tax_type": "TAX008"},
        methods=(SHOP,),
        opportunity={"currency": "JPY"},
        expect={"method": SHOP, "currency": "", "rules.tax_type": None},
    ),
    "the method's status and terms": Case(
        config={"default_payment_method": "net 7"},
        methods=(TERMS,),
        expect={"method": TERMS, "rules.status": "DRAFT", "rules.payment_terms_days": 7},
    ),
    "the method falls back to the integration's status and terms": Case(
        config={"default_payment_method": "Card", "payment_terms_days": 14},
        methods=(CARD,),
        expect={"rules.status": "AUTHORISED", "rules.payment_terms_days": 14},
    ),
    "the opportunity's currency": Case(opportunity={"currency": "EUR"}, expect={"currency": "EUR"}),
    "no currency: the configured default": Case(
        config={"default_currency": "GBP"},
        opportunity={"currency": None},
        expect={"currency": "GBP"},
    ),
    "no currency and no default: the organisation's": Case(
        opportunity={"currency": None}, expect={"currency": "USD"}
    ),
    "a missing currency enabled by CarryTheOne": Case(
        config={"enable_missing_currencies": True},
        opportunity={"currency": "JPY"},
        expect={"currency": "JPY"},
    ),
    "single tax mode": Case(
        config={"default_tax_type": "TAX001"}, expect={"rules.tax_type": "TAX001"}
    ),
    "NoTax invoices carry no tax type": Case(
        config={"default_tax_type": "TAX001", "line_amount_types": "NoTax"},
        expect={"rules.tax_type": ""},
    ),
    "an existing tracking option": Case(
        tracking=(TrackingRuleSpec("Region", "fixed", fixed_option="north"),),
        expect={"rules.tracking": (("Region", "North"),), "new_options": ()},
    ),
    "a tracking option to create first": Case(
        tracking=(TrackingRuleSpec("Region", "fixed", "Mars", create_missing_options=True),),
        expect={"rules.tracking": (("Region", "Mars"),), "new_options": (("Region", "Mars"),)},
    ),
    "negative lines on a credit note": Case(
        config={"negative_lines": "credit_note"}, expect={"rules.negative_lines_apart": True}
    ),
    "Salesforce rates are not asked for the base currency": Case(
        config={"use_salesforce_rates": True}, expect={"rules.currency_rate": None}
    ),
}


def _decide(case: Case, rate: Any = _no_rate) -> Any:
    return decide(
        opportunity(**case.opportunity),
        SyncConfig(**case.config),
        RuleSet(payment_methods=case.methods, tracking_rules=case.tracking),
        US_METADATA,
        rate=rate,
    )


@pytest.mark.parametrize("case", DECISIONS.values(), ids=DECISIONS.keys())
def test_decisions(case: Case) -> None:
    decision = _decide(case)
    for path, expected in case.expect.items():
        value: Any = decision
        for name in path.split("."):
            value = getattr(value, name)
        assert value == expected, path


PROBLEMS: dict[str, tuple[Case, str, str]] = {
    "a currency not enabled in Xero": (
        Case(opportunity={"currency": "JPY"}),
        "currencies",
        "is in JPY, which is not enabled in Demo Widgets Ltd",
    ),
    "a payment method without a rule": (
        Case(config={"default_payment_method": "Bitcoin"}, methods=(CARD,)),
        "default_payment_method",
        "'Bitcoin' has no payment method rule",
    ),
    "a payment field value without a rule": (
        Case(
            config={"payment_method_field": "Pay__c"},
            methods=(CARD,),
            opportunity={"fields": {"Pay__c": "Barter"}},
        ),
        "payment_methods",
        "paid by 'Barter'",
    ),
    "a paid method without a bank account is caught before invoicing": (
        Case(config={"default_payment_method": "Cheque"}, methods=(NO_BANK,)),
        "payment_methods",
        "has no bank account",
    ),
    "a payment in a currency its bank account does not hold": (
        Case(
            config={"default_payment_method": "Card"},
            methods=(replace(CARD, bank_account_code="091"),),
            opportunity={"currency": "GBP"},
        ),
        "payment_methods",
        "holds EUR, so it cannot take a payment in GBP",
    ),
    "an archived tax rate": (
        Case(config={"default_tax_type": "TAX008"}),
        "default_tax_type",
        "archived",
    ),
    "a tracking option that does not exist": (
        Case(tracking=(TrackingRuleSpec("Region", "fixed", "Mars"),)),
        "tracking_rules",
        "'Mars' in category 'Region'",
    ),
}


@pytest.mark.parametrize(("case", "setting", "words"), PROBLEMS.values(), ids=PROBLEMS.keys())
def test_rule_problems_name_the_setting_and_say_why(case: Case, setting: str, words: str) -> None:
    with pytest.raises(RuleProblem) as raised:
        _decide(case)
    assert raised.value.field == setting
    assert words in raised.value.message


def test_salesforce_rates_are_asked_for_a_foreign_currency() -> None:
    asked: list[tuple[str, str]] = []

    def rate(o: Opportunity, currency: str) -> Decimal:
        asked.append((o.salesforce_id, currency))
        return D("0.912345")

    decision = _decide(
        Case(config={"use_salesforce_rates": True}, opportunity={"currency": "EUR"}), rate
    )
    assert decision.rules.currency_rate == D("0.912345")
    assert asked == [("006000000000001AAA", "EUR")]


def test_a_foreign_currency_without_salesforce_rates_uses_xeros_rate() -> None:
    decision = _decide(Case(opportunity={"currency": "EUR"}))
    assert decision.rules.currency_rate is None


# --- rate_between ----------------------------------------------------------------------------

DAY = dt.date(2026, 3, 2)
STATIC: RateTable = {
    "USD": [(dt.date.min, dt.date.max, D("1"))],
    "EUR": [(dt.date.min, dt.date.max, D("0.92"))],
    "GBP": [(dt.date.min, dt.date.max, D("0.79"))],
}
DATED: RateTable = {
    "USD": [(dt.date.min, dt.date.max, D("1"))],
    "EUR": [
        (dt.date(2026, 1, 1), DAY, D("0.90")),
        (DAY, dt.date(2026, 4, 1), D("0.95")),
    ],
}

RATES: dict[str, tuple[RateTable, str, str, dt.date | None, Decimal]] = {
    "units per corporate unit, against the base currency": (STATIC, "EUR", "USD", DAY, D("0.92")),
    "the quotient when the corporate currency is not Xero's base": (
        STATIC,
        "EUR",
        "GBP",
        DAY,
        D("1.164557"),
    ),
    "a dated period starts on its day": (DATED, "EUR", "USD", DAY, D("0.95")),
    "the day before is the previous period": (
        DATED,
        "EUR",
        "USD",
        DAY - dt.timedelta(days=1),
        D("0.90"),
    ),
    "no close date: today's": (DATED, "EUR", "USD", None, D("0.95")),
}


@pytest.mark.parametrize(
    ("rates", "currency", "base", "close", "expected"), RATES.values(), ids=RATES.keys()
)
def test_rate_between(
    rates: RateTable, currency: str, base: str, close: dt.date | None, expected: Decimal
) -> None:
    rate = rate_between(
        rates, opportunity(close_date=close), currency, base, today=DAY + dt.timedelta(days=3)
    )
    assert rate == expected
    assert rate.as_tuple().exponent == -6


MISSING: dict[str, tuple[RateTable, str, str, dt.date, str]] = {
    "the invoice currency": (STATIC, "JPY", "USD", DAY, "no conversion rate for JPY on 2026-03-02"),
    "the base currency": (STATIC, "EUR", "AUD", DAY, "no conversion rate for AUD on 2026-03-02"),
    "a day outside every period": (
        DATED,
        "EUR",
        "USD",
        dt.date(2025, 12, 31),
        "no conversion rate for EUR on 2025-12-31",
    ),
    "a zero base rate": (
        {**STATIC, "USD": [(dt.date.min, dt.date.max, D(0))]},
        "EUR",
        "USD",
        DAY,
        "no conversion rate for USD",
    ),
}


@pytest.mark.parametrize(
    ("rates", "currency", "base", "close", "words"), MISSING.values(), ids=MISSING.keys()
)
def test_a_missing_rate_is_a_rule_problem(
    rates: RateTable, currency: str, base: str, close: dt.date, words: str
) -> None:
    with pytest.raises(RuleProblem) as raised:
        rate_between(rates, opportunity(close_date=close), currency, base, today=DAY)
    assert raised.value.field == "use_salesforce_rates"
    assert words in raised.value.message

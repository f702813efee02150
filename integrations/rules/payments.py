"""Payment methods: whether an opportunity is invoiced, paid, into which account, and when.

Pure: no I/O. The payment method is a Salesforce field's value (a picklist such as
``Payment_Method__c``), or the configured default when the field is blank.
"""

from __future__ import annotations

import datetime as dt

from integrations.connections.salesforce.records import Opportunity
from integrations.connections.xero.metadata_types import AccountInfo, OrganisationMetadata
from integrations.core.config import SyncConfig
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import (
    PaymentMethodSpec,
    RuleSet,
    as_text,
    describe,
    field_value,
)

MAX_CLEARING_DELAY_DAYS = 365
SETTING = "payment_methods"


def payment_method_for(
    opportunity: Opportunity, config: SyncConfig, rules: RuleSet
) -> PaymentMethodSpec | None:
    """The opportunity's payment method; None when none applies (invoiced as usual, unpaid).

    None when no payment method field and no default are configured, or when the field is
    blank and there is no default. A value (or default) without a payment method rule is a
    :class:`RuleProblem`: it may be a new picklist value, and guessing could invoice a sale
    that must not be (paid in shop) or leave a card payment unrecorded.
    """
    value = ""
    if config.payment_method_field:
        value = as_text(
            field_value(opportunity, config.payment_method_field, setting="payment_method_field")
        )
    from_default = not value
    if from_default:
        value = config.default_payment_method.strip()
    if not value:
        return None
    method = rules.payment_method(value)
    if method is not None:
        return method
    if from_default:
        raise RuleProblem(
            "default_payment_method",
            f"The default payment method {value!r} has no payment method rule: add it under "
            "payment methods, or change the default.",
        )
    raise RuleProblem(
        SETTING,
        f"{describe(opportunity)} is paid by {value!r} ({config.payment_method_field}), which "
        "has no payment method rule: add it under payment methods, saying whether to invoice "
        "and record payments for it.",
    )


def payment_account_for(
    method: PaymentMethodSpec, currency: str, metadata: OrganisationMetadata
) -> AccountInfo:
    """The Xero account a payment in ``currency`` by ``method`` goes into.

    The method's account for that currency if it names one, else its bank account. It must
    exist, be active and take payments (a bank account, or one with payments enabled); a bank
    account held in a foreign currency only takes payments in that currency. ``currency`` ``""``
    means the organisation's base currency.
    """
    currency = (currency or metadata.base_currency).strip().upper()
    per_currency = {k.upper(): v for k, v in method.currency_accounts.items()}
    code = (per_currency.get(currency) or method.bank_account_code).strip()
    name = method.name
    org = metadata.name or "the Xero organisation"
    if not code:
        raise RuleProblem(
            SETTING,
            f"Payment method {name!r} has no bank account: choose the Xero account its "
            "payments go into.",
        )
    account = metadata.account_by_code(code)
    if account is None:
        raise RuleProblem(
            SETTING,
            f"Account {code} (payment method {name!r}) does not exist in {org}: choose "
            "another account for its payments.",
        )
    label = f"Account {code} ({account.name})"
    if account.status != "ACTIVE":
        raise RuleProblem(
            SETTING,
            f"{label} is {account.status.lower()} in {org}, not active: restore it in Xero or "
            f"choose another account for payment method {name!r}.",
        )
    if not account.accepts_payments:
        raise RuleProblem(
            SETTING,
            f"{label} does not take payments: choose a bank account for payment method "
            f"{name!r}, or enable payments to this account in Xero.",
        )
    held = account.currency_code.strip().upper()
    if held and held != metadata.base_currency.upper() and held != currency:
        raise RuleProblem(
            SETTING,
            f"{label} holds {held}, so it cannot take a payment in {currency}: add a "
            f"{currency} account for payment method {name!r} under its currency accounts, or "
            "choose an account in the organisation's own currency.",
        )
    return account


def payment_date(close_date: dt.date, delay_days: int) -> dt.date:
    """The day a payment reaches the bank: the close date plus the clearing delay."""
    if not 0 <= delay_days <= MAX_CLEARING_DELAY_DAYS:
        raise ValueError(f"clearing delay must be 0 to {MAX_CLEARING_DELAY_DAYS} days")
    return close_date + dt.timedelta(days=delay_days)

"""What the accounting rules decide for one opportunity, before translation: pure, no I/O (the
Salesforce conversion rate comes in through ``rate``), so the preview decides exactly as the
sync does without touching either system.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from integrations.connections.salesforce.records import Opportunity, RateTable
from integrations.connections.xero.metadata_types import OrganisationMetadata
from integrations.core.config import SyncConfig
from integrations.rules.payments import payment_account_for, payment_method_for
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from integrations.rules.tax import tax_type_for
from integrations.rules.tracking import tracking_for
from integrations.sync.translate import InvoiceRules


@dataclass(frozen=True)
class Decision:
    """What the accounting rules decided for one opportunity."""

    rules: InvoiceRules
    method: PaymentMethodSpec | None
    currency: str
    new_options: tuple[tuple[str, str], ...] = ()
    """(category, option) pairs to create in Xero before the invoice."""


def decide(
    opportunity: Opportunity,
    config: SyncConfig,
    rules: RuleSet,
    metadata: OrganisationMetadata,
    *,
    rate: Callable[[Opportunity, str], Decimal],
) -> Decision:
    """Payment method, tax, tracking and currency for one opportunity.

    Raises :class:`RuleProblem` when a rule cannot be applied: the opportunity must wait.
    """
    method = payment_method_for(opportunity, config, rules)
    if method is not None and not method.create_invoice:
        return Decision(InvoiceRules(), method, "")
    tax_type = tax_type_for(opportunity, config, rules, metadata)
    tracking = tracking_for(opportunity, rules, metadata)
    currency = opportunity.currency or config.default_currency or metadata.base_currency
    if currency not in metadata.currencies and not config.enable_missing_currencies:
        raise RuleProblem(
            "currencies",
            f"{opportunity.name!r} is in {currency}, which is not enabled in "
            f"{metadata.name}: add {currency} in Xero (Settings → Currencies), or let "
            "CarryTheOne enable missing currencies. The opportunity waits until then.",
        )
    if method is not None and method.apply_payment:
        # A payment that could not be recorded is caught now, while the opportunity can wait.
        payment_account_for(method, currency, metadata)
    currency_rate = None
    if config.use_salesforce_rates and currency != metadata.base_currency:
        currency_rate = rate(opportunity, currency)
    return Decision(
        rules=InvoiceRules(
            tax_type=tax_type,
            tracking=tuple((c.category_name, c.option_name) for c in tracking),
            status=method.status_for(config) if method else None,
            payment_terms_days=method.terms_for(config) if method else None,
            currency_rate=currency_rate,
            negative_lines_apart=config.negative_lines == "credit_note",
        ),
        method=method,
        currency=currency,
        new_options=tuple((c.category_name, c.option_name) for c in tracking if c.needs_creating),
    )


def rate_between(
    rates: RateTable, opportunity: Opportunity, currency: str, base: str, *, today: dt.date
) -> Decimal:
    """Salesforce's rate on the close date, as Xero's CurrencyRate (currency per base unit).

    Salesforce rates are units per unit of the corporate currency, so the rate between the
    invoice currency and Xero's base currency is their quotient (the corporate currency need
    not be Xero's base currency).
    """
    day = opportunity.close_date or today

    def rate_of(code: str) -> Decimal | None:
        for start, end, value in rates.get(code, []):
            if start <= day < end:
                return value
        return None

    ours, theirs = rate_of(currency), rate_of(base)
    if ours is None or theirs is None or theirs == 0:
        missing = currency if ours is None else base
        raise RuleProblem(
            "use_salesforce_rates",
            f"Salesforce has no conversion rate for {missing} on {day.isoformat()}: add it in "
            "Salesforce (Manage Currencies), or use Xero's daily rate instead.",
        )
    return (ours / theirs).quantize(Decimal("0.000001"))

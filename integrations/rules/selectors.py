"""The rule tables of one integration, read into the pure rules' values (``specs``)."""

from __future__ import annotations

from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.rules.specs import PaymentMethodSpec, RuleSet, TaxRuleSpec, TrackingRuleSpec


def rule_set_for(integration_id: int) -> RuleSet:
    """The integration's rules, one query per table."""
    methods = PaymentMethod.objects.filter(integration_id=integration_id).order_by("name")
    taxes = TaxRule.objects.filter(integration_id=integration_id).order_by("country", "region")
    tracking = TrackingRule.objects.filter(integration_id=integration_id).order_by("id")
    return RuleSet(
        payment_methods=tuple(
            PaymentMethodSpec(
                name=m.name,
                create_invoice=m.create_invoice,
                apply_payment=m.apply_payment,
                bank_account_code=m.bank_account_code,
                currency_accounts={
                    str(k).upper(): str(v) for k, v in dict(m.currency_accounts or {}).items()
                },
                clearing_delay_days=m.clearing_delay_days,
                invoice_status=m.invoice_status,
                payment_terms_days=m.payment_terms_days,
            )
            for m in methods
        ),
        tax_rules=tuple(
            TaxRuleSpec(country=t.country, region=t.region, tax_type=t.tax_type) for t in taxes
        ),
        tracking_rules=tuple(
            TrackingRuleSpec(
                category_name=r.category_name,
                source=r.source,
                fixed_option=r.fixed_option,
                field=r.field,
                mapping={str(k): str(v) for k, v in dict(r.mapping or {}).items()},
                create_missing_options=r.create_missing_options,
            )
            for r in tracking
        ),
    )

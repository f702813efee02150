"""A configuration that stopped matching Xero holds back only the behaviour it affects."""

from __future__ import annotations

from collections import Counter

import pytest

from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from integrations.sync.models import LedgerEntry, PaymentEntry
from integrations.sync.run import sync_integration
from tests.integrations.sync.helpers import ours, won

pytestmark = pytest.mark.django_db(transaction=True)


def _problem(behaviour: str) -> dict[str, str]:
    return {
        "field": "sales_account_code",
        "message": "Account 200 was archived.",
        "behaviour": behaviour,
    }


def test_invoices_on_hold_wait_with_the_reason_then_go(
    integration: Integration, calls: Counter[str]
):
    Integration.objects.filter(pk=integration.pk).update(config_problems=[_problem("invoices")])
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert calls["create_invoices"] == 0
    assert not ours().exists()
    states = Counter(LedgerEntry.objects.values_list("state", flat=True))
    assert states == {"pending": len(won())}
    assert run.entries.filter(
        outcome="attention", message__startswith="Configuration required"
    ).count() == len(won())

    Integration.objects.filter(pk=integration.pk).update(config_problems=[])
    again = sync_integration(integration_id=integration.pk)
    assert again is not None
    assert ours().count() == len(won())
    # The waiting rows left the attention list when they were sent.
    assert not again.integration.log_entries.filter(
        outcome="attention", dismissed_at__isnull=True
    ).exists()


def test_payments_on_hold_keep_their_schedule_and_invoices_still_go(integration: Integration):
    integration.config = {**integration.config, "default_payment_method": "Card"}
    integration.save()
    PaymentMethod.objects.create(
        integration=integration,
        name="Card",
        apply_payment=True,
        bank_account_code="090",
        currency_accounts={"GBP": "091", "EUR": "092", "AUD": "093", "CAD": "094", "NZD": "095"},
    )
    Integration.objects.filter(pk=integration.pk).update(
        config_problems=[_problem("payments")],
        config={**integration.config, "payment_method_field": ""},
    )
    sync_integration(integration_id=integration.pk)
    assert ours().count() == len(won())
    assert PaymentEntry.objects.exists()
    assert not PaymentEntry.objects.filter(state="paid").exists()

    Integration.objects.filter(pk=integration.pk).update(config_problems=[])
    sync_integration(integration_id=integration.pk)
    assert PaymentEntry.objects.filter(state="paid").exists()

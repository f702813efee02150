"""Every configuration change leaves an audit row: who, when, which setting, from what to what;
credentials never do."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.core.config import ConfigError, SyncConfig
from integrations.core.models import ConfigChange, Integration
from integrations.setup.services import config_history, config_update, rule_saved
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration() -> Integration:
    return Integration.objects.create(
        account=AccountFactory.create(), name="Main", config={"polling": {"every": 60}}
    )


def _rows(integration: Integration) -> list[tuple[str, str, str]]:
    return [
        (c.what, c.old, c.new)
        for c in ConfigChange.objects.filter(integration=integration).order_by("id")
    ]


def test_one_row_per_changed_key_with_old_and_new_values(integration):
    user = UserFactory.create()
    returned = config_update(
        integration=integration,
        data={"invoice_status": "DRAFT", "payment_terms_days": 14, "sales_account_code": "200"},
        user=user,
    )
    assert returned.config["invoice_status"] == "DRAFT"
    # sales_account_code was 200 already (the default): no change, no row.
    assert _rows(integration) == [
        ("config.invoice_status", "AUTHORISED", "DRAFT"),
        ("config.payment_terms_days", "30", "14"),
    ]
    assert {c.user for c in ConfigChange.objects.all()} == {user}
    # Keys of other layers stay as they were.
    integration.refresh_from_db()
    assert integration.config["polling"] == {"every": 60}


def test_values_read_as_text(integration):
    config_update(
        integration=integration,
        data={"credit_note_on_withdrawal": True, "start_date": "2026-01-01", "stage": "Won"},
        user=None,
    )
    assert _rows(integration) == [
        ("config.credit_note_on_withdrawal", "no", "yes"),
        ("config.stage", "", "Won"),
        ("config.start_date", "", "2026-01-01"),
    ]


def test_a_refused_change_records_nothing(integration):
    with pytest.raises(ConfigError) as caught:
        config_update(integration=integration, data={"invoice_status": "PAID"}, user=None)
    assert caught.value.field == "invoice_status"
    assert not ConfigChange.objects.exists()
    integration.refresh_from_db()
    assert "invoice_status" not in integration.config


def test_a_scope_change_resets_the_watermark(integration):
    """The existing rule still applies: the audit wraps integration_update_config."""
    from django.utils import timezone

    Integration.objects.filter(pk=integration.pk).update(watermark=timezone.now())
    config_update(integration=integration, data={"stage": "Closed Won"}, user=None)
    integration.refresh_from_db()
    assert integration.watermark is None
    assert _rows(integration) == [("config.stage", "", "Closed Won")]


def test_an_edit_builds_on_the_stored_configuration_not_a_stale_copy(integration):
    stale = Integration.objects.get(pk=integration.pk)
    config_update(integration=integration, data={"invoice_status": "DRAFT"}, user=None)
    config_update(integration=stale, data={"payment_terms_days": 7}, user=None)
    integration.refresh_from_db()
    config = SyncConfig.from_json(integration.config)
    assert (config.invoice_status, config.payment_terms_days) == ("DRAFT", 7)
    assert _rows(integration)[-1] == ("config.payment_terms_days", "30", "7")


def test_a_rule_created_changed_and_deleted(integration):
    user = UserFactory.create()
    card = {
        "id": 5,
        "integration": integration.pk,
        "name": "Credit Card",
        "apply_payment": False,
        "bank_account_code": "",
        "currency_accounts": {},
    }
    with transaction.atomic():
        rule_saved(
            integration=integration,
            user=user,
            kind="payment_methods",
            label="Credit Card",
            before=None,
            after=card,
        )
    assert _rows(integration) == [
        ("payment_methods:Credit Card", "", "created"),
        ("payment_methods:Credit Card.apply_payment", "", "no"),
        ("payment_methods:Credit Card.name", "", "Credit Card"),
    ]
    ConfigChange.objects.all().delete()

    paid = {
        **card,
        "apply_payment": True,
        "bank_account_code": "090",
        "currency_accounts": {"EUR": "092"},
    }
    rule_saved(
        integration=integration,
        user=user,
        kind="payment_methods",
        label="Credit Card",
        before=card,
        after=paid,
    )
    assert _rows(integration) == [
        ("payment_methods:Credit Card.apply_payment", "no", "yes"),
        ("payment_methods:Credit Card.bank_account_code", "", "090"),
        ("payment_methods:Credit Card.currency_accounts", "", '{"EUR": "092"}'),
    ]
    ConfigChange.objects.all().delete()

    rule = {"country": "US", "region": "TX", "tax_type": "TAX003"}
    rule_saved(
        integration=integration, user=None, kind="tax_rules", label="US/TX", before=rule, after=None
    )
    assert _rows(integration) == [
        ("tax_rules:US/TX", "", "deleted"),
        ("tax_rules:US/TX.country", "US", ""),
        ("tax_rules:US/TX.region", "TX", ""),
        ("tax_rules:US/TX.tax_type", "TAX003", ""),
    ]


def test_an_unchanged_rule_records_nothing(integration):
    rule = {"category_name": "Region", "source": "fixed", "fixed_option": "North"}
    rule_saved(
        integration=integration,
        user=None,
        kind="tracking_rules",
        label="Region",
        before=rule,
        after=dict(rule),
    )
    assert not ConfigChange.objects.exists()


def test_an_unknown_rule_kind_is_refused(integration):
    with pytest.raises(ValueError, match="kind"):
        rule_saved(
            integration=integration,
            user=None,
            kind="credentials",
            label="x",
            before=None,
            after={"a": 1},
        )


def test_credentials_never_reach_the_audit(integration):
    rule_saved(
        integration=integration,
        user=None,
        kind="payment_methods",
        label="Stripe",
        before=None,
        after={
            "name": "Stripe",
            "api_key": "sk_live_123",
            "options": {"webhook_secret": "whsec_456", "account": "090"},
            "refresh_token": "",
        },
    )
    rows = _rows(integration)
    assert ("payment_methods:Stripe.api_key", "", "(hidden)") in rows
    text = " ".join(f"{w} {o} {n}" for w, o, n in rows)
    assert "sk_live_123" not in text
    assert "whsec_456" not in text
    assert '"account": "090"' in text
    # An empty one says nothing (not even that it is hidden).
    assert not any(w.endswith(".refresh_token") for w, _, _ in rows)


def test_history_is_newest_first_and_limited(integration):
    other = Integration.objects.create(account=integration.account, name="Other")
    for days in (10, 20, 30):
        config_update(integration=integration, data={"payment_terms_days": days}, user=None)
    config_update(integration=other, data={"invoice_status": "DRAFT"}, user=None)
    history = config_history(integration, limit=2)
    assert [(c.old, c.new) for c in history] == [("20", "30"), ("10", "20")]
    assert all(c.integration_id == integration.pk for c in config_history(integration))
    assert len(config_history(integration)) == 3

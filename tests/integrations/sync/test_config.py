"""SyncConfig: stored JSON parsed, validated and defaulted; errors name the field."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.core.config import ConfigError, SyncConfig


def test_defaults_from_empty_json() -> None:
    """An empty (or missing) configuration gives the documented defaults."""
    config = SyncConfig.from_json({})
    assert config == SyncConfig.from_json(None)
    assert config == SyncConfig(
        invoice_status="AUTHORISED",
        line_amount_types="Exclusive",
        payment_terms_days=30,
        reference_field="Name",
        invoice_number_pattern="",
        sales_account_code="200",
        default_tax_type="",
        branding_theme_id="",
        default_currency="",
        create_missing_items=True,
    )


def test_round_trip() -> None:
    """to_json() then from_json() gives back an equal config."""
    config = SyncConfig.from_json(
        {
            "invoice_status": "DRAFT",
            "line_amount_types": "Inclusive",
            "payment_terms_days": 14,
            "reference_field": "PO_Number__c",
            "invoice_number_pattern": "{close_date:%Y}-{name}",
            "sales_account_code": "260",
            "default_tax_type": "TAX001",
            "branding_theme_id": "5D4C8F1E-0000-4000-8000-000000000001",
            "default_currency": "USD",
            "create_missing_items": False,
        }
    )
    assert SyncConfig.from_json(config.to_json()) == config
    assert config.branding_theme_id == "5d4c8f1e-0000-4000-8000-000000000001"


def test_unknown_keys_are_ignored() -> None:
    """The stored JSON also holds other layers' settings; they do not break parsing."""
    assert SyncConfig.from_json({"poll_seconds": 60}) == SyncConfig()


def test_text_values_are_trimmed() -> None:
    assert SyncConfig.from_json({"sales_account_code": " 200 "}).sales_account_code == "200"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoice_status", "PAID"),
        ("invoice_status", "authorised"),
        ("invoice_status", 3),
        ("line_amount_types", "exclusive"),
        ("line_amount_types", "GST"),
        ("payment_terms_days", -1),
        ("payment_terms_days", 3651),
        ("payment_terms_days", "30"),
        ("payment_terms_days", True),
        ("payment_terms_days", 30.0),
        ("reference_field", ""),
        ("reference_field", "Name; DROP"),
        ("reference_field", "1Field"),
        ("invoice_number_pattern", "INV-{id}"),
        ("sales_account_code", ""),
        ("sales_account_code", "12345678901"),
        ("default_tax_type", "TAX 001"),
        ("branding_theme_id", "not-a-uuid"),
        ("default_currency", "usd"),
        ("default_currency", "US"),
        ("create_missing_items", "yes"),
        ("create_missing_items", 1),
    ],
)
def test_invalid_values_name_the_field(field: str, value: Any) -> None:
    """Each invalid value raises ConfigError (a ValueError) naming its field."""
    with pytest.raises(ConfigError) as info:
        SyncConfig.from_json({field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)


def test_not_an_object() -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        SyncConfig.from_json(["AUTHORISED"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "pattern",
    [
        "SF-{opportunity_id}",
        "{close_date:%Y}-{name}",
        "{close_date:%y%m%d}/{account_id}-{opportunity_id}",
        "{{literal}}-{opportunity_id}",
        "{close_date:Q%j}",
    ],
)
def test_valid_number_patterns(pattern: str) -> None:
    assert SyncConfig.from_json({"invoice_number_pattern": pattern}).invoice_number_pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("INV-{id}", "unknown placeholder"),
        ("{name.__class__}", "unknown placeholder"),
        ("{name[0]}", "unknown placeholder"),
        ("{0}", "unknown placeholder"),
        ("{}", "unknown placeholder"),
        ("{name!r}", "conversion"),
        ("{name:>10}", "only {close_date} takes a format"),
        ("{close_date:%H}", "%Y, %y, %m, %d and %j"),
        ("{close_date:%}", "%Y, %y, %m, %d and %j"),
        ("{close_date:{name}}", "braces"),
        ("INV-", "at least one placeholder"),
        ("INV-{name", "not a valid pattern"),
    ],
)
def test_unsafe_number_patterns_are_rejected(pattern: str, message: str) -> None:
    """Only bare, known placeholders: str.format must not reach attributes or items."""
    with pytest.raises(ConfigError, match="invoice_number_pattern") as info:
        SyncConfig.from_json({"invoice_number_pattern": pattern})
    assert message in info.value.message


# --- accounting rules' keys ----------------------------------------------------------------


def test_accounting_rule_defaults() -> None:
    config = SyncConfig.from_json({})
    assert (config.payment_method_field, config.default_payment_method) == ("", "")
    assert (config.tax_mode, config.tax_field, config.export_tax_type) == ("xero_default", "", "")
    assert config.credit_note_on_withdrawal is False
    assert config.void_unpaid_instead is True
    assert config.credit_note_on_amount_drop is False
    assert config.negative_lines == "line"
    assert config.enable_missing_currencies is False
    assert config.use_salesforce_rates is False


def test_accounting_rule_keys_round_trip() -> None:
    config = SyncConfig.from_json(
        {
            "payment_method_field": "Payment_Method__c",
            "default_payment_method": " Credit card ",
            "tax_mode": "field",
            "tax_field": "Account.Tax_Code__c",
            "export_tax_type": "ZERORATEDOUTPUT",
            "credit_note_on_withdrawal": True,
            "void_unpaid_instead": False,
            "credit_note_on_amount_drop": True,
            "negative_lines": "credit_note",
            "enable_missing_currencies": True,
            "use_salesforce_rates": True,
        }
    )
    assert config.default_payment_method == "Credit card"
    assert config.tax_field == "Account.Tax_Code__c"
    assert SyncConfig.from_json(config.to_json()) == config
    assert config.to_json()["tax_mode"] == "field"


def test_tax_mode_is_inferred_from_a_stored_default_tax_type() -> None:
    """Configurations stored before tax modes existed meant "one tax type for everything"."""
    assert SyncConfig.from_json({"default_tax_type": "TAX001"}).tax_mode == "single"
    assert SyncConfig.from_json({"default_tax_type": "TAX001", "tax_mode": ""}).tax_mode == (
        "single"
    )
    assert SyncConfig.from_json({"default_tax_type": ""}).tax_mode == "xero_default"
    # Built in code it means the same, so code and stored JSON agree.
    assert SyncConfig(default_tax_type="TAX001").tax_mode == "single"
    assert SyncConfig(default_tax_type="TAX001") == SyncConfig.from_json(
        {"default_tax_type": "TAX001"}
    )
    # Stated explicitly, the mode stands: rules keep the default tax type as their fallback.
    rules = SyncConfig.from_json({"default_tax_type": "TAX001", "tax_mode": "rules"})
    assert (rules.tax_mode, rules.default_tax_type) == ("rules", "TAX001")
    assert SyncConfig.from_json(rules.to_json()) == rules


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"tax_mode": "single"}, "default_tax_type", "choose the tax rate every line uses"),
        ({"tax_mode": "field"}, "tax_field", "choose the Salesforce field"),
        ({"default_payment_method": "x" * 256}, "default_payment_method", "at most 255"),
    ],
)
def test_modes_need_their_settings(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SyncConfig.from_json(data)
    assert info.value.field == field
    assert message in info.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_method_field", "Payment Method"),
        ("payment_method_field", "Account.Payment__c"),
        ("payment_method_field", 7),
        ("default_payment_method", ["Card"]),
        ("tax_mode", "manual"),
        ("tax_mode", "Rules"),
        ("tax_mode", None),
        ("tax_field", "Owner.Tax__c"),
        ("tax_field", "Account."),
        ("tax_field", "Tax Code"),
        ("export_tax_type", "ZERO RATED"),
        ("export_tax_type", 0),
        ("credit_note_on_withdrawal", "false"),
        ("void_unpaid_instead", 0),
        ("credit_note_on_amount_drop", None),
        ("negative_lines", "negative"),
        ("negative_lines", "Line"),
        ("enable_missing_currencies", "yes"),
        ("use_salesforce_rates", 1),
    ],
)
def test_invalid_accounting_rule_values_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        SyncConfig.from_json({field: value})
    assert info.value.field == field


def test_write_back_is_off_by_default_and_round_trips():
    assert not SyncConfig().writeback_on
    config = SyncConfig.from_json(
        {
            "writeback_enabled": True,
            "writeback_fields": {
                "xero_amount_due": "Xero_Amount_Due__c",
                "xero_invoice_status": "Xero_Status__c",
                "xero_invoice_url": "",
            },
        }
    )
    assert config.writeback_on
    # In the sources' own order; a source mapped to nothing is left out.
    assert config.writeback_map == {
        "xero_invoice_status": "Xero_Status__c",
        "xero_amount_due": "Xero_Amount_Due__c",
    }
    assert SyncConfig.from_json(config.to_json()) == config
    assert hash(config)  # still usable as a key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"xero_balance": "X__c"}, "unknown Xero value"),
        ({"xero_amount_due": "Bad Name"}, "not a Salesforce field API name"),
        ({"xero_amount_due": "X__c", "xero_amount_paid": "X__c"}, "chosen for two"),
        (["xero_amount_due"], "must map"),
    ],
)
def test_write_back_fields_are_checked(fields: object, message: str):
    with pytest.raises(ConfigError, match=message):
        SyncConfig.from_json({"writeback_fields": fields})

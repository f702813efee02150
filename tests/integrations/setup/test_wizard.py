"""The setup wizard: every step saves on its own, shows its errors at the field, offers what the
customer's Xero and Salesforce hold, explains every option, and is read-only for support.

No network: both metadata caches are filled (see ``wizard_data``) and the connections point at
a port where nothing listens, so a refresh fails at once and the panel works from the cache.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from integrations.connections.models import ProviderSettings
from integrations.core.config import SyncConfig
from integrations.core.models import ConfigChange, Integration
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.setup import steps
from integrations.setup.help import ALL as ALL_HELP
from integrations.setup.steps import STEPS
from integrations.setup.views import change_label
from tests.factories import MembershipFactory, UserFactory
from tests.integrations.setup.wizard_data import (
    DEAD,
    PROJECTS_THEME,
    connected_integration,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nowhere(settings: Any) -> None:
    """Every provider URL points where nothing listens: a read that is not cached fails."""
    settings.XERO_API_URL = f"{DEAD}/api.xro/2.0"
    settings.XERO_TOKEN_URL = f"{DEAD}/connect/token"
    settings.SALESFORCE_LOGIN_URL = DEAD


@pytest.fixture
def integration(account) -> Integration:
    return connected_integration(account)


def _url(integration: Integration, name: str) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def _step_url(integration: Integration, key: str) -> str:
    return _url(integration, steps.step(key).url_name)


def _config(integration: Integration) -> SyncConfig:
    integration.refresh_from_db()
    return SyncConfig.from_json(integration.config)


def _field_block(html: str, name: str) -> str:
    """The HTML of one field's block (``id="field-<name>"``) up to the next field's."""
    start = html.index(f'id="field-{name}"')
    end = html.find('<div class="setup-field', start + 1)
    return html[start : end if end != -1 else len(html)]


# Valid answers for each configuration step, and what they store.
VALID: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "opportunities": (
        {"stage": "Closed Won", "start_date": "2026-07-01"},
        {"stage": "Closed Won", "start_date": "2026-07-01"},
    ),
    "customers": (
        {"contact_name_collision": "link"},  # create_missing_items unticked
        {"contact_name_collision": "link", "create_missing_items": False},
    ),
    "invoices": (
        {
            "invoice_status": "DRAFT",
            "invoice_number_pattern": "SF-{close_date:%Y}-{opportunity_id}",
            "reference_field": "PO_Number__c",
            "payment_terms_days": "14",
            "branding_theme_id": PROJECTS_THEME,
            "sales_account_code": "260",
            "line_amount_types": "Inclusive",
        },
        {
            "invoice_status": "DRAFT",
            "invoice_number_pattern": "SF-{close_date:%Y}-{opportunity_id}",
            "reference_field": "PO_Number__c",
            "payment_terms_days": 14,
            "branding_theme_id": PROJECTS_THEME,
            "sales_account_code": "260",
            "line_amount_types": "Inclusive",
        },
    ),
    "payments": (
        {"payment_method_field": "Payment_Method__c", "default_payment_method": "Bank Transfer"},
        {"payment_method_field": "Payment_Method__c", "default_payment_method": "Bank Transfer"},
    ),
    "tax": (
        {"tax_mode": "rules", "default_tax_type": "TAX001", "export_tax_type": "NONE"},
        {"tax_mode": "rules", "default_tax_type": "TAX001", "export_tax_type": "NONE"},
    ),
    "currencies": (
        {"default_currency": "EUR", "enable_missing_currencies": "on"},
        {
            "default_currency": "EUR",
            "enable_missing_currencies": True,
            "use_salesforce_rates": False,
        },
    ),
    "tracking": ({}, {}),
    "writeback": (
        {
            "writeback_enabled": "on",
            "writeback_fields:xero_invoice_status": "Xero_Status__c",
            "writeback_fields:xero_amount_due": "Xero_Amount_Due__c",
            "writeback_fields:xero_fully_paid_date": "Xero_Paid_Date__c",
        },
        {
            "writeback_enabled": True,
            "writeback_fields": {
                "xero_invoice_status": "Xero_Status__c",
                "xero_amount_due": "Xero_Amount_Due__c",
                "xero_fully_paid_date": "Xero_Paid_Date__c",
            },
        },
    ),
    "credit_notes": (
        {
            "credit_note_on_withdrawal": "on",
            "credit_note_on_amount_drop": "on",
            "negative_lines": "credit_note",
        },
        {
            "credit_note_on_withdrawal": True,
            "void_unpaid_instead": False,
            "credit_note_on_amount_drop": True,
            "negative_lines": "credit_note",
        },
    ),
}

# Invalid answers: (posted, field the message is at, part of the message).
INVALID: list[tuple[str, dict[str, str], str, str]] = [
    ("opportunities", {"stage": "Closed Paid"}, "stage", "Select a valid choice"),
    ("opportunities", {"stage": "Closed Lost"}, "stage", "as closed and not won (lost)"),
    ("opportunities", {"stage": "Negotiation/Review"}, "stage_confirmed", "Tick this to confirm"),
    ("opportunities", {"start_date": "31/02/2026"}, "start_date", "Enter the date as YYYY-MM-DD"),
    ("customers", {"contact_name_collision": "merge"}, "contact_name_collision", "valid choice"),
    (
        "invoices",
        {"invoice_number_pattern": "{name.__class__}"},
        "invoice_number_pattern",
        "Unknown placeholder {name.__class__}",
    ),
    ("invoices", {"payment_terms_days": "5000"}, "payment_terms_days", "less than or equal"),
    ("invoices", {"sales_account_code": "400"}, "sales_account_code", "valid choice"),
    ("payments", {"payment_method_field": "Amount"}, "payment_method_field", "valid choice"),
    # Passes the form; SyncConfig refuses it, and its ConfigError lands at the field.
    ("tax", {"tax_mode": "single", "default_tax_type": ""}, "default_tax_type", "Choose the tax"),
    ("tax", {"tax_mode": "field", "tax_field": ""}, "tax_field", "Choose the Salesforce field"),
    ("tax", {"default_tax_type": "INPUT"}, "default_tax_type", "valid choice"),
    ("currencies", {"default_currency": "JPY"}, "default_currency", "valid choice"),
    ("credit_notes", {"negative_lines": "drop"}, "negative_lines", "valid choice"),
    # Only fields the connected user may edit, of a type that holds the value.
    (
        "writeback",
        {"writeback_fields:xero_invoice_status": "Xero_Locked__c"},
        "writeback_fields:xero_invoice_status",
        "valid choice",
    ),
    (
        "writeback",
        {"writeback_fields:xero_amount_due": "Xero_Status__c"},
        "writeback_fields:xero_amount_due",
        "valid choice",
    ),
    (
        "writeback",
        {
            "writeback_fields:xero_invoice_number": "Xero_Status__c",
            "writeback_fields:xero_invoice_status": "Xero_Status__c",
        },
        "writeback_fields:xero_invoice_status",
        "already chosen above",
    ),
    ("writeback", {"writeback_enabled": "on"}, "writeback_enabled", "Choose at least one"),
]


def _defaults_for(key: str) -> dict[str, str]:
    """What the step's form shows by default, as a browser would post it."""
    config = SyncConfig().to_json()
    out: dict[str, str] = {}
    for name in steps.step(key).keys:
        value = config[name]
        if isinstance(value, dict):
            out.update({f"{name}:{k}": str(v) for k, v in value.items()})
        elif value is True:
            out[name] = "on"
        elif value is not False:
            out[name] = str(value)
    return out


# --- the wizard's flow -------------------------------------------------------------------------


def test_setup_resumes_at_the_first_step_not_done(account, owner_client):
    bare = Integration.objects.create(account=account, name="New")
    assert owner_client.get(_url(bare, "setup"))["Location"] == _step_url(bare, "xero")

    integration = connected_integration(account)
    assert owner_client.get(_url(integration, "setup"))["Location"] == _step_url(
        integration, "opportunities"
    )
    owner_client.post(_step_url(integration, "opportunities"), VALID["opportunities"][0])
    assert owner_client.get(_url(integration, "setup"))["Location"] == _step_url(
        integration, "customers"
    )


@pytest.mark.parametrize("key", [s.key for s in STEPS if s.kind == "config"])
def test_each_step_saves_on_its_own_and_moves_on(key, integration, owner_client):
    posted, stored = VALID[key]
    other_keys_before = {
        k: v for k, v in _config(integration).to_json().items() if k not in steps.step(key).keys
    }
    response = owner_client.post(_step_url(integration, key), posted)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == _url(integration, steps.next_step(steps.step(key)).url_name)
    saved = _config(integration).to_json()
    assert {k: saved[k] for k in stored} == stored
    # Only this step's settings changed.
    assert {k: v for k, v in saved.items() if k not in steps.step(key).keys} == other_keys_before
    assert key in steps.done_steps(integration)
    # Each changed setting is in the history, with who changed it.
    defaults = SyncConfig().to_json()
    changed = {f"config.{k}" for k, v in stored.items() if defaults[k] != v}
    history = ConfigChange.objects.filter(integration=integration)
    assert set(history.values_list("what", flat=True)) == changed
    assert all(c.user is not None for c in history)


@pytest.mark.parametrize(("key", "posted", "field", "message"), INVALID)
def test_bad_input_is_refused_at_its_field_and_nothing_is_saved(
    key, posted, field, message, integration, owner_client
):
    before = dict(integration.config)
    response = owner_client.post(_step_url(integration, key), {**_defaults_for(key), **posted})
    assert response.status_code == 200
    block = _field_block(response.content.decode(), field)
    assert 'class="errorlist"' in block
    assert message in block
    integration.refresh_from_db()
    assert integration.config == before
    assert not ConfigChange.objects.exists()
    assert key not in steps.done_steps(integration)


def test_progress_nav_shows_every_step_which_are_done_and_links_to_each(integration, owner_client):
    owner_client.post(_step_url(integration, "customers"), VALID["customers"][0])
    html = owner_client.get(_step_url(integration, "tax")).content.decode()
    start = html.index('aria-label="Setup steps"')
    nav = html[start : html.index("</nav>", start)]
    for step in STEPS:
        assert f'href="{_step_url(integration, step.key)}"' in nav
    done = re.findall(r'<li class="[^"]*is-done[^"]*">\s*<a href="([^"]+)"', nav)
    assert set(done) == {
        _step_url(integration, "xero"),
        _step_url(integration, "salesforce"),
        _step_url(integration, "customers"),
    }
    assert f'href="{_step_url(integration, "tax")}" aria-current="step"' in nav


def test_a_switched_on_integration_counts_every_step_done(account):
    integration = connected_integration(account, is_enabled=True)
    assert steps.done_steps(integration) == {s.key for s in STEPS}


def test_connect_steps_link_to_the_connect_flows(account, owner_client):
    bare = Integration.objects.create(account=account, name="New")
    html = owner_client.get(_step_url(bare, "xero")).content.decode()
    assert reverse("xero:connect", args=[account.slug, bare.pk]) in html
    html = owner_client.get(_step_url(bare, "salesforce")).content.decode()
    assert reverse("salesforce:connect", args=[account.slug, bare.pk]) in html
    assert "not connected yet" in html


# --- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [s.key for s in STEPS if s.kind == "config"])
def test_every_option_has_a_short_help_and_a_fuller_explanation(key, integration, owner_client):
    html = owner_client.get(_step_url(integration, key)).content.decode()
    for name in steps.step(key).keys:
        if name == "writeback_fields":
            # One field per Xero value: ``writeback_fields:<source>``, help at ``.<source>``.
            name = "writeback_fields.xero_invoice_status"
            block = _field_block(html, name.replace(".", ":"))
        else:
            block = _field_block(html, name)
        assert ALL_HELP[name].short.split(":")[0][:40] in block.replace("&#x27;", "'")
        assert '<details class="field-help">' in block
        assert "Example:" in block


def test_rule_columns_have_help_too(integration, owner_client):
    html = owner_client.get(_step_url(integration, "tracking")).content.decode()
    assert "Add missing options" in html
    assert html.count('<details class="field-help">') >= 5


def test_payment_terms_help_gives_the_due_date_example(integration, owner_client):
    html = owner_client.get(_step_url(integration, "invoices")).content.decode()
    assert "closed on 3 March with 30-day terms gets an invoice due 2 April" in html


# --- fed by the customer's systems -------------------------------------------------------------


def test_lists_come_from_xero_and_salesforce(integration, owner_client):
    invoices = owner_client.get(_step_url(integration, "invoices")).content.decode()
    accounts = _field_block(invoices, "sales_account_code")
    assert "200 — Sales" in accounts
    assert "260 — Other Revenue" in accounts
    assert "Advertising" not in accounts  # an expense account
    assert "Special Projects" in _field_block(invoices, "branding_theme_id")
    reference = _field_block(invoices, "reference_field")
    assert "PO Number — PO_Number__c (custom)" in reference
    assert "Amount" not in reference  # not a text field

    payments = owner_client.get(_step_url(integration, "payments")).content.decode()
    field = _field_block(payments, "payment_method_field")
    assert "Payment Method — Payment_Method__c (custom)" in field
    assert "StageName" not in field
    assert "PO_Number__c" not in field
    assert "090 — Business Checking (USD)" in payments
    assert "091 — EUR Account (EUR)" in payments
    assert "855 — Card Clearing (USD)" in payments  # payments enabled

    tax = owner_client.get(_step_url(integration, "tax")).content.decode()
    rates = _field_block(tax, "default_tax_type")
    assert "California Sales Tax (7.25%)" in rates
    assert "New York City Sales Tax (8.875%)" in rates
    assert "Tax on Purchases" not in rates  # not usable on sales
    assert "Account.Tax_Code__c" in _field_block(tax, "tax_field")

    stages = _field_block(
        owner_client.get(_step_url(integration, "opportunities")).content.decode(), "stage"
    )
    assert "Closed Won (won)" in stages
    assert "Closed Lost (lost: never invoiced)" in stages
    assert "Prospecting (open: not marked won)" in stages

    currencies = owner_client.get(_step_url(integration, "currencies")).content.decode()
    assert "USD (base currency)" in _field_block(currencies, "default_currency")
    assert "single currency" in currencies

    tracking = owner_client.get(_step_url(integration, "tracking")).content.decode()
    assert '<option value="Region">Region</option>' in tracking
    assert '<option value="North">' in tracking  # the category's options, suggested
    assert "Opportunity Owner — Owner.Name" in tracking


def test_a_stored_value_xero_no_longer_has_stays_selectable_marked(integration, owner_client):
    integration.config = {**SyncConfig().to_json(), "sales_account_code": "299"}
    integration.save()
    html = owner_client.get(_step_url(integration, "invoices")).content.decode()
    block = _field_block(html, "sales_account_code")
    assert '<option value="299" selected>299 — not found in Xero</option>' in block
    # Saving the step with it kept works (the review reports it).
    posted = {**VALID["invoices"][0], "sales_account_code": "299"}
    assert owner_client.post(_step_url(integration, "invoices"), posted).status_code == 302
    assert _config(integration).sales_account_code == "299"


def test_changing_the_payment_field_redraws_its_values_without_saving(integration, owner_client):
    response = owner_client.post(
        _step_url(integration, "payments"),
        {"payment_method_field": "Region__c", "default_payment_method": "", "_reload": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    block = _field_block(response.content.decode(), "default_payment_method")
    assert '<option value="EMEA">EMEA</option>' in block
    assert "errorlist" not in response.content.decode()
    assert _config(integration).payment_method_field == ""


def test_without_any_copy_a_field_takes_typed_values_and_says_why(account, owner_client):
    integration = connected_integration(account, cached=False)
    html = owner_client.get(_step_url(integration, "invoices")).content.decode()
    assert "Could not read Xero: Xero did not answer" in html
    block = _field_block(html, "sales_account_code")
    assert '<input type="text" name="sales_account_code"' in block
    assert "No list from Xero yet" in block
    posted = {**VALID["invoices"][0], "sales_account_code": "201", "branding_theme_id": ""}
    posted["reference_field"] = "Name"
    assert owner_client.post(_step_url(integration, "invoices"), posted).status_code == 302
    assert _config(integration).sales_account_code == "201"


def test_refresh_failure_shows_why_and_the_form_keeps_working(integration, owner_client):
    response = owner_client.post(
        _url(integration, "setup_refresh"),
        {"provider": "xero", "step": "invoices"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Could not read Xero: Xero did not answer" in html
    assert "The lists show what was known before." in html
    # The cached lists still feed the form.
    assert "200 — Sales" in _field_block(html, "sales_account_code")
    row = ProviderSettings.objects.get(connection=integration.xero_connection)
    assert "did not answer" in row.last_error

    # Without htmx: the reason as a message, then back to the step.
    response = owner_client.post(
        _url(integration, "setup_refresh"), {"provider": "salesforce", "step": "payments"}
    )
    assert response["Location"] == _step_url(integration, "payments")
    page = owner_client.get(response["Location"]).content.decode()
    assert "Could not read Salesforce" in page
    assert "Payment_Method__c" in page
    assert ProviderSettings.objects.get(connection=integration.salesforce_connection).last_error


# --- rule tables -------------------------------------------------------------------------------


def _rule(table: str, **fields: Any) -> dict[str, Any]:
    row = fields.pop("row", "")
    prefix = f"{table}-{row or 'new'}"
    data: dict[str, Any] = {"table": table, "row": row, "action": fields.pop("action", "save")}
    mapping = fields.pop("mapping_rows", None)
    for name, value in fields.items():
        data[f"{prefix}-{name}"] = value
    if mapping is not None:
        name, pairs = mapping
        data[f"{prefix}-{name}-rows"] = len(pairs)
        for i, (key, value) in enumerate(pairs):
            data[f"{prefix}-{name}-{i}-key"] = key
            data[f"{prefix}-{name}-{i}-value"] = value
    return data


def _card_method(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Credit Card",
        "create_invoice": "on",
        "apply_payment": "on",
        "bank_account_code": "090",
        "clearing_delay_days": "2",
        "invoice_status": "",
        "payment_terms_days": "0",
        "mapping_rows": ("currency_accounts", [("EUR", "091"), ("GBP", ""), ("", "")]),
    }
    return _rule("payment_methods", **{**fields, **extra})


def test_payment_method_rows_are_added_changed_and_removed_in_place(integration, owner_client):
    owner_client.post(_step_url(integration, "payments"), VALID["payments"][0])
    page = owner_client.get(_step_url(integration, "payments")).content.decode()
    # The method's name comes from the chosen picklist's values.
    assert '<option value="PayPal">PayPal</option>' in page

    response = owner_client.post(
        _url(integration, "setup_rules"), _card_method(), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="setup-rules" id="rules-payment_methods"')
    assert "Saved Credit Card." in html
    method = PaymentMethod.objects.get(integration=integration)
    assert (method.name, method.bank_account_code, method.clearing_delay_days) == (
        "Credit Card",
        "090",
        2,
    )
    assert method.currency_accounts == {"EUR": "091"}
    assert method.payment_terms_days == 0
    assert ConfigChange.objects.filter(what="payment_methods:Credit Card", new="created").exists()
    # The saved row is drawn with its mapping (EUR → 091 selected).
    assert '<option value="091" selected>' in html

    response = owner_client.post(
        _url(integration, "setup_rules"),
        _card_method(row=method.pk, clearing_delay_days="3"),
        HTTP_HX_REQUEST="true",
    )
    method.refresh_from_db()
    assert method.clearing_delay_days == 3
    change = ConfigChange.objects.filter(
        what="payment_methods:Credit Card.clearing_delay_days"
    ).first()
    assert change is not None
    assert (change.old, change.new) == ("2", "3")

    response = owner_client.post(
        _url(integration, "setup_rules"),
        {"table": "payment_methods", "row": method.pk, "action": "delete"},
        HTTP_HX_REQUEST="true",
    )
    assert "Removed Credit Card." in response.content.decode()
    assert not PaymentMethod.objects.exists()
    assert ConfigChange.objects.filter(what="payment_methods:Credit Card", new="deleted").exists()


def test_a_bad_rule_row_is_refused_at_its_field_and_not_saved(integration, owner_client):
    response = owner_client.post(
        _url(integration, "setup_rules"),
        _card_method(bank_account_code="", mapping_rows=("currency_accounts", [])),
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    start = html.index('id="rule-payment_methods-new-bank_account_code"')
    assert "Choose the bank account payments go into" in html[start : start + 3000]
    assert not PaymentMethod.objects.exists()
    assert not ConfigChange.objects.exists()

    PaymentMethod.objects.create(integration=integration, name="Credit Card")
    response = owner_client.post(
        _url(integration, "setup_rules"), _card_method(name="credit card"), HTTP_HX_REQUEST="true"
    )
    assert "already has a payment method of that name" in response.content.decode()
    assert PaymentMethod.objects.count() == 1


def test_mapping_rows_are_added_and_removed_without_saving(integration, owner_client):
    data = _card_method(action="more")
    response = owner_client.post(_url(integration, "setup_rules"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    # EUR, GBP and (always) one empty row, plus the one asked for.
    assert 'name="payment_methods-new-currency_accounts-rows" value="4"' in html
    assert not PaymentMethod.objects.exists()

    data = _rule(
        "tracking_rules",
        category_name="Region",
        source="field",
        field="Account.Tax_Code__c",
        mapping_rows=("mapping", [("NE", "North"), ("SW", "South")]),
        action="drop:0",
    )
    html = owner_client.post(
        _url(integration, "setup_rules"), data, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'value="NE"' not in html
    assert 'value="SW"' in html
    assert not TrackingRule.objects.exists()


def test_tax_rules_take_country_names_and_check_regions(integration, owner_client):
    response = owner_client.post(
        _url(integration, "setup_rules"),
        _rule("tax_rules", country="Canada", region="Ontario", tax_type="TAX002"),
    )
    # Without htmx: back to the step's table.
    assert response["Location"] == _step_url(integration, "tax") + "#rules-tax_rules"
    rule = TaxRule.objects.get()
    assert (rule.country, rule.region, rule.tax_type) == ("CA", "ON", "TAX002")

    response = owner_client.post(
        _url(integration, "setup_rules"),
        _rule("tax_rules", country="US", region="Bavaria", tax_type="TAX001"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not a state, province or territory of United States" in html
    assert 'id="rule-tax_rules-new-region"' in html
    assert TaxRule.objects.count() == 1


def test_tracking_rules_are_at_most_two_and_options_must_exist(integration, owner_client):
    url = _url(integration, "setup_rules")
    response = owner_client.post(
        url,
        _rule("tracking_rules", category_name="Region", source="fixed", fixed_option="Mars"),
        HTTP_HX_REQUEST="true",
    )
    assert "has no option &#x27;Mars&#x27;" in response.content.decode()
    assert not TrackingRule.objects.exists()

    # With "add missing options" on, a new option is fine.
    owner_client.post(
        url,
        _rule(
            "tracking_rules",
            category_name="Region",
            source="fixed",
            fixed_option="Mars",
            create_missing_options="on",
        ),
    )
    TrackingRule.objects.create(
        integration=integration, category_name="Sales Rep", source="field", field="Owner.Name"
    )
    html = owner_client.get(_step_url(integration, "tracking")).content.decode()
    assert "Add a tracking rule" not in html
    assert "Xero allows two active tracking categories" in html
    response = owner_client.post(
        url, _rule("tracking_rules", category_name="Region", source="fixed", fixed_option="East")
    )
    assert "at most 2 tracking rules" in response.content.decode()
    assert TrackingRule.objects.count() == 2


def test_rules_of_another_integration_cannot_be_reached(integration, owner_client, account):
    other = Integration.objects.create(account=account, name="Other")
    method = PaymentMethod.objects.create(integration=other, name="Cash")
    response = owner_client.post(
        _url(integration, "setup_rules"),
        {"table": "payment_methods", "row": method.pk, "action": "delete"},
    )
    assert response.status_code == 404
    assert PaymentMethod.objects.filter(pk=method.pk).exists()


# --- permissions -------------------------------------------------------------------------------


def test_support_sees_every_step_read_only(integration, support_client):
    PaymentMethod.objects.create(integration=integration, name="Check")
    for step in STEPS:
        response = support_client.get(_step_url(integration, step.key))
        assert response.status_code == 200, step.key
        html = response.content.decode()
        assert "Save and continue" not in html
        assert "Refresh from" not in html
        assert "Switch on" not in html
        assert 'name="action" value="save"' not in html
        if step.kind == "config" and step.keys:
            assert " disabled" in _field_block(html, step.keys[0])
    assert support_client.get(_url(integration, "setup_preview")).status_code == 200
    assert support_client.get(_url(integration, "setup_history")).status_code == 200


def test_support_cannot_change_anything(integration, support_client):
    before = dict(integration.config)
    for step in STEPS:
        assert (
            support_client.post(_step_url(integration, step.key), VALID.get(step.key, ({},))[0])
        ).status_code == 403, step.key
    method = PaymentMethod.objects.create(integration=integration, name="Check")
    for data in (
        _card_method(),
        {"table": "payment_methods", "row": method.pk, "action": "delete"},
    ):
        assert support_client.post(_url(integration, "setup_rules"), data).status_code == 403
    assert (
        support_client.post(_url(integration, "setup_refresh"), {"provider": "xero"}).status_code
        == 403
    )
    assert support_client.post(_url(integration, "setup_switch"), {"on": "1"}).status_code == 403
    integration.refresh_from_db()
    assert integration.config == before
    assert not integration.is_enabled
    assert PaymentMethod.objects.filter(pk=method.pk).exists()
    assert not ConfigChange.objects.exists()


def test_admins_may_edit(account, integration):
    user = UserFactory.create()
    MembershipFactory.create(account=account, user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    response = client.post(_step_url(integration, "customers"), VALID["customers"][0])
    assert response.status_code == 302
    assert ConfigChange.objects.get(what="config.contact_name_collision").user == user


def test_another_account_gets_404_everywhere(integration, outsider_client):
    for name in [s.url_name for s in STEPS] + [
        "setup",
        "setup_rules",
        "setup_refresh",
        "setup_switch",
        "setup_preview",
        "setup_history",
    ]:
        url = _url(integration, name)
        assert outsider_client.get(url).status_code == 404, name
        assert outsider_client.post(url, {"on": "1", "table": "tax_rules"}).status_code == 404


# --- review and switching on -------------------------------------------------------------------


def _refused(client: Client, integration: Integration) -> str:
    """Asks to switch on; asserts it was refused (back to the review, still off)."""
    response = client.post(_url(integration, "setup_switch"), {"on": "1"}, follow=True)
    assert response.redirect_chain == [(_step_url(integration, "review"), 302)]
    html = response.content.decode()
    assert "Not switched on" in html
    integration.refresh_from_db()
    assert not integration.is_enabled
    return html


@pytest.fixture
def reachable(monkeypatch) -> None:
    """Both connections answer a live check (this module has no network; the sandbox tests
    cover a check that fails)."""
    monkeypatch.setattr("integrations.setup.views.review.connection_check", lambda **kwargs: "")


@pytest.mark.usefixtures("reachable")
def test_switching_on_is_refused_while_problems_remain_then_allowed(integration, owner_client):
    integration.config = {**SyncConfig().to_json(), "sales_account_code": "299"}
    integration.save()
    review = owner_client.get(_step_url(integration, "review")).content.decode()
    assert "Sales account 299 does not exist" in review
    assert f'href="{_step_url(integration, "invoices")}#field-sales_account_code"' in review

    response = owner_client.post(_url(integration, "setup_switch"), {"on": "1"}, follow=True)
    assert response.redirect_chain == [(_step_url(integration, "review"), 302)]
    assert "Not switched on: 1 thing to fix first" in response.content.decode()
    assert "Sales account 299 does not exist" in response.content.decode()
    integration.refresh_from_db()
    assert not integration.is_enabled

    # The problem shows at its field on its step, and in the nav.
    invoices = owner_client.get(_step_url(integration, "invoices")).content.decode()
    assert "Sales account 299 does not exist" in _field_block(invoices, "sales_account_code")
    assert "badge-problem" in invoices

    owner_client.post(_step_url(integration, "invoices"), VALID["invoices"][0])
    response = owner_client.post(_url(integration, "setup_switch"), {"on": "1"})
    assert response.status_code == 302
    assert response["Location"] == _url(integration, "detail")
    integration.refresh_from_db()
    assert integration.is_enabled
    assert integration.config_problems == []

    response = owner_client.post(_url(integration, "setup_switch"), {"on": "0"})
    integration.refresh_from_db()
    assert not integration.is_enabled
    # Both switches are in the history, with who did them.
    switches = list(
        integration.config_changes.filter(what="syncing").order_by("at").values_list("old", "new")
    )
    assert switches == [("off", "on"), ("on", "off")]
    assert integration.config_changes.filter(what="syncing", user__isnull=True).count() == 0


def test_rule_problems_link_to_their_table(integration, owner_client):
    PaymentMethod.objects.create(
        integration=integration, name="Credit Card", apply_payment=True, bank_account_code="400"
    )
    html = owner_client.get(_step_url(integration, "review")).content.decode()
    assert f'href="{_step_url(integration, "payments")}#rules-payment_methods"' in html
    payments = owner_client.get(_step_url(integration, "payments")).content.decode()
    row = payments[payments.index('id="rule-payment_methods-') :]
    assert "Check:" in row[:2000]
    _refused(owner_client, integration)


def test_switching_on_needs_both_connections(account, owner_client):
    bare = Integration.objects.create(account=account, name="New")
    html = owner_client.get(_step_url(bare, "review")).content.decode()
    assert "Connect Xero first." in html
    assert "Connect Salesforce first." in html
    _refused(owner_client, bare)
    bare.refresh_from_db()
    assert not bare.is_enabled


def test_switching_on_needs_settings_to_check_against(account, owner_client):
    integration = connected_integration(account, cached=False)
    html = _refused(owner_client, integration)
    # The live check finds nothing listening: no "everything checks out" from old copies.
    assert "Xero could not be reached just now" in html
    assert "Salesforce could not be reached just now" in html
    assert "Everything checks out" not in html


# --- history and the integration's page --------------------------------------------------------


def test_history_lists_who_changed_what_from_what_to_what(integration, owner_client):
    owner_client.post(_step_url(integration, "invoices"), VALID["invoices"][0])
    fragment = owner_client.get(
        _url(integration, "setup_history"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "config.invoice_status" in fragment
    assert "Invoice status" in fragment
    assert "AUTHORISED" in fragment
    assert "DRAFT" in fragment
    assert "person" in fragment  # the factory's email address
    page = owner_client.get(_url(integration, "detail")).content.decode()
    assert f'href="{_url(integration, "setup")}"' in page
    assert f'hx-get="{_url(integration, "setup_history")}"' in page


def test_preview_page_renders_without_connections(account, owner_client):
    bare = Integration.objects.create(account=account, name="New")
    html = owner_client.get(_url(bare, "setup_preview")).content.decode()
    assert "Connect both Xero and Salesforce to preview" in html


def test_history_names_rule_changes_readably():
    assert change_label("config.invoice_status") == "Invoice status"
    assert change_label("tax_rules:US/NY.tax_type") == "Tax rule US/NY: Tax rate"
    assert change_label("payment_methods:Pay.com") == "Payment method Pay.com"
    assert change_label("payment_methods:Pay.com.apply_payment") == (
        "Payment method Pay.com: Record the payment"
    )
    assert change_label("something.else") == "something.else"


def test_step_pages_check_the_settings_as_they_are_now_and_email_nobody(
    integration, owner_client, mailoutbox
):
    integration.config = {**SyncConfig().to_json(), "sales_account_code": "299"}
    integration.save()
    invoices = owner_client.get(_step_url(integration, "invoices")).content.decode()
    assert "Sales account 299 does not exist" in invoices
    owner_client.post(_step_url(integration, "invoices"), VALID["invoices"][0])
    invoices = owner_client.get(_step_url(integration, "invoices")).content.decode()
    assert "does not exist" not in invoices
    assert "badge-problem" not in invoices
    assert mailoutbox == []


def test_choosing_a_tracking_field_lists_its_picklist_values_to_map(integration, owner_client):
    data = _rule(
        "tracking_rules",
        category_name="Region",
        source="field",
        field="Region__c",
        mapping_rows=("mapping", [("", "")]),
        action="reload",
    )
    html = owner_client.post(
        _url(integration, "setup_rules"), data, HTTP_HX_REQUEST="true"
    ).content.decode()
    for value in ("North America", "EMEA", "APAC"):
        assert 'type="hidden" name="tracking_rules-new-mapping-' in html
        assert f'value="{value}">{value}</td>' in html
    assert "errorlist" not in html
    assert not TrackingRule.objects.exists()

    # Saved with a mapping: each value's option, checked against the category's options.
    data = _rule(
        "tracking_rules",
        category_name="Region",
        source="field",
        field="Region__c",
        mapping_rows=("mapping", [("North America", "North"), ("EMEA", "East"), ("APAC", "")]),
    )
    owner_client.post(_url(integration, "setup_rules"), data)
    rule = TrackingRule.objects.get()
    assert rule.mapping == {"North America": "North", "EMEA": "East"}


def test_an_open_stage_is_saved_once_confirmed_and_asks_again_for_another(
    integration, owner_client
):
    url = _step_url(integration, "opportunities")
    response = owner_client.post(url, {"stage": "Negotiation/Review", "stage_confirmed": "on"})
    assert response.status_code == 302
    config = _config(integration)
    assert (config.stage, config.stage_confirmed) == ("Negotiation/Review", "Negotiation/Review")
    assert "checked" in _field_block(owner_client.get(url).content.decode(), "stage_confirmed")
    # Another open stage: the old confirmation does not carry over.
    response = owner_client.post(url, {"stage": "Prospecting", "stage_confirmed": ""})
    assert response.status_code == 200
    assert "Tick this to confirm" in _field_block(response.content.decode(), "stage_confirmed")
    assert _config(integration).stage == "Negotiation/Review"

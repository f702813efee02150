"""The operator admin: integrations with their rules, config checked; sync records read-only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import User
from integrations.admin import IntegrationForm
from integrations.connections.models import Connection
from integrations.core.config import SyncConfig
from integrations.core.models import ConfigChange, Integration, IntegrationPause
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun
from tests.admin_login import admin_client
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

SECRET = "access-token-that-must-never-show"


@pytest.fixture
def staff() -> Client:
    user = User.objects.create_superuser("operator@example.com", "a-long-password-42")
    return admin_client(user, "a-long-password-42")


@pytest.fixture
def integration() -> Integration:
    account = AccountFactory.create()
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id="tenant-1",
        display_name="Demo Widgets Ltd",
        credentials={"access_token": SECRET, "refresh_token": SECRET},
    )
    integration = Integration.objects.create(
        account=account, name="Main", xero_connection=xero, config={"invoice_status": "DRAFT"}
    )
    ledger = LedgerEntry.objects.create(
        integration=integration, salesforce_id="006000000000001AAA", opportunity_name="Big Deal"
    )
    run = SyncRun.objects.create(integration=integration)
    SyncLogEntry.objects.create(
        run=run, integration=integration, ledger=ledger, outcome="created", message="Invoice 1"
    )
    return integration


def url(model: str, action: str, *args: Any) -> str:
    return reverse(f"admin:integrations_{model}_{action}", args=args)


def test_pages_load_for_a_superuser(staff: Client, integration: Integration) -> None:
    ledger = LedgerEntry.objects.get()
    run = SyncRun.objects.get()
    entry = SyncLogEntry.objects.get()
    pages = [
        url("integration", "changelist"),
        url("integration", "add"),
        url("integration", "change", integration.pk),
        url("ledgerentry", "changelist"),
        url("ledgerentry", "change", ledger.pk),
        url("syncrun", "changelist"),
        url("syncrun", "change", run.pk),
        url("synclogentry", "changelist"),
        url("synclogentry", "change", entry.pk),
    ]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        assert SECRET not in response.content.decode(), page


def test_sync_records_cannot_be_added_changed_or_deleted(
    staff: Client, integration: Integration
) -> None:
    ledger = LedgerEntry.objects.get()
    for model in ("ledgerentry", "syncrun", "synclogentry"):
        assert staff.get(url(model, "add")).status_code == 403
    assert staff.post(url("ledgerentry", "delete", ledger.pk), {"post": "yes"}).status_code == 403
    response = staff.post(url("ledgerentry", "change", ledger.pk), {"state": "synced"})
    assert response.status_code == 403
    ledger.refresh_from_db()
    assert ledger.state == LedgerEntry.State.PENDING


def test_connections_and_their_credentials_are_not_in_the_admin(
    staff: Client, integration: Integration
) -> None:
    with pytest.raises(NoReverseMatch):
        url("connection", "changelist")
    page = staff.get(url("integration", "change", integration.pk)).content.decode()
    assert "xero: Demo Widgets Ltd" in page  # shown read-only, by name
    assert SECRET not in page


def test_people_without_staff_rights_get_the_login_page(integration: Integration) -> None:
    user = User.objects.create_user("member@example.com", "a-long-password-42")
    client = Client()
    client.force_login(user)
    response = client.get(url("integration", "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- the integration form with its rule inlines ------------------------------------------

INLINE_FIELDS = {
    "payment_methods": (
        "name",
        "create_invoice",
        "apply_payment",
        "bank_account_code",
        "currency_accounts",
        "clearing_delay_days",
        "invoice_status",
        "payment_terms_days",
    ),
    "tax_rules": ("country", "region", "tax_type"),
    "tracking_rules": (
        "category_name",
        "source",
        "fixed_option",
        "field",
        "mapping",
        "create_missing_options",
    ),
}
ROW_DEFAULTS = {
    "payment_methods": {
        "create_invoice": "on",
        "currency_accounts": "{}",
        "clearing_delay_days": "0",
    },
    "tax_rules": {},
    "tracking_rules": {"source": "fixed", "mapping": "{}"},
}


def form_data(
    integration: Integration, *, config: Any = None, **rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The change form's POST: the integration's fields and each inline's rows."""
    data: dict[str, Any] = {
        "account": str(integration.account_id),
        "name": integration.name,
        "pauses-TOTAL_FORMS": "0",
        "pauses-INITIAL_FORMS": "0",
        "config": json.dumps(integration.config if config is None else config),
        "created_by": "",
    }
    for prefix, fields in INLINE_FIELDS.items():
        given = rows.get(prefix, [])
        existing = [r for r in given if r.get("id")]
        data[f"{prefix}-TOTAL_FORMS"] = str(len(given))
        data[f"{prefix}-INITIAL_FORMS"] = str(len(existing))
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
        for i, row in enumerate(given):
            values = {**ROW_DEFAULTS[prefix], **row}
            for field in (*fields, "id", "DELETE"):
                if field in values and values[field] is not None:
                    data[f"{prefix}-{i}-{field}"] = values[field]
            data[f"{prefix}-{i}-integration"] = str(integration.pk)
    return data


def save(staff: Client, integration: Integration, **kwargs: Any) -> Any:
    return staff.post(
        url("integration", "change", integration.pk), form_data(integration, **kwargs)
    )


def test_a_bad_configuration_is_shown_at_its_field(staff: Client, integration: Integration) -> None:
    response = save(staff, integration, config={"tax_mode": "guess"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["config"] == [
        "tax_mode: must be one of xero_default, single, rules, field, not 'guess'."
    ]
    integration.refresh_from_db()
    assert integration.config == {"invoice_status": "DRAFT"}


def test_an_emptied_configuration_means_the_defaults(
    staff: Client, integration: Integration
) -> None:
    data = form_data(integration)
    data["config"] = ""
    response = staff.post(url("integration", "change", integration.pk), data)
    assert response.status_code == 302
    integration.refresh_from_db()
    assert SyncConfig.from_json(integration.config) == SyncConfig()


def test_saving_rules_normalises_them(staff: Client, integration: Integration) -> None:
    response = save(
        staff,
        integration,
        config={"invoice_status": "AUTHORISED", "tax_mode": "rules"},
        payment_methods=[
            {
                "name": " Credit card ",
                "apply_payment": "on",
                "bank_account_code": "090",
                "currency_accounts": '{"eur": "091"}',
                "clearing_delay_days": "2",
            }
        ],
        tax_rules=[{"country": "Canada", "region": "Ontario", "tax_type": "TAX002"}],
        tracking_rules=[
            {
                "category_name": "Region",
                "source": "field",
                "field": "Account.Region__c",
                "mapping": '{"NE": "North"}',
            }
        ],
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    method = PaymentMethod.objects.get(integration=integration)
    assert (method.name, method.currency_accounts) == ("Credit card", {"EUR": "091"})
    rule = TaxRule.objects.get(integration=integration)
    assert (rule.country, rule.region) == ("CA", "ON")
    assert TrackingRule.objects.get(integration=integration).field == "Account.Region__c"


def test_a_payment_method_checks_the_configuration_being_saved(
    staff: Client, integration: Integration
) -> None:
    """The inline sees the status submitted in the same form, not the stored one."""
    card = {"name": "Card", "apply_payment": "on", "bank_account_code": "090"}
    response = save(staff, integration, payment_methods=[card])
    assert response.status_code == 200
    assert "only on approved invoices" in response.content.decode()
    response = save(
        staff, integration, config={"invoice_status": "AUTHORISED"}, payment_methods=[card]
    )
    assert response.status_code == 302


def _formset_errors(response: Any) -> list[str]:
    return [str(e) for formset in response.context["inline_admin_formsets"] for e in
            formset.formset.non_form_errors()]  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            {"payment_methods": [{"name": "Card"}, {"name": " CARD"}]},
            "Two payment methods have the same name: keep one.",
        ),
        (
            {
                "tax_rules": [
                    {"country": "Canada", "region": "ON", "tax_type": "A"},
                    {"country": "CA", "region": "Ontario", "tax_type": "B"},
                ]
            },
            "Two tax rules are for the same country and region: keep one.",
        ),
        (
            {
                "tracking_rules": [
                    {"category_name": "Region", "fixed_option": "North"},
                    {"category_name": "region", "fixed_option": "South"},
                ]
            },
            "Two tracking rules are for the same category: keep one.",
        ),
        (
            {
                "tracking_rules": [
                    {"category_name": "Region", "fixed_option": "North"},
                    {"category_name": "Channel", "fixed_option": "Web"},
                    {"category_name": "Rep", "fixed_option": "Jo"},
                ]
            },
            "Xero has at most 2 active tracking categories, so an integration has at most 2 "
            "tracking rules.",
        ),
    ],
)
def test_rows_that_clash_are_refused_before_saving(
    staff: Client, integration: Integration, rows: dict[str, Any], message: str
) -> None:
    response = save(staff, integration, **rows)
    assert response.status_code == 200
    assert message in _formset_errors(response)
    assert not PaymentMethod.objects.exists()
    assert not TaxRule.objects.exists()
    assert not TrackingRule.objects.exists()


def test_a_tracking_rule_can_be_replaced_in_one_save(
    staff: Client, integration: Integration
) -> None:
    region = TrackingRule.objects.create(
        integration=integration, category_name="Region", fixed_option="North"
    )
    channel = TrackingRule.objects.create(
        integration=integration, category_name="Channel", fixed_option="Web"
    )
    response = save(
        staff,
        integration,
        tracking_rules=[
            {"id": str(region.pk), "category_name": "Region", "fixed_option": "North"},
            {"id": str(channel.pk), "category_name": "Channel", "fixed_option": "Web",
             "DELETE": "on"},
            {"category_name": "Sales Rep", "source": "field", "field": "Owner.Name"},
        ],
    )  # fmt: skip
    assert response.status_code == 302, _formset_errors(response)
    names = set(TrackingRule.objects.values_list("category_name", flat=True))
    assert names == {"Region", "Sales Rep"}


# --- every edit through the audited services -----------------------------------------------


def _history(integration: Integration) -> dict[str, tuple[str, str, str]]:
    return {
        c.what: (c.old, c.new, c.user.email if c.user else "")
        for c in ConfigChange.objects.filter(integration=integration)
    }


def test_configuration_and_switching_edited_here_are_in_the_history(
    staff: Client, integration: Integration
) -> None:
    data = form_data(integration, config={"invoice_status": "AUTHORISED"})
    data["is_enabled"] = "on"
    response = staff.post(url("integration", "change", integration.pk), data)
    assert response.status_code == 302
    history = _history(integration)
    assert history["config.invoice_status"] == ("DRAFT", "AUTHORISED", "operator@example.com")
    assert history["syncing"] == ("off", "on", "operator@example.com")
    integration.refresh_from_db()
    assert (integration.is_enabled, integration.config["invoice_status"]) == (True, "AUTHORISED")


def test_saving_the_page_never_writes_back_the_syncs_bookkeeping(
    staff: Client, integration: Integration
) -> None:
    """The sync writes its claim and fencing token on this row at any time: a save of the page
    must not write an old copy of them."""
    Integration.objects.filter(pk=integration.pk).update(sync_fence=41)
    original_clean = IntegrationForm.clean_config

    def clean_while_the_sync_claims(form: IntegrationForm) -> Any:
        # The page's copy of the row is loaded; the sync claims it now.
        Integration.objects.filter(pk=integration.pk).update(sync_fence=42)
        return original_clean(form)

    data = form_data(integration)
    data["name"] = "Renamed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IntegrationForm, "clean_config", clean_while_the_sync_claims)
        response = staff.post(url("integration", "change", integration.pk), data)
    assert response.status_code == 302
    integration.refresh_from_db()
    assert (integration.name, integration.sync_fence) == ("Renamed", 42)


def test_rule_rows_added_changed_and_deleted_here_are_in_the_history(
    staff: Client, integration: Integration
) -> None:
    kept = TaxRule.objects.create(integration=integration, country="US", tax_type="TAX001")
    gone = TaxRule.objects.create(integration=integration, country="GB", tax_type="TAX002")
    response = save(
        staff,
        integration,
        tax_rules=[
            {"id": str(kept.pk), "country": "US", "tax_type": "TAX009"},
            {"id": str(gone.pk), "country": "GB", "tax_type": "TAX002", "DELETE": "on"},
            {"country": "CA", "region": "ON", "tax_type": "TAX003"},
        ],
    )
    assert response.status_code == 302, _formset_errors(response)
    history = _history(integration)
    assert history["tax_rules:US.tax_type"] == ("TAX001", "TAX009", "operator@example.com")
    assert history["tax_rules:GB"][1] == "deleted"
    assert history["tax_rules:CA/ON"][1] == "created"


def test_a_pause_set_here_names_who_set_it_and_lifting_it_leaves_the_others(
    staff: Client, integration: Integration
) -> None:
    IntegrationPause.objects.create(integration=integration, cause="billing", message="Trial over")
    billing = IntegrationPause.objects.get()
    data = form_data(integration)
    data.update(
        {
            "pauses-TOTAL_FORMS": "2",
            "pauses-INITIAL_FORMS": "1",
            "pauses-0-id": str(billing.pk),
            "pauses-0-cause": "billing",
            "pauses-0-message": "Trial over",
            "pauses-0-integration": str(integration.pk),
            "pauses-1-cause": "person",
            "pauses-1-message": "Checking the tax rules with the accountant",
            "pauses-1-integration": str(integration.pk),
        }
    )
    response = staff.post(url("integration", "change", integration.pk), data)
    assert response.status_code == 302, response.context and _formset_errors(response)
    person = IntegrationPause.objects.get(cause="person")
    assert person.by is not None
    assert person.by.email == "operator@example.com"
    assert IntegrationPause.objects.filter(cause="billing").exists()


def test_re_authorisation_is_not_a_pause_set_by_hand(
    staff: Client, integration: Integration
) -> None:
    response = staff.get(url("integration", "change", integration.pk))
    choices = response.context["inline_admin_formsets"][0].formset.empty_form.fields["cause"]
    assert "reauthorisation" not in {value for value, _ in choices.choices}

"""The operator admin: integrations with their rules, config checked; sync records read-only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import User
from integrations.connections.models import Connection
from integrations.core.models import Integration
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
    assert integration.config == {}


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

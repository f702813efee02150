"""The configuration check as a service, against both simulators over HTTP: it stores what it
finds (which the alerts tell owners and admins once per episode), and knows nothing (changes
nothing) when a provider cannot be read."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from accounts.models import Role
from integrations import tasks
from integrations.connections.models import Connection, ProviderSettings
from integrations.core.behaviours import paused_behaviours
from integrations.core.config import SyncConfig
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_pause
from integrations.demo import configure_demo_rules
from integrations.setup.validation import integration_check_configuration
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import XeroOrganisation
from tests.alerts.told import evaluate_and_send
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(sandbox_url: str, settings: Any) -> Integration:
    """The demo integration (demo rules) wired to both simulators, with three members."""
    point_at_sandbox(settings, sandbox_url)
    settings.SITE_URL = "https://app.example"
    account = AccountFactory.create()
    for role, email in (
        (Role.OWNER, "owner@example.com"),
        (Role.ADMIN, "admin@example.com"),
        (Role.SUPPORT, "support@example.com"),
    ):
        MembershipFactory.create(account=account, role=role, user=UserFactory.create(email=email))
    integration = sandbox_integration(
        sandbox_url,
        account=account,
        is_enabled=True,
        config=SyncConfig(default_currency="USD").to_json(),
    )
    configure_demo_rules(integration_id=integration.pk)
    integration.refresh_from_db()
    return integration


def _set(integration: Integration, **config: Any) -> None:
    integration.config = {**integration.config, **config}
    integration.save(update_fields=["config"])


def _break_xero() -> None:
    XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG).update(
        faults={"error_every": 1, "error_status": 503}
    )


def test_the_demo_configuration_checks_clean(integration):
    assert integration_check_configuration(integration_id=integration.pk) == []
    integration.refresh_from_db()
    assert integration.config_problems == []
    assert integration.config_checked_at is not None
    evaluate_and_send(integration_id=integration.pk)
    assert mail.outbox == []
    # Both caches were filled: the panel opens without calling either provider.
    assert ProviderSettings.objects.filter(connection=integration.xero_connection).exists()
    assert ProviderSettings.objects.filter(connection=integration.salesforce_connection).exists()


def test_problems_are_stored_and_told_once_until_they_clear(integration):
    _set(integration, sales_account_code="299", stage="Closed - Paid")
    problems = integration_check_configuration(integration_id=integration.pk)
    assert {(p.field, p.behaviour) for p in problems} == {
        ("sales_account_code", "invoices"),
        ("sales_account_code", "credit_notes"),
        # A stage Salesforce does not have: nothing would ever be invoiced, an error.
        ("stage", "invoices"),
    }
    integration.refresh_from_db()
    assert [p["field"] for p in integration.config_problems] == [p.field for p in problems]
    assert paused_behaviours(integration) == {"invoices", "credit_notes"}

    evaluate_and_send(integration_id=integration.pk)
    (email,) = mail.outbox
    assert sorted(email.to) == ["admin@example.com", "owner@example.com"]
    assert "Check the settings of Main" in email.subject
    assert "Sales account 299 does not exist in Demo Widgets Ltd" in email.body
    assert "holds back: credit notes, invoices" in email.body
    account_slug = integration.account.slug
    assert f"https://app.example/a/{account_slug}/integrations/{integration.pk}/" in email.body

    # Still wrong: checked again, not told again.
    integration_check_configuration(integration_id=integration.pk, refresh=True)
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 1

    # Fixed: cleared, and the next episode is told again.
    _set(integration, sales_account_code="200", stage="")
    assert integration_check_configuration(integration_id=integration.pk) == []
    integration.refresh_from_db()
    assert integration.config_problems == []
    assert paused_behaviours(integration) == frozenset()
    evaluate_and_send(integration_id=integration.pk)
    assert "The settings of Main check out again" in mail.outbox[1].subject

    _set(integration, default_currency="JPY")
    (problem,) = integration_check_configuration(integration_id=integration.pk)
    assert (problem.field, problem.behaviour) == ("default_currency", "currencies")
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 3
    assert "JPY is not enabled" in mail.outbox[2].body


def test_a_change_made_in_xero_is_found_on_refresh(integration):
    """The check reads Xero afresh when asked: a rate deleted there is a problem here."""
    assert integration_check_configuration(integration_id=integration.pk) == []
    from sandbox.xero.models import TaxRate

    TaxRate.objects.filter(organisation__name=xero_seed.MAIN_ORG, tax_type="TAX003").update(
        status="DELETED"
    )
    assert integration_check_configuration(integration_id=integration.pk) == []  # cached
    (problem,) = integration_check_configuration(integration_id=integration.pk, refresh=True)
    assert (problem.field, problem.behaviour) == ("tax_rules:US/TX", "tax")
    assert "TAX003" in problem.message


def test_an_unreachable_xero_leaves_the_stored_problems(integration):
    _set(integration, sales_account_code="299")
    stored = [p.to_json() for p in integration_check_configuration(integration_id=integration.pk)]
    integration.refresh_from_db()
    checked_at = integration.config_checked_at
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 1

    # Fixed meanwhile, but Xero cannot be read and there is no copy to fall back on.
    _set(integration, sales_account_code="200")
    ProviderSettings.objects.all().delete()
    _break_xero()
    assert integration_check_configuration(integration_id=integration.pk, refresh=True) == []
    integration.refresh_from_db()
    assert integration.config_problems == stored
    assert integration.config_checked_at == checked_at
    evaluate_and_send(integration_id=integration.pk)
    assert len(mail.outbox) == 1  # not "fixed": nothing is known


def test_a_connection_needing_reauthorisation_is_not_a_configuration_problem(integration):
    Connection.objects.filter(pk=integration.salesforce_connection_id).update(
        status=Connection.Status.NEEDS_REAUTH
    )
    assert integration_check_configuration(integration_id=integration.pk) == []
    integration.refresh_from_db()
    assert integration.config_checked_at is None
    assert mail.outbox == []


def test_beat_checks_each_running_integration(integration, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.check_configuration_task, "delay", queued.append)
    paused = Integration.objects.create(
        account=integration.account,
        name="Paused",
        salesforce_connection=integration.salesforce_connection,
        xero_connection=integration.xero_connection,
        is_enabled=True,
    )
    integration_pause(
        integration_id=paused.pk, cause=PauseCause.BILLING, message="The free trial ended."
    )
    Integration.objects.create(account=integration.account, name="Unconnected", is_enabled=True)
    assert tasks.check_configurations() == 1
    assert queued == [integration.pk]
    assert paused.pk not in queued

    _set(integration, sales_account_code="299")
    assert tasks.check_configuration_task(integration.pk) == 2
    assert tasks.check_configuration_task(10**9) == 0  # deleted since

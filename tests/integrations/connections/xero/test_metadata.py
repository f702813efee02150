"""The cache of each Xero organisation's settings, read from the simulated Xero over HTTP."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.xero.client import XeroClient, XeroUnavailable
from integrations.connections.xero.metadata import (
    metadata_invalidate,
    metadata_note_currency,
    metadata_note_option,
    organisation_metadata,
)
from sandbox.xero import seed
from sandbox.xero import services as xero_sandbox
from sandbox.xero.models import TaxRate as SandboxTaxRate
from sandbox.xero.models import TrackingCategory as SandboxCategory
from sandbox.xero.models import XeroOrganisation
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

READS = {
    "get_organisations",
    "get_tax_rates",
    "get_currencies",
    "get_accounts",
    "get_tracking_categories",
    "get_branding_themes",
}


def _connection(org_name: str = seed.MAIN_ORG) -> Connection:
    issued = xero_sandbox.issue_token(org_name=org_name)
    return Connection.objects.create(
        account=AccountFactory.create(),
        provider="xero",
        external_id=issued["tenant_id"],
        display_name=org_name,
        credentials={
            "access_token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "expires_at": (timezone.now() + dt.timedelta(minutes=30)).isoformat(),
        },
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """(SDK method, keyword arguments) of every call the product makes to Xero."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = XeroClient.call

    def spy(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((method, kwargs))
        return original(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroClient, "call", spy)
    return seen


def _methods(calls: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    return Counter(method for method, _ in calls)


def _break_xero(org_name: str = seed.MAIN_ORG) -> None:
    org = XeroOrganisation.objects.get(name=org_name)
    org.faults = {"error_every": 1, "error_status": 503}
    org.save(update_fields=["faults"])


def _region(org_name: str = seed.MAIN_ORG) -> SandboxCategory:
    return SandboxCategory.objects.get(organisation__name=org_name, name="Region")


def test_the_us_demo_organisation_as_read_from_xero(xero, calls):
    """One read of six calls; effective tax rates are Xero's, compound components included."""
    metadata = organisation_metadata(_connection())
    assert _methods(calls) == Counter(READS)
    assert (metadata.name, metadata.country_code, metadata.base_currency) == (
        seed.MAIN_ORG,
        "US",
        "USD",
    )
    rates = metadata.tax_rate_percentages()
    assert rates["TAX001"] == Decimal("7.25")  # California: 6 + 0.25 + 1
    assert rates["TAX002"] == Decimal("8.875")
    assert rates["TAX003"] == Decimal("8.25")
    assert rates["NONE"] == 0
    assert metadata.tax_rates["TAX001"].usable_for_sales
    assert not metadata.tax_rates["INPUT"].usable_for_sales
    assert metadata.currencies == {"USD", "GBP", "EUR", "AUD", "CAD", "NZD"}
    bank = metadata.account_by_code("090")
    assert bank is not None
    assert (bank.type, bank.currency_code, bank.accepts_payments) == ("BANK", "USD", True)
    clearing = metadata.account_by_code("615")
    assert clearing is not None
    assert clearing.accepts_payments
    assert clearing.type == "CURRENT"
    sales = metadata.account_by_code("200")
    assert sales is not None
    assert not sales.accepts_payments
    assert set(metadata.tracking_categories) == {"Region", "Sales Rep"}
    north = metadata.tracking_categories["Region"].option("north")
    assert north is not None
    assert north.name == "North"
    assert sorted(metadata.branding_themes.values()) == ["Special Projects", "Standard"]


def test_canadian_rates_and_a_compound_one_come_back_as_xero_computes_them(xero):
    """Two-component rates add up; a compound component is charged on the GST too, and the
    product takes Xero's EffectiveRate rather than adding components itself."""
    canada = XeroOrganisation.objects.get(name="Demo Canada Inc")
    SandboxTaxRate.objects.create(
        organisation=canada,
        updated_at=timezone.now(),
        name="GST + QST 2012 (compound)",
        tax_type="TAX009",
        can_apply_to_expenses=False,
        components=[
            {"Name": "GST", "Rate": "5", "IsCompound": False, "IsNonRecoverable": False},
            {"Name": "QST", "Rate": "9.5", "IsCompound": True, "IsNonRecoverable": False},
        ],
    )
    metadata = organisation_metadata(_connection("Demo Canada Inc"))
    assert metadata.base_currency == "CAD"
    rates = metadata.tax_rate_percentages()
    assert rates["TAX003"] == Decimal("14.975")  # GST 5 + QST 9.975, both simple
    assert rates["TAX001"] == Decimal("12")
    assert rates["TAX009"] == Decimal("14.975")  # 5 + 9.5 x 1.05


def test_a_cache_hit_makes_no_call(xero, calls):
    connection = _connection()
    first = organisation_metadata(connection)
    calls.clear()
    again = organisation_metadata(connection)
    assert calls == []
    assert again == first
    stored = ProviderSettings.objects.get(connection=connection)
    assert stored.fetched_at is not None
    assert stored.last_error == ""


def test_an_expired_copy_is_read_again(xero, calls, settings):
    settings.XERO_METADATA_MAX_AGE = 60
    connection = _connection()
    organisation_metadata(connection)
    ProviderSettings.objects.filter(connection=connection).update(
        fetched_at=timezone.now() - dt.timedelta(seconds=61)
    )
    # Changed in Xero meanwhile: the re-read sees it.
    SandboxCategory.objects.filter(organisation__name=seed.MAIN_ORG, name="Sales Rep").update(
        status="ARCHIVED"
    )
    calls.clear()
    metadata = organisation_metadata(connection)
    assert _methods(calls) == Counter(READS)
    assert set(metadata.tracking_categories) == {"Region"}  # ACTIVE categories only
    calls.clear()
    organisation_metadata(connection, max_age=0)
    assert _methods(calls) == Counter(READS)


def test_refresh_and_invalidate_read_again(xero, calls):
    connection = _connection()
    organisation_metadata(connection)
    calls.clear()
    organisation_metadata(connection, refresh=True)
    assert _methods(calls) == Counter(READS)
    metadata_invalidate(connection)
    assert ProviderSettings.objects.get(connection=connection).data  # kept as a fallback
    calls.clear()
    organisation_metadata(connection)
    assert _methods(calls) == Counter(READS)


def test_a_failed_read_keeps_the_cached_copy_and_records_why(xero, caplog):
    connection = _connection()
    good = organisation_metadata(connection)
    fetched_at = ProviderSettings.objects.get(connection=connection).fetched_at
    _break_xero()
    with caplog.at_level(logging.WARNING, logger="integrations.connections.xero.metadata"):
        metadata = organisation_metadata(connection, refresh=True)
    assert metadata == good
    stored = ProviderSettings.objects.get(connection=connection)
    assert "503" in stored.last_error
    assert stored.last_error_at is not None
    assert stored.fetched_at == fetched_at  # still as old as it was
    assert any("refresh failed" in r.getMessage() for r in caplog.records)
    # Xero is back: the next read clears the error.
    XeroOrganisation.objects.filter(name=seed.MAIN_ORG).update(faults={})
    organisation_metadata(connection, refresh=True)
    assert ProviderSettings.objects.get(connection=connection).last_error == ""


def test_a_failed_read_without_a_copy_raises_the_clients_error(xero):
    connection = _connection()
    _break_xero()
    with pytest.raises(XeroUnavailable):
        organisation_metadata(connection)
    assert not ProviderSettings.objects.filter(connection=connection).exists()


def test_only_xero_connections(xero):
    salesforce = Connection.objects.create(
        account=AccountFactory.create(), provider="salesforce", external_id="00D", display_name="x"
    )
    with pytest.raises(ValueError, match="salesforce"):
        organisation_metadata(salesforce)


def test_a_currency_enabled_elsewhere_is_noted_in_the_copy_without_a_read(xero, calls):
    """The sync enables currencies through its write protocol and notes them here."""
    connection = _connection()
    organisation_metadata(connection)
    fetched_at = ProviderSettings.objects.get(connection=connection).fetched_at
    calls.clear()
    metadata_note_currency(connection, "JPY")
    metadata_note_currency(connection, "JPY")
    assert calls == []
    assert sorted(organisation_metadata(connection).currencies).count("JPY") == 1
    assert ProviderSettings.objects.get(connection=connection).fetched_at == fetched_at


def test_a_tracking_option_created_elsewhere_is_noted_in_the_copy(xero, calls):
    connection = _connection()
    organisation_metadata(connection)
    region = _region()
    category_id = str(region.tracking_category_id)
    option_id = str(uuid.uuid4())
    calls.clear()
    for _ in range(2):
        metadata_note_option(connection, category_id, option_id=option_id, name="Islands")
    cached = organisation_metadata(connection).tracking_categories["Region"]
    option = cached.option("islands")
    assert option is not None
    assert option.option_id == option_id
    assert sum(1 for o in cached.options.values() if o.option_id == option_id) == 1
    assert calls == []

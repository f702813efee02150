"""The cache of each Salesforce org's Opportunity and Account fields, read from the simulated
Salesforce over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.salesforce.client import SalesforceApiError, SalesforceClient
from integrations.connections.salesforce.metadata import (
    _object,
    is_won_stage,
    salesforce_metadata,
    salesforce_metadata_invalidate,
)
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.describe import PAYMENT_METHODS, STAGE_NAMES
from sandbox.salesforce.models import SalesforceOrg
from tests.factories import AccountFactory
from tests.sandbox.salesforce.conftest import make_org

pytestmark = pytest.mark.django_db(transaction=True)


def _connection(org: SalesforceOrg, login_url: str) -> Connection:
    issued = sf_sandbox.issue_token(org_name=org.name)
    return Connection.objects.create(
        account=AccountFactory.create(),
        provider="salesforce",
        external_id=org.org_id,
        display_name=org.name,
        credentials={
            "access_token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "instance_url": issued["instance_url"],
            "login_url": login_url,
            "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
        },
    )


@pytest.fixture
def conn(sf_org: SalesforceOrg, sf_site: str) -> Connection:
    return _connection(sf_org, sf_site)


@pytest.fixture
def describes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sObjects the product describes, in order."""
    seen: list[str] = []
    original = SalesforceClient.describe

    def spy(self: SalesforceClient, sobject: str) -> dict[str, Any]:
        seen.append(sobject)
        return original(self, sobject)

    monkeypatch.setattr(SalesforceClient, "describe", spy)
    return seen


def _break(org: SalesforceOrg) -> None:
    SalesforceOrg.objects.filter(pk=org.pk).update(faults={"error_every": 1, "error_status": 503})


def test_a_multi_currency_org_as_described(conn, describes):
    """Two describes; custom picklists with their values; stages with the won one flagged."""
    metadata = salesforce_metadata(conn)
    assert describes == ["Opportunity", "Account"]
    assert metadata.multi_currency
    method = metadata.opportunity.field("Payment_Method__c")
    assert method is not None
    assert (method.type, method.custom, method.is_picklist) == ("picklist", True, True)
    assert method.picklist_values == PAYMENT_METHODS
    assert metadata.resolve("Account.Region__c") is not None
    assert metadata.resolve("Account.NoSuch__c") is None
    assert [s.name for s in metadata.stages] == list(STAGE_NAMES)
    # Read from OpportunityStage, not guessed from the names.
    assert [s.name for s in metadata.stages if s.won] == ["Closed Won"]
    assert [s.name for s in metadata.stages if s.lost] == ["Closed Lost"]
    assert not any(s.closed for s in metadata.stages if s.name == "Negotiation/Review")
    stored = ProviderSettings.objects.get(connection=conn)
    assert stored.fetched_at is not None
    assert stored.last_error == ""


def test_a_cache_hit_makes_no_call(conn, describes):
    first = salesforce_metadata(conn)
    describes.clear()
    assert salesforce_metadata(conn) == first
    assert describes == []


def test_refresh_and_invalidate_read_again(conn, describes):
    salesforce_metadata(conn)
    describes.clear()
    salesforce_metadata(conn, refresh=True)
    assert describes == ["Opportunity", "Account"]
    describes.clear()
    salesforce_metadata_invalidate(conn)
    salesforce_metadata(conn)
    assert len(describes) == 2
    describes.clear()
    # An old copy is read again too.
    salesforce_metadata(conn, max_age=0)
    assert len(describes) == 2


def test_a_failed_read_keeps_the_copy_and_says_why(conn, sf_org):
    good = salesforce_metadata(conn)
    fetched = ProviderSettings.objects.get(connection=conn).fetched_at
    _break(sf_org)
    assert salesforce_metadata(conn, refresh=True) == good
    stored = ProviderSettings.objects.get(connection=conn)
    assert stored.fetched_at == fetched
    assert "503" in stored.last_error
    assert stored.last_error_at is not None


def test_a_failed_read_without_a_copy_raises(conn, sf_org):
    _break(sf_org)
    with pytest.raises(SalesforceApiError):
        salesforce_metadata(conn)
    assert not ProviderSettings.objects.filter(connection=conn).exists()


def test_a_single_currency_org_has_no_currency_field(sf_site):
    org = make_org(name="Single Co", multi_currency=False)
    metadata = salesforce_metadata(_connection(org, sf_site))
    assert not metadata.multi_currency
    assert metadata.opportunity.field("CurrencyIsoCode") is None


def test_a_xero_connection_is_refused(db):
    xero = Connection.objects.create(
        account=AccountFactory.create(), provider="xero", external_id="t", credentials={}
    )
    with pytest.raises(ValueError, match="xero connection"):
        salesforce_metadata(xero)


def test_only_active_picklist_values_are_kept():
    """Inactive values cannot be chosen in Salesforce any more, so they are not offered."""
    described = {
        "name": "Opportunity",
        "fields": [
            {
                "name": "Payment_Method__c",
                "label": "Payment Method",
                "type": "picklist",
                "custom": True,
                "picklistValues": [
                    {"value": "Card", "active": True},
                    {"value": "Cheque", "active": False},
                    {"value": "Cash", "active": True},
                ],
            }
        ],
    }
    info = _object(described, "Opportunity").field("Payment_Method__c")
    assert info is not None
    assert info.picklist_values == ("Card", "Cash")


def test_won_stages_are_guessed_from_their_names():
    assert is_won_stage("Closed Won")
    assert is_won_stage("Won - awaiting payment")
    assert not is_won_stage("Closed Lost")
    assert not is_won_stage("Wonderful")

"""getUpdated / getDeleted, and SystemModstamp moving on every change an opportunity sees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import F
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import services
from sandbox.salesforce.models import Opportunity
from tests.sandbox.salesforce.conftest import error_body, make_opportunity, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def _stamp(opportunity: Opportunity) -> dt.datetime:
    opportunity.refresh_from_db()
    return opportunity.system_modstamp


def test_system_modstamp_moves_on_every_child_change(org):
    product = make_product(org, "WIDGET-M", "34.50")
    contact = services.contact_create(org=org, last_name="Ito")
    opp = make_opportunity(org, None, "Deal", stage="Prospecting")
    before = _stamp(opp)
    item = services.line_item_add(opportunity=opp, product=product, quantity=Decimal(2))
    after_add = _stamp(opp)
    assert after_add > before
    assert opp.amount == Decimal("69.00")
    services.line_item_update(line_item=item, quantity=Decimal(3))
    after_update = _stamp(opp)
    assert after_update > after_add
    assert opp.amount == Decimal("103.50")
    services.contact_role_add(opportunity=opp, contact=contact, is_primary=True)
    after_role = _stamp(opp)
    assert after_role > after_update
    services.line_item_delete(line_item=item)
    assert _stamp(opp) > after_role
    services.opportunity_set_stage(opportunity=opp, stage_name="Closed Won")
    opp.refresh_from_db()
    assert (opp.is_won, opp.is_closed, opp.probability) == (True, True, Decimal(100))


def _backdate(minutes: int = 2) -> None:
    """Salesforce covers whole minutes only: move this minute's changes into a covered one."""
    delta = dt.timedelta(minutes=minutes)
    Opportunity.objects.update(system_modstamp=F("system_modstamp") - delta)
    Opportunity.objects.filter(deleted_date__isnull=False).update(
        deleted_date=F("deleted_date") - delta
    )


def test_updated_and_deleted_through_the_sdk(sf, org):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    kept = make_opportunity(org, None, "Kept")
    gone = make_opportunity(org, None, "Gone")
    services.opportunity_delete(opportunity=gone)
    _backdate()
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    assert sf.Opportunity.updated(start, end)["ids"] == [kept.sf_id]
    late = make_opportunity(org, None, "This minute: not covered yet")

    updated = sf.Opportunity.updated(start, end)
    assert updated["ids"] == [kept.sf_id]
    assert updated["latestDateCovered"].endswith(":00.000+0000")

    deleted = sf.Opportunity.deleted(start, end)
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone.sf_id]
    assert deleted["deletedRecords"][0]["deletedDate"].endswith("+0000")
    assert "earliestDateAvailable" in deleted
    assert "latestDateCovered" in deleted

    services.opportunity_undelete(opportunity=gone)
    _backdate(1)
    ids = set(sf.Opportunity.updated(start, end)["ids"])
    assert ids == {kept.sf_id, gone.sf_id, late.sf_id}
    assert sf.Opportunity.deleted(start, end)["deletedRecords"] == []


def test_replication_windows_are_enforced(sf):
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.updated(now - dt.timedelta(days=31), now)
    assert error_body(info.value)[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.deleted(now - dt.timedelta(days=16), now)
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.updated(now, now - dt.timedelta(days=1))

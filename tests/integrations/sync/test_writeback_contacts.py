"""A Xero CONTACT event makes the sync's remembered link to that contact stale
(``writeback.webhook_events_process``), whether or not write-back is on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync import writeback
from integrations.sync.models import ContactLink, XeroWebhookEvent
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

CONTACT = "7f1c7a3e-0000-4000-8000-00000000c0de"


def _link(tenant: str, *, verified: dt.datetime) -> ContactLink:
    account = AccountFactory.create()
    connection = Connection.objects.create(
        account=account, provider="xero", external_id=tenant, credentials={}
    )
    integration = Integration.objects.create(
        account=account, name="Main", xero_connection=connection
    )
    return ContactLink.objects.create(
        integration=integration,
        contact_number="001A",
        xero_contact_id=CONTACT,
        name="Acme",
        verified_at=verified,
    )


def _event(tenant: str, event_type: str, at: dt.datetime) -> XeroWebhookEvent:
    return XeroWebhookEvent.objects.create(
        key=f"{tenant}{event_type}{at.isoformat()}",
        tenant_id=tenant.upper(),
        resource_id=CONTACT.upper(),
        event_category="CONTACT",
        event_type=event_type,
        event_date=at,
    )


def test_a_contact_updated_after_it_was_seen_is_looked_up_again() -> None:
    now = timezone.now()
    ours = _link("tenant-a", verified=now - dt.timedelta(minutes=5))
    theirs = _link("tenant-b", verified=now - dt.timedelta(minutes=5))
    event = _event("tenant-a", "UPDATE", now)
    writeback.webhook_events_process(event_ids=[event.pk])
    assert not ContactLink.objects.filter(pk=ours.pk).exists()
    # Another organisation's link to the same id is not touched.
    assert ContactLink.objects.filter(pk=theirs.pk).exists()
    event.refresh_from_db()
    assert event.state == XeroWebhookEvent.State.IGNORED


@pytest.mark.parametrize(
    ("event_type", "seen_after"),
    [("CREATE", False), ("UPDATE", True)],
    ids=["a creation (ours)", "an update seen since"],
)
def test_other_contact_events_leave_the_link(event_type: str, seen_after: bool) -> None:
    now = timezone.now()
    link = _link("tenant-a", verified=now + dt.timedelta(seconds=1 if seen_after else -60))
    event = _event("tenant-a", event_type, now)
    writeback.webhook_events_process(event_ids=[event.pk])
    assert ContactLink.objects.filter(pk=link.pk).exists()

"""``steps.contacts``: a chunk's contacts matched (ContactNumber, then name, then email) before
any is created, the missing ones created in one batch, our ContactNumber claimed onto contacts
matched otherwise, name collisions handled as configured, and lost outcomes settled by number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from integrations.connections.salesforce.records import ContactPerson, Opportunity
from integrations.connections.xero.client import XeroRateLimited
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import ContactLink, LedgerEntry, XeroOperation
from integrations.sync.protocol import Stop
from integrations.sync.steps import contacts, invoices
from integrations.sync.steps.chunk import Work
from tests.integrations.rules.data import customer, opportunity
from tests.integrations.sync.steps.fakes import FakeXero, where_terms
from tests.integrations.sync.steps.rows import entries, sf_id, work

pytestmark = pytest.mark.django_db

Kind = XeroOperation.Kind
Op = XeroOperation.State
NUMBER = "001000000000001AAA"  # the rules' test customer's Account id


def _for(name: str = "Acme Corporation", *, account: str = NUMBER, email: str = "") -> Opportunity:
    person = ContactPerson("003000000000001AAA", "Wile", "Coyote", email) if email else None
    return opportunity(
        salesforce_id=sf_id(),
        customer=replace(customer(), salesforce_id=account, name=name),
        primary_contact=person,
    )


def _match(ctx: RunContext, *opportunities: Opportunity) -> list[Work]:
    items = [work(ctx, o) for o in opportunities]
    contacts.match(ctx, items)
    ctx.flush_logs()
    return items


def _ops(ctx: RunContext, kind: str) -> list[XeroOperation]:
    return list(XeroOperation.objects.filter(integration=ctx.integration, kind=kind))


def test_found_by_contact_number_nothing_is_written(ctx: RunContext, xero: FakeXero) -> None:
    found = xero.add_contact("Acme Corp (renamed in Xero)", number=NUMBER)
    (w,) = _match(ctx, _for())
    assert (w.contact_id, w.contact_name) == (found, "Acme Corp (renamed in Xero)")
    # One lookup for the chunk, by number, name and email together.
    (lookup,) = xero.calls_of("contacts_where")
    assert ("ContactNumber", NUMBER) in where_terms(lookup.args["where"])
    assert xero.sent("write_contacts") == []


def test_found_by_name_our_contact_number_is_claimed(ctx: RunContext, xero: FakeXero) -> None:
    found = xero.add_contact("ACME corporation")
    (w,) = _match(ctx, _for())
    assert w.contact_id == found
    (claim,) = xero.calls_of("write_contacts")
    assert claim.args["create"] is False
    assert claim.bodies == [{"ContactID": found, "ContactNumber": NUMBER}]
    assert [op.state for op in _ops(ctx, Kind.CONTACT_NUMBER)] == [Op.DONE]
    assert xero.contacts[found]["ContactNumber"] == NUMBER


def test_found_by_email_when_no_name_matches(ctx: RunContext, xero: FakeXero) -> None:
    found = xero.add_contact("Acme Billing Dept", email="wile@acme.test")
    (w,) = _match(ctx, _for(email="WILE@acme.test"))
    assert w.contact_id == found
    assert xero.sent("write_contacts") == [{"ContactID": found, "ContactNumber": NUMBER}]


def test_an_email_of_another_records_contact_is_not_used(ctx: RunContext, xero: FakeXero) -> None:
    other = xero.add_contact("Roadrunner Inc", number="001OTHER", email="wile@acme.test")
    (w,) = _match(ctx, _for(email="wile@acme.test"))
    (created,) = xero.sent("write_contacts")
    assert (created["Name"], created["ContactNumber"]) == ("Acme Corporation", NUMBER)
    assert w.contact_id
    assert w.contact_id != other


def test_archived_contacts_are_never_used(ctx: RunContext, xero: FakeXero) -> None:
    xero.add_contact("Acme Corporation", number=NUMBER, status="ARCHIVED")
    (w,) = _match(ctx, _for())
    (created,) = xero.sent("write_contacts")
    assert created["Name"] == "Acme Corporation"
    assert xero.contacts[w.contact_id]["ContactStatus"] == "ACTIVE"


def test_missing_contacts_are_created_in_one_batch(ctx: RunContext, xero: FakeXero) -> None:
    works = _match(
        ctx,
        _for("Acme Corporation", account="001A00000000000001"),
        _for("Globex Ltd", account="001A00000000000002"),
        # The same Account twice in the chunk: one contact.
        _for("Globex Ltd", account="001A00000000000002"),
        _for('Widgets 24" Rack', account="001A00000000000003"),
    )
    (create,) = xero.calls_of("write_contacts")
    assert create.args["create"] is True
    assert [(b["Name"], b["ContactNumber"]) for b in create.bodies] == [
        ("Acme Corporation", "001A00000000000001"),
        ("Globex Ltd", "001A00000000000002"),
        ('Widgets 24" Rack', "001A00000000000003"),
    ]
    assert all(w.contact_id for w in works)
    assert works[1].contact_id == works[2].contact_id
    assert {op.state for op in _ops(ctx, Kind.CONTACT)} == {Op.DONE}
    # Known for the rest of the run: the next chunk asks Xero nothing.
    calls = len(xero.log)
    _match(ctx, _for("Globex Ltd", account="001A00000000000002"))
    assert len(xero.log) == calls


def test_a_namesake_of_another_record_gets_a_suffixed_contact(
    ctx: RunContext, xero: FakeXero
) -> None:
    other = xero.add_contact("Acme Corporation", number="001OTHER")
    (w,) = _match(ctx, _for())
    (created,) = xero.sent("write_contacts")
    assert created["Name"] == f"Acme Corporation ({NUMBER})"
    assert w.contact_id != other
    (warning,) = entries(ctx)
    assert warning.outcome == "warning"
    assert "ContactNumber 001OTHER" in warning.message


def test_a_namesake_of_another_record_is_linked_when_configured(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, contact_name_collision="link")
    other = xero.add_contact("Acme Corporation", number="001OTHER")
    (w,) = _match(ctx, _for())
    assert w.contact_id == other
    assert xero.sent("write_contacts") == []
    (warning,) = entries(ctx)
    assert "the invoice is addressed to it, as configured" in warning.message


def test_a_refused_contact_fails_its_invoices_with_xeros_words(
    ctx: RunContext, xero: FakeXero
) -> None:
    xero.refuse("write_contacts", "Email address must be valid.")
    (w,) = _match(ctx, _for())
    assert w.contact_id == ""
    assert w.problem == "Xero refused the contact 'Acme Corporation': Email address must be valid."
    assert [op.state for op in _ops(ctx, Kind.CONTACT)] == [Op.FAILED]


def test_a_rate_limit_stops_and_the_same_contacts_go_again_under_the_same_key(
    ctx: RunContext, xero: FakeXero
) -> None:
    xero.fail_next("write_contacts", XeroRateLimited("limit", retry_after=30, problem="minute"))
    with pytest.raises(Stop):
        _match(ctx, _for())
    assert [op.state for op in _ops(ctx, Kind.CONTACT)] == [Op.WAITING]
    (waiting,) = entries(ctx)
    assert (waiting.outcome, waiting.step) == ("waiting", "contact")
    (w,) = _match(ctx, _for())
    first, second = xero.calls_of("write_contacts")
    assert first.key == second.key
    assert w.contact_id


def test_a_lost_creation_is_settled_by_its_number(ctx: RunContext, xero: FakeXero) -> None:
    xero.short_next("write_contacts", keep=0)
    _match(ctx, _for())
    (op,) = _ops(ctx, Kind.CONTACT)
    assert op.state == Op.UNKNOWN
    created = next(iter(xero.contacts))
    # The next run: found by ContactNumber, never created twice.
    ctx.contacts.clear()
    protocol.settle(ctx)
    op.refresh_from_db()
    assert (op.state, op.result_id) == (Op.DONE, created)
    assert ctx.contacts[NUMBER][0] == created
    assert len(xero.sent("write_contacts")) == 1


def test_a_waiting_creation_not_found_is_cancelled_and_planned_again(
    ctx: RunContext, xero: FakeXero
) -> None:
    xero.fail_next("write_contacts", XeroRateLimited("limit", retry_after=1, problem="minute"))
    with pytest.raises(Stop):
        _match(ctx, _for())
    protocol.settle(ctx)
    assert [op.state for op in _ops(ctx, Kind.CONTACT)] == [Op.CANCELLED]


def test_a_lost_contact_answer_leaves_the_invoice_waiting(ctx: RunContext, xero: FakeXero) -> None:
    xero.short_next("write_contacts", keep=0)
    (w,) = _match(ctx, _for())
    invoices.send(ctx, [w])
    row = LedgerEntry.objects.get(pk=w.ledger.pk)
    assert row.state in (LedgerEntry.State.PENDING, LedgerEntry.State.SYNCED), row.last_error


# --- links remembered across runs --------------------------------------------------------------


def _next_run(ctx: RunContext, xero: FakeXero) -> None:
    """What a new run starts with: no contacts in memory, no calls made."""
    ctx.contacts.clear()
    xero.log.clear()


def test_a_contact_found_once_is_used_by_later_runs_without_a_lookup(
    ctx: RunContext, xero: FakeXero
) -> None:
    found = xero.add_contact("Acme Corporation", number=NUMBER)
    _match(ctx, _for())
    _next_run(ctx, xero)
    (w,) = _match(ctx, _for())
    assert (w.contact_id, w.contact_name) == (found, "Acme Corporation")
    assert xero.calls_of("contacts_where") == []


def test_a_created_contact_is_remembered_too(ctx: RunContext, xero: FakeXero) -> None:
    (first,) = _match(ctx, _for())
    _next_run(ctx, xero)
    (again,) = _match(ctx, _for())
    assert again.contact_id == first.contact_id
    assert xero.log == []


def test_a_stale_link_is_looked_up_again(ctx: RunContext, xero: FakeXero) -> None:
    xero.add_contact("Acme Corporation", number=NUMBER)
    _match(ctx, _for())
    ContactLink.objects.update(verified_at=timezone.now() - dt.timedelta(hours=2))
    _next_run(ctx, xero)
    _match(ctx, _for())
    assert len(xero.calls_of("contacts_where")) == 1
    # Verified again now.
    assert ContactLink.objects.get().verified_at > timezone.now() - dt.timedelta(minutes=1)


def test_forgetting_a_contact_makes_the_next_run_look_it_up(
    ctx: RunContext, xero: FakeXero
) -> None:
    found = xero.add_contact("Acme Corporation", number=NUMBER)
    _match(ctx, _for())
    # Changed in Xero before this moment (a CONTACT event, a refused invoice).
    assert contacts.forget(
        integration_id=ctx.integration.pk, contact_ids=[found.upper()], before=timezone.now()
    )
    _next_run(ctx, xero)
    _match(ctx, _for())
    assert len(xero.calls_of("contacts_where")) == 1


def test_links_are_off_with_a_ttl_of_zero(ctx: RunContext, xero: FakeXero, settings: Any) -> None:
    settings.XERO_LOOKUP_TTL = 0
    xero.add_contact("Acme Corporation", number=NUMBER)
    _match(ctx, _for())
    assert not ContactLink.objects.exists()

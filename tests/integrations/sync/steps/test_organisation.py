"""``steps.organisation``: currencies enabled and tracking options created before a chunk's
invoices use them, once per chunk, noted in the cached organisation settings; a refusal is each
needing invoice's problem, and a lost outcome is settled by looking it up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from integrations.connections.models import ProviderSettings
from integrations.connections.salesforce.records import Opportunity
from integrations.rules.specs import RuleSet, TrackingRuleSpec
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import LedgerEntry, XeroOperation
from integrations.sync.steps import invoices, organisation
from integrations.sync.steps.chunk import Work
from tests.integrations.rules.data import opportunity
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, sf_id, work

pytestmark = pytest.mark.django_db

Kind = XeroOperation.Kind
Op = XeroOperation.State
MARS = TrackingRuleSpec("Region", "fixed", "Mars", create_missing_options=True)


@pytest.fixture(autouse=True)
def _missing_allowed(ctx: RunContext, xero: FakeXero) -> None:
    ctx.config = replace(ctx.config, enable_missing_currencies=True)
    # What Xero holds matches the organisation's cached settings (``US_METADATA``).
    xero.currency_codes |= set(ctx.metadata.currencies)
    for info in ctx.metadata.tracking_categories.values():
        xero.add_category(info.category_id, info.name, *info.options)


def _in(currency: str) -> Opportunity:
    return opportunity(salesforce_id=sf_id(), currency=currency)


def _prepare(ctx: RunContext, *opportunities: Opportunity) -> list[Work]:
    works = [work(ctx, o) for o in opportunities]
    organisation.prepare(ctx, works)
    ctx.flush_logs()
    return works


def _cached(ctx: RunContext) -> dict[str, object]:
    data = ProviderSettings.objects.get(connection=ctx.integration.xero_connection).data
    assert isinstance(data, dict)
    return data


def test_a_missing_currency_is_enabled_once_for_the_chunk(ctx: RunContext, xero: FakeXero) -> None:
    works = _prepare(ctx, _in("JPY"), _in("JPY"), _in("EUR"), _in("USD"))
    (call,) = xero.calls_of("enable_currency")
    assert call.bodies == [{"Code": "JPY"}]
    assert [w.problem for w in works] == ["", "", "", ""]
    assert "JPY" in ctx.metadata.currencies
    cached = _cached(ctx)["currencies"]
    assert isinstance(cached, list)
    assert "JPY" in cached
    (entry,) = entries(ctx)
    assert (entry.outcome, entry.message) == ("updated", "Currency JPY enabled in Xero.")


def test_enabled_currencies_make_no_call(ctx: RunContext, xero: FakeXero) -> None:
    _prepare(ctx, _in("EUR"), _in("GBP"))
    assert xero.log == []


def test_a_currency_refused_because_it_is_there_already_is_as_good(
    ctx: RunContext, xero: FakeXero
) -> None:
    # Our copy of the settings was stale: Xero has it, and says so by refusing.
    xero.currency_codes.add("JPY")
    xero.refuse("enable_currency", "Currency JPY is already enabled.")
    (w,) = _prepare(ctx, _in("JPY"))
    assert w.problem == ""
    assert "JPY" in ctx.metadata.currencies


def test_a_currency_xero_refuses_is_each_invoices_problem(ctx: RunContext, xero: FakeXero) -> None:
    xero.refuse("enable_currency", "Currency not supported.")
    jpy, eur = _prepare(ctx, _in("JPY"), _in("EUR"))
    assert jpy.problem == "Currency JPY could not be enabled in Xero: Currency not supported."
    assert eur.problem == ""
    (op,) = XeroOperation.objects.filter(integration=ctx.integration, kind=Kind.CURRENCY)
    assert op.state == Op.FAILED
    (warning,) = entries(ctx)
    assert "Xero did not enable currency JPY: Currency not supported." in warning.message


def test_a_missing_tracking_option_is_created_before_the_invoice(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.rules = RuleSet(tracking_rules=(MARS,))
    works = _prepare(ctx, _in("USD"), _in("USD"))
    (call,) = xero.calls_of("create_tracking_option")
    assert (call.args["category_id"], call.bodies) == ("cat-Region", [{"Name": "Mars"}])
    assert [w.problem for w in works] == ["", ""]
    # Read back from the cached settings, noted in place: the next rule sees it.
    region = ctx.metadata.tracking_categories["Region"]
    assert region.option("mars") is not None
    (entry,) = entries(ctx)
    assert entry.message == "Tracking option 'Mars' created in 'Region'."


def test_an_option_created_meanwhile_is_not_created_again(ctx: RunContext, xero: FakeXero) -> None:
    ctx.rules = RuleSet(tracking_rules=(MARS,))
    (w,) = _prepare(ctx, _in("USD"))
    _prepare(ctx, _in("USD"))
    organisation.prepare(ctx, [w])
    assert len(xero.calls_of("create_tracking_option")) == 1


def test_a_refused_tracking_option_is_each_invoices_problem(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.rules = RuleSet(tracking_rules=(MARS,))
    xero.refuse("create_tracking_option", "Too many options.")
    (w,) = _prepare(ctx, _in("USD"))
    assert w.problem == "Tracking option 'Mars' could not be created in 'Region': Too many options."


def test_lost_outcomes_are_settled_by_looking_them_up(ctx: RunContext, xero: FakeXero) -> None:
    ctx.rules = RuleSet(tracking_rules=(MARS,))
    xero.short_next("enable_currency", keep=0)
    xero.short_next("create_tracking_option", keep=0)
    (w,) = _prepare(ctx, _in("JPY"))
    ops = XeroOperation.objects.filter(integration=ctx.integration)
    assert {op.kind: op.state for op in ops} == {
        Kind.CURRENCY: Op.UNKNOWN,
        Kind.TRACKING_OPTION: Op.UNKNOWN,
    }
    # Xero's currencies, read at once, show JPY enabled: the invoice need not wait.
    assert "JPY" in ctx.metadata.currencies
    assert w.problem == ""
    # The option's outcome is not known yet: the invoice waits for the next run.
    assert w.waits == "Waiting for Xero's answer about tracking option 'Mars' in 'Region'."
    protocol.settle(ctx)
    assert {op.kind: op.state for op in ops.all()} == {
        Kind.CURRENCY: Op.DONE,
        Kind.TRACKING_OPTION: Op.DONE,
    }
    assert len(xero.calls_of("enable_currency")) == 1
    assert len(xero.calls_of("create_tracking_option")) == 1


def test_a_lost_tracking_option_answer_leaves_the_invoice_waiting(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.rules = RuleSet(tracking_rules=(MARS,))
    xero.short_next("create_tracking_option", keep=0)
    (w,) = _prepare(ctx, _in("USD"))
    w.contact_id = xero.add_contact("Acme Corporation", number=w.contact.contact_number)
    invoices.send(ctx, [w])
    row = LedgerEntry.objects.get(pk=w.ledger.pk)
    assert row.state in (LedgerEntry.State.PENDING, LedgerEntry.State.SYNCED), row.last_error

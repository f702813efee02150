"""``steps.items``: one lookup for a chunk's item codes, one batch create for the missing ones
(only when configured), and lines that keep no item code when their item exists nowhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.connections.salesforce.records import LineItem, Opportunity
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import ItemLink, XeroOperation
from integrations.sync.steps import items
from integrations.sync.steps.chunk import Work
from tests.integrations.rules.data import opportunity
from tests.integrations.sync.steps.fakes import FakeXero, where_terms
from tests.integrations.sync.steps.rows import entries, sf_id, work

pytestmark = pytest.mark.django_db

D = Decimal
Op = XeroOperation.State


def _line(code: str, price: str = "10", *, quantity: str = "1", name: str = "") -> LineItem:
    return LineItem(
        salesforce_id=sf_id("00k"),
        product_id=sf_id("01t"),
        product_code=code,
        product_name=name or f"Product {code}",
        description="",
        quantity=D(quantity),
        unit_price=D(price),
        total_price=D(quantity) * D(price),
    )


def _with(*lines: LineItem) -> Opportunity:
    return opportunity(salesforce_id=sf_id(), lines=lines)


def _match(ctx: RunContext, *opportunities: Opportunity) -> list[Work]:
    works = [work(ctx, o) for o in opportunities]
    items.match(ctx, works)
    ctx.flush_logs()
    return works


def _codes(w: Work) -> list[str]:
    return [line.item_code for line in w.draft.lines]


def test_only_missing_items_are_created_in_one_batch(ctx: RunContext, xero: FakeXero) -> None:
    xero.add_item("BOLT")
    works = _match(
        ctx,
        _with(_line("BOLT"), _line("NUT", "0.25", name="Hex nut")),
        _with(_line("NUT", "0.25", name="Hex nut"), _line("GEAR", "99.5")),
    )
    (lookup,) = xero.calls_of("items_where")
    assert sorted(v for _, v in where_terms(lookup.args["where"])) == ["BOLT", "GEAR", "NUT"]
    (create,) = xero.calls_of("create_items")
    assert [b["Code"] for b in create.bodies] == ["NUT", "GEAR"]
    assert create.bodies[0] == {
        "Code": "NUT",
        "Name": "Hex nut",
        "Description": "Hex nut",
        "IsSold": True,
        "SalesDetails": {"UnitPrice": D("0.2500"), "AccountCode": "200"},
    }
    assert [_codes(w) for w in works] == [["BOLT", "NUT"], ["NUT", "GEAR"]]
    assert entries(ctx) == []


def test_known_items_ask_nothing_more_in_the_run(ctx: RunContext, xero: FakeXero) -> None:
    xero.add_item("BOLT")
    _match(ctx, _with(_line("BOLT")))
    calls = len(xero.log)
    _match(ctx, _with(_line("BOLT")))
    assert len(xero.log) == calls
    assert xero.calls_of("create_items") == []


def test_without_creating_items_the_lines_carry_no_item_code(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, create_missing_items=False)
    xero.add_item("BOLT")
    (w,) = _match(ctx, _with(_line("BOLT"), _line("NUT"), _line("GEAR")))
    assert xero.calls_of("create_items") == []
    assert _codes(w) == ["BOLT", "", ""]
    (warning,) = entries(ctx)
    assert (warning.outcome, warning.ledger_id) == ("warning", None)  # the row is not saved yet
    assert "No Xero item for GEAR, NUT" in warning.message


def test_a_long_product_code_is_shortened_and_said_so(ctx: RunContext, xero: FakeXero) -> None:
    long = "INDUSTRIAL-WIDGET-ASSEMBLY-XL-2026"
    (w,) = _match(ctx, _with(_line(long)))
    (created,) = xero.sent("create_items")
    assert len(created["Code"]) == 30
    assert _codes(w) == [created["Code"]]
    (warning,) = entries(ctx)
    assert f"Product code {long!r} is longer than Xero's 30 characters" in warning.message


def test_a_refused_item_leaves_its_lines_without_a_code(ctx: RunContext, xero: FakeXero) -> None:
    xero.refuse("create_items", "Item code already used.", when=lambda b: b["Code"] == "NUT")
    (w,) = _match(ctx, _with(_line("BOLT"), _line("NUT")))
    assert _codes(w) == ["BOLT", ""]
    refused, dropped = entries(ctx)
    assert "Xero did not create item 'NUT' (Item code already used.)" in refused.message
    assert "No Xero item for NUT" in dropped.message
    states = dict(
        XeroOperation.objects.filter(integration=ctx.integration).values_list("subject", "state")
    )
    assert states == {"BOLT": Op.DONE, "NUT": Op.FAILED}


def test_a_lost_creation_is_looked_up_by_code(ctx: RunContext, xero: FakeXero) -> None:
    xero.short_next("create_items", keep=0)
    _match(ctx, _with(_line("BOLT")))
    (op,) = XeroOperation.objects.filter(integration=ctx.integration)
    assert op.state == Op.UNKNOWN
    ctx.items.clear()
    protocol.settle(ctx)
    op.refresh_from_db()
    assert op.state == Op.DONE
    assert ctx.items == {"BOLT"}
    assert len(xero.sent("create_items")) == 1


def test_items_are_made_for_the_invoice_lines_when_negative_lines_are_kept_apart(
    ctx: RunContext, xero: FakeXero
) -> None:
    ctx.config = replace(ctx.config, negative_lines="credit_note")
    (w,) = _match(
        ctx, _with(_line("WIDGET"), _line("RETURN", "-10", name="Returned part"), _line("GEAR"))
    )
    assert _codes(w) == ["WIDGET", "GEAR"]
    assert [(b["Code"], b["Name"]) for b in xero.sent("create_items")] == [
        ("WIDGET", "Product WIDGET"),
        ("GEAR", "Product GEAR"),
    ]


def _next_run(ctx: RunContext, xero: FakeXero) -> None:
    ctx.items.clear()
    xero.log.clear()


def test_codes_seen_in_xero_are_used_by_later_runs_without_a_lookup(
    ctx: RunContext, xero: FakeXero
) -> None:
    xero.add_item("BOLT")
    ctx.config = replace(ctx.config, create_missing_items=True)
    _match(ctx, _with(_line("BOLT"), _line("NUT")))
    _next_run(ctx, xero)
    (w,) = _match(ctx, _with(_line("BOLT"), _line("NUT")))
    assert _codes(w) == ["BOLT", "NUT"]
    assert xero.log == []


def test_forgotten_or_stale_codes_are_looked_up_again(ctx: RunContext, xero: FakeXero) -> None:
    xero.add_item("BOLT")
    _match(ctx, _with(_line("BOLT")))
    items.forget(integration_id=ctx.integration.pk)
    _next_run(ctx, xero)
    _match(ctx, _with(_line("BOLT")))
    assert len(xero.calls_of("items_where")) == 1
    ItemLink.objects.update(verified_at=timezone.now() - dt.timedelta(hours=2))
    _next_run(ctx, xero)
    _match(ctx, _with(_line("BOLT")))
    assert len(xero.calls_of("items_where")) == 1

"""The parser alone: what it accepts and how it reads it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sandbox.salesforce.ids import checksum, make_id, to_18
from sandbox.salesforce.soql import SoqlError, parse
from sandbox.salesforce.soql.ast import BoolOp, Comparison, Not, Select


def test_reads_a_full_query():
    select = parse(
        "select Id, Account.Name, (SELECT Quantity FROM OpportunityLineItems WHERE Quantity > 1 "
        "ORDER BY Quantity DESC LIMIT 5) FROM Opportunity WHERE (IsWon = TRUE OR Amount <> null)"
        " AND NOT Name LIKE 'x\\%%' AND CloseDate IN (2024-01-01, TODAY) "
        "AND SystemModstamp >= 2024-01-01T10:00:00.000+0100 ORDER BY SystemModstamp, Id "
        "DESC NULLS FIRST LIMIT 10 OFFSET 5"
    )
    assert select.sobject == "Opportunity"
    assert [getattr(f, "path", None) for f in select.fields[:2]] == [("Id",), ("Account", "Name")]
    child = select.fields[2]
    assert isinstance(child, Select)
    assert child.limit == 5
    assert child.order_by[0].descending
    where = select.where
    assert isinstance(where, BoolOp)
    assert where.op == "AND"
    assert len(where.items) == 4
    assert isinstance(where.items[0], BoolOp)
    assert where.items[0].op == "OR"
    negated = where.items[1]
    assert isinstance(negated, Not)
    assert isinstance(negated.item, Comparison)
    assert negated.item.value.value == "x\\%%"  # type: ignore[union-attr]
    stamp = where.items[3]
    assert isinstance(stamp, Comparison)
    assert stamp.value.value == dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC)  # type: ignore[union-attr]
    assert [(o.field.text, o.descending, o.nulls_first) for o in select.order_by] == [
        ("SystemModstamp", False, True),
        ("Id", True, True),
    ]
    assert (select.limit, select.offset) == (10, 5)


@pytest.mark.parametrize(
    ("literal", "kind", "value"),
    [
        ("'it\\'s'", "string", "it's"),
        ("-12.50", "number", Decimal("-12.50")),
        ("2024-02-29", "date", dt.date(2024, 2, 29)),
        ("2024-01-01T00:00:00Z", "datetime", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        ("false", "boolean", False),
        ("NULL", "null", None),
        ("LAST_N_DAYS:30", "dateliteral", ("LAST_N_DAYS", 30)),
    ],
)
def test_literals(literal, kind, value):
    where = parse(f"SELECT Id FROM Account WHERE Name = {literal}").where  # noqa: S608
    assert isinstance(where, Comparison)
    assert not isinstance(where.value, tuple)
    assert (where.value.kind, where.value.value) == (kind, value)


@pytest.mark.parametrize(
    "soql",
    [
        "",
        "SELECT FROM Account",
        "SELECT Id, FROM Account",
        "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
        "SELECT Id FROM Account WHERE (Name = 'a'",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
        "SELECT Id FROM Account WHERE CreatedDate = 2024-13-01",
        "SELECT Id FROM Account WHERE Name NOT LIKE 'x'",
        "SELECT Id FROM Account trailing",
        "SELECT Id FROM Account WHERE Name IN ()",
        "SELECT Id FROM Account WHERE Name = NEXT_MONTH",
        "SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
    ],
)
def test_malformed(soql):
    with pytest.raises(SoqlError) as info:
        parse(soql)
    assert info.value.error_code == "MALFORMED_QUERY"


def test_ids_have_salesforce_checksums():
    assert checksum("001000000000001") == "AAA"
    assert to_18("0015g00000AbCdE") == "0015g00000AbCdE" + checksum("0015g00000AbCdE")
    assert to_18("not an id") is None
    built = make_id("006", "Dw", 42)
    assert len(built) == 18
    assert built.startswith("006Dw")
    assert to_18(built[:15]) == built

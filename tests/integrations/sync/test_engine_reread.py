"""Re-reading waiting ledger rows by id: the SOQL and its chunks of 200 (no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from integrations.connections.salesforce.reader import (
    MAX_IDS_PER_QUERY,
    ReadSpec,
    build_soql,
    build_soql_for_ids,
    read_opportunities_by_id,
)

SINCE = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def test_same_select_as_the_watermark_read_without_the_watermark():
    spec = ReadSpec(since=SINCE, stage="Closed Won", start_date=dt.date(2025, 1, 1))
    soql = build_soql_for_ids(spec, ["006A", "006B"])
    select = build_soql(spec).rsplit(" WHERE ", 1)[0]
    assert soql.startswith(select + " WHERE Id IN ('006A', '006B') AND ")
    assert "StageName = 'Closed Won'" in soql
    assert "CloseDate >= 2025-01-01" in soql
    assert "SystemModstamp >=" not in soql
    assert soql.endswith("ORDER BY SystemModstamp, Id")


def test_ids_go_out_as_escaped_literals_and_are_bounded():
    soql = build_soql_for_ids(ReadSpec(), ["006' OR Name != '"])
    assert "Id IN ('006\\' OR Name != \\'')" in soql
    with pytest.raises(ValueError, match="no ids"):
        build_soql_for_ids(ReadSpec(), [])
    with pytest.raises(ValueError, match="at most 200 ids"):
        build_soql_for_ids(ReadSpec(), [f"006{i:015d}" for i in range(MAX_IDS_PER_QUERY + 1)])


class _Source:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        self.queries.append(soql)
        ids = soql.split("Id IN (")[1].split(")")[0].replace("'", "").split(", ")
        yield {
            "records": [
                {"Id": i, "Name": i, "SystemModstamp": "2026-01-01T00:00:00.000+0000"} for i in ids
            ]
        }

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        raise AssertionError("not expected")


def test_read_by_id_in_chunks_of_200_without_repeats():
    ids = [f"006{i:015d}" for i in range(450)]
    source = _Source()
    records = list(read_opportunities_by_id(source, ReadSpec(), [*ids, ids[0]]))
    assert len(source.queries) == 3
    assert sorted(r.salesforce_id for r in records) == ids

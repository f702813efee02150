"""SOQL from anyone: the parser raises only :class:`SoqlError`, and the query resource answers
any text with 200 or Salesforce's JSON error (400 ``MALFORMED_QUERY``, ``INVALID_FIELD``...),
never a 500 — deep nesting, unicode digits, huge numbers and NUL characters included."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from sandbox.salesforce.models import SalesforceOrg
from sandbox.salesforce.soql import SoqlError, parse
from tests.hostile import FUZZ, WIRE_TEXT
from tests.sandbox.salesforce.conftest import API_VERSION, make_org, token_for

pytestmark = pytest.mark.django_db

ERROR_CODES = {
    "MALFORMED_QUERY",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "INVALID_QUERY_FILTER_OPERATOR",
}

FIELDS = st.sampled_from(
    [
        "Id",
        "Name",
        "Amount",
        "CloseDate",
        "IsWon",
        "StageName",
        "Account.Name",
        "SystemModstamp",
        "CreatedDate",
        "Probability",
        "AccountId",
        "Nope",
        "Account.Nope.Name",
    ]
)
LITERALS = st.one_of(
    st.sampled_from(
        [
            "null",
            "TRUE",
            "false",
            "TODAY",
            "LAST_N_DAYS:99999999999",
            "NEXT_N_DAYS:3",
            "2024-01-15",
            "0000-00-00",
            "9999-12-31",
            "2024-01-15T10:00:00Z",
            "9999-12-31T23:59:59-0100",
            "0001-01-01T00:00:00+1400",
            "99999999999999999999999",
            "-1.5",
            ".5",
            "1e5",
            "'0065g00000AbCdAAAV'",
            "'0065g00000AbCdA'",
            "'\\%'",
            "'\\q'",
            "'\u0663\u0664'",
            "\u0663\u0664",
            "'",
            "''",
            "'a\x00b'",
        ]
    ),
    WIRE_TEXT.map(lambda t: "'" + t.replace("\\", "\\\\").replace("'", "\\'") + "'"),
)
TOKENS = st.one_of(
    FIELDS,
    LITERALS,
    st.sampled_from(
        [
            "AND",
            "OR",
            "NOT",
            "(",
            ")",
            ",",
            "=",
            "!=",
            "<>",
            "<",
            ">=",
            "LIKE",
            "IN",
            "NOT IN",
            "ORDER BY",
            "LIMIT",
            "OFFSET",
            "ASC",
            "DESC",
            "NULLS FIRST",
            "GROUP BY",
            "SELECT",
            "FROM",
            "WHERE",
            "COUNT()",
            "99999999999999999999",
        ]
    ),
)
QUERIES = st.one_of(
    WIRE_TEXT,
    st.builds(
        lambda fields, obj, tail: f"SELECT {', '.join(fields)} FROM {obj} {' '.join(tail)}",  # noqa: S608 (SOQL)
        st.lists(FIELDS, min_size=1, max_size=3),
        st.sampled_from(["Opportunity", "Account", "OpportunityLineItem", "Nope"]),
        st.lists(TOKENS, max_size=12),
    ),
    st.builds(
        lambda field, op, lit, rest: f"SELECT Id FROM Opportunity WHERE {field} {op} {lit} {rest}",  # noqa: S608
        FIELDS,
        st.sampled_from(["=", "!=", "<", ">=", "LIKE", "IN (", "NOT IN ("]),
        LITERALS,
        st.sampled_from(["", ")", "LIMIT 5", "LIMIT 99999999999999999999", "OFFSET 2147483648"]),
    ),
)
DEEP = "SELECT Id FROM Opportunity WHERE " + "(" * 5_000 + "Name = 'x'" + ")" * 5_000
TO_THE_LAST_DAY = (dt.date.max - dt.date.today()).days
NOTS = "SELECT Id FROM Opportunity WHERE " + "NOT " * 5_000 + "Name = 'x'"


@FUZZ
@given(soql=QUERIES)
@example(soql=DEEP)
@example(soql=NOTS)
def test_the_parser_raises_only_its_own_error(soql: str) -> None:
    try:
        parse(soql)
    except SoqlError as exc:
        error = exc
    else:
        return
    assert error.error_code == "MALFORMED_QUERY"
    assert error.status == 400


@pytest.fixture
def org(db: Any) -> SalesforceOrg:
    return make_org("Fuzz Org")


@pytest.fixture
def api(org: SalesforceOrg) -> Client:
    return Client(headers={"Authorization": f"Bearer {token_for(org)}"})


@FUZZ
@given(soql=QUERIES)
@example(soql=DEEP)
@example(soql=NOTS)
@example(soql="SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_DAYS:99999999999")
@example(soql="SELECT Id FROM Opportunity WHERE CreatedDate > NEXT_N_DAYS:99999999999")
@example(soql=f"SELECT Id FROM Opportunity WHERE CreatedDate = NEXT_N_DAYS:{TO_THE_LAST_DAY}")  # noqa: S608
@example(soql=f"SELECT Id FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:{TO_THE_LAST_DAY + 1}")  # noqa: S608
@example(soql="SELECT Id FROM Opportunity WHERE Name = 'a\x00b'")
@example(soql="SELECT Id FROM Opportunity WHERE Name LIKE '\x00%'")
@example(soql="SELECT Id FROM Opportunity LIMIT 99999999999999999999")
@example(soql="SELECT Id FROM Opportunity OFFSET 99999999999999999999")
@example(soql="SELECT Id FROM Opportunity WHERE Amount > 99999999999999999999999999999999999")
@example(soql="SELECT Id FROM Opportunity WHERE SystemModstamp > 9999-12-31T23:59:59-0100")
def test_the_query_resource_answers_any_text_like_salesforce(
    api: Client, org: SalesforceOrg, soql: str
) -> None:
    response = api.get(f"/services/data/v{API_VERSION}/query/", {"q": soql})
    assert response.status_code in (200, 400), response.content
    body = json.loads(response.content)
    if response.status_code == 400:
        [error] = body
        assert error["errorCode"] in ERROR_CODES, error
        assert error["message"]
    else:
        assert body["done"] in (True, False)

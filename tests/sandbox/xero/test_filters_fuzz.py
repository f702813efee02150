"""Xero ``where``/``order``/``page`` from anyone: the parser raises only :class:`FilterError`,
and the API answers any text with 200 or Xero's 400 ``QueryParseException``, never a 500.
And the obvious algebra holds: ``A OR B`` lists the union of what ``A`` and ``B`` list, and
``A AND B`` their intersection."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import example, given
from hypothesis import strategies as st

from sandbox.xero import clock, services
from sandbox.xero.api import CONTACT_FIELDS, INVOICE_FIELDS
from sandbox.xero.filters import FilterError, where_q
from sandbox.xero.models import Contact, XeroOrganisation
from tests.hostile import FUZZ, WIRE_TEXT

pytestmark = pytest.mark.django_db

NAMES = st.sampled_from(
    [*INVOICE_FIELDS, "Contact.Name", "Name", "Nope", "Contact", "Contact.Nope.Name", "ToLower"]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "null",
            "true",
            "False",
            "0",
            "-1.5",
            "1" * 80,
            "9" * 400,
            "1.0e5",
            "DateTime(2024, 01, 01)",
            "DateTime(2024.5, 1, 1)",
            "DateTime(99999999999999999999, 1, 1)",
            "DateTime(2024, 13, 1)",
            "DateTime(0, 1, 1)",
            "DateTime(2024,1,1,25,0,0)",
            'DateTime("2024-01-01T00:00:00")',
            'DateTime("9999-12-31T23:59:59-01:00")',
            'DateTime("nope")',
            'guid("00000000-0000-0000-0000-000000000000")',
            'guid("x")',
            '"\u0663"',
            "\u0663\u0664",
            '"a\\x00b"',
            '"\x00"',
            '"unterminated',
        ]
    ),
    WIRE_TEXT.map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)
PREDICATES = st.one_of(
    st.builds(
        lambda n, op, v: f"{n}{op}{v}",
        NAMES,
        st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "=", "!", "&&"]),
        VALUES,
    ),
    st.builds(
        lambda n, m, v: f"{n}.{m}({v})",
        NAMES,
        st.sampled_from(["Contains", "StartsWith", "EndsWith", "ToLower", "Nope"]),
        VALUES,
    ),
)
WHERES = st.one_of(
    WIRE_TEXT,
    PREDICATES,
    st.builds(
        lambda a, op, b, neg: f"{'NOT ' if neg else ''}({a}) {op} {b}",
        PREDICATES,
        st.sampled_from(["AND", "OR", "&&", "||", "AND NOT", ""]),
        PREDICATES,
        st.booleans(),
    ),
)
ORDERS = st.one_of(
    WIRE_TEXT,
    st.builds(
        lambda n, d: f"{n} {d}", NAMES, st.sampled_from(["", "ASC", "DESC", "UP", "ASC DESC"])
    ),
)
PAGES = st.one_of(st.none(), st.sampled_from(["1", "0", "-5", "abc", "", "1.5", "9" * 30]))
DEEP = "(" * 5_000 + 'Status=="DRAFT"' + ")" * 5_000
NOTS = "NOT " * 5_000 + 'Status=="DRAFT"'


@FUZZ
@given(where=WHERES)
@example(where=DEEP)
@example(where=NOTS)
def test_the_parser_raises_only_its_own_error(where: str) -> None:
    with contextlib.suppress(FilterError):
        where_q(where, INVOICE_FIELDS)


@pytest.fixture
def api(db: Any) -> Client:
    # Limits off: the examples come faster than Xero's 60 calls a minute.
    org = XeroOrganisation.objects.create(name="Fuzz Ltd", limits_enabled=False)
    token = services.issue_token(org_name=org.name)
    return Client(
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "xero-tenant-id": token["tenant_id"],
            "Accept": "application/json",
        }
    )


@FUZZ
@given(where=WHERES, order=st.one_of(st.none(), ORDERS), page=PAGES, size=PAGES)
@example(where=DEEP, order=None, page=None, size=None)
@example(where='Reference=="\x00"', order=None, page=None, size=None)
@example(where="AmountDue>" + "9" * 400, order=None, page=None, size=None)
@example(where="Date>=DateTime(2024.5, 1, 1)", order=None, page=None, size=None)
@example(where="Date>=DateTime(99999999999999999999, 1, 1)", order=None, page=None, size=None)
@example(where="", order=None, page="abc", size=None)
@example(where="", order=None, page="1", size="abc")
@example(where="", order=None, page="9" * 30, size=None)
@example(where="", order=None, page="99999999999999999", size="100")
def test_the_api_answers_any_filter_like_xero(
    api: Client, where: str, order: str | None, page: str | None, size: str | None
) -> None:
    params = {"where": where}
    if order is not None:
        params["order"] = order
    if page is not None:
        params["page"] = page
    if size is not None:
        params["pageSize"] = size
    response = api.get("/sandbox/xero/api.xro/2.0/Invoices", params)
    assert response.status_code in (200, 400), response.content
    body = json.loads(response.content)
    if response.status_code == 400:
        assert body["Type"] in ("QueryParseException", "ValidationException"), body
        assert body["Message"]
    else:
        assert isinstance(body["Invoices"], list)


SIMPLE = st.builds(
    lambda field, op, value: f'{field}{op}"{value}"',
    st.sampled_from(["Name", "EmailAddress", "FirstName"]),
    st.sampled_from(["==", "!="]),
    st.sampled_from(["Acme", "acme", "Bob", "", "b@x.com"]),
) | st.builds(lambda v: f'Name.StartsWith("{v}")', st.sampled_from(["A", "a", "B", ""]))


@pytest.fixture
def contacts(db: Any) -> list[Contact]:
    org = XeroOrganisation.objects.create(name="Algebra Ltd")
    now = clock.now()
    rows = [("Acme", "a@x.com", "Ann"), ("ACME", "", "Bob"), ("Bob", "b@x.com", ""), ("B", "", "")]
    return Contact.objects.bulk_create(
        Contact(organisation=org, name=n, email_address=e, first_name=f, updated_at=now)
        for n, e, f in rows
    )


def _matching(contacts: list[Contact], where: str) -> set[int]:
    pks = [c.pk for c in contacts]
    return set(
        Contact.objects.filter(pk__in=pks)
        .filter(where_q(where, CONTACT_FIELDS))
        .values_list("pk", flat=True)
    )


@FUZZ
@given(a=SIMPLE, b=SIMPLE)
def test_or_is_union_and_and_is_intersection(contacts: list[Contact], a: str, b: str) -> None:
    left, right = _matching(contacts, a), _matching(contacts, b)
    assert _matching(contacts, f"{a} OR {b}") == left | right
    assert _matching(contacts, f"({a}) && ({b})") == left & right
    assert _matching(contacts, f"NOT ({a})") == {c.pk for c in contacts} - left

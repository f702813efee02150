"""One quoting function for every Xero ``where`` filter, proven against the sandbox's parser.

For any text at all (quotes, backslashes, ``==``, ``OR``, newlines, unicode), the filter built
by ``connections.xero.where`` parses, and it matches exactly the records holding that value —
Xero compares text case-insensitively, so ASCII case variants too — and no other record: not
a longer or shorter value, not the ``OR`` an unescaped quote would smuggle in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integrations.connections.xero.where import any_of, equals, join_or, quote
from sandbox.xero.api import CONTACT_FIELDS
from sandbox.xero.filters import where_q
from sandbox.xero.models import Contact, XeroOrganisation

# Text a Xero filter may meet: anything PostgreSQL can store (no NUL, no lone surrogates),
# with the characters that matter to the expression language made frequent.
_ANY = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_TRICKY = st.sampled_from(['"', "\\", "=", "!", " ", "O", "R", "(", ")", "é", "\n", "'"])
TEXT = st.text(alphabet=st.one_of(_ANY, _TRICKY), max_size=40)

# Values no generated text can be a non-ASCII case variant of (no k, s or i, whose Unicode
# relatives fold to ASCII), so "same value" below is exact on SQLite and PostgreSQL alike.
FIXED = ["Acme", "x", "", '"', "\\", 'Acme" OR Name!="x', "Widgets 24", "a==b"]


def _fold(text: str) -> str:
    """ASCII-only lower case: the case Xero (and both databases) ignore for these values."""
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def _swap_ascii_case(text: str) -> str:
    return "".join(c.swapcase() if c.isascii() else c for c in text)


def _same(a: str, b: str) -> bool:
    return len(a) == len(b) and _fold(a) == _fold(b)


@pytest.fixture
def org(db: Any) -> XeroOrganisation:
    return XeroOrganisation.objects.create(name="Where Ltd")


def _contacts(org: XeroOrganisation, names: list[str]) -> Iterator[list[Contact]]:
    now = timezone.now()
    rows = Contact.objects.bulk_create(
        [Contact(organisation=org, name=name, updated_at=now) for name in dict.fromkeys(names)]
    )
    try:
        yield rows
    finally:
        Contact.objects.filter(pk__in=[r.pk for r in rows]).delete()


def _matched(org: XeroOrganisation, where: str) -> set[str]:
    return set(
        Contact.objects.filter(organisation=org)
        .filter(where_q(where, CONTACT_FIELDS))
        .values_list("name", flat=True)
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=TEXT)
@example(value='Acme" OR Reference!="x')
@example(value='Widgets 24" rack')
@example(value="\\")
@example(value='\\"')
@example(value='"\\')
@example(value="\\\\\"'")
@example(value="")
def test_a_quoted_value_matches_exactly_the_records_with_that_value(
    org: XeroOrganisation, value: str
) -> None:
    names = [value, _swap_ascii_case(value), value + "x", '"' + value, value[:-1], *FIXED]
    for rows in _contacts(org, names):
        expected = {r.name for r in rows if _same(r.name, value)}
        assert value in expected
        assert _matched(org, equals("Name", value)) == expected
        assert _matched(org, f"Name=={quote(value)}") == expected


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(TEXT, min_size=1, max_size=6), max_chars=st.integers(1, 120))
def test_or_joined_filters_match_exactly_the_records_with_any_of_the_values(
    org: XeroOrganisation, values: list[str], max_chars: int
) -> None:
    """However the OR-joining splits the values into filters, together they find them all."""
    names = [*values, *(v + "x" for v in values), *FIXED]
    for rows in _contacts(org, names):
        expected = {r.name for r in rows if any(_same(r.name, v) for v in values)}
        found: set[str] = set()
        filters = list(any_of("Name", values, max_chars=max_chars))
        for where in filters:
            assert len(where) <= max_chars or " OR " not in where
            found |= _matched(org, where)
        assert found == expected
        assert len(filters) <= len(set(values))


def test_join_or_keeps_terms_whole_and_under_the_limit() -> None:
    terms = [equals("Code", f"C-{n}") for n in range(100)]
    groups = list(join_or(terms, max_chars=60))
    assert all(len(g) <= 60 for g in groups)
    assert [t for g in groups for t in g.split(" OR ")] == terms

"""Hypothesis strategies for hostile input, shared by the fuzz tests (``test_*_fuzz.py``).

What arrives from outside is not what a well-behaved sender writes: NUL characters and lone
surrogates (PostgreSQL stores neither), numbers past any column's range, dates at the edge of
the calendar, nesting deeper than a parser recurses, the wrong JSON type in every place.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=40,
    deadline=None,
    # The examples of one test share its database transaction and fixtures on purpose: each
    # example asserts on what it added, and a fresh database per example would cost seconds.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""The fuzz tests' default: enough examples to meet each kind of bad input, fast enough for
``make test`` (the ``ci`` profile in ``tests/conftest.py`` makes the choice reproducible)."""
FUZZ_PAGES = settings(FUZZ, max_examples=8)
"""For posts that render a whole page (a form's errors): each example costs a render."""

NASTY_CHARACTERS = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "é", "日", "\n", "\r", '"', "'", "\\", "<"]
)
TEXT = st.text(
    alphabet=st.one_of(st.characters(), NASTY_CHARACTERS), max_size=80
)  # any code point, surrogates and NUL included
WIRE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=["Cs"]),
        NASTY_CHARACTERS.filter(lambda c: not "\ud800" <= c <= "\udfff"),
    ),
    max_size=80,
)
"""Text that can travel in a URL or form: a lone surrogate has no UTF-8 bytes to send."""
HUGE_INTS = st.one_of(
    st.integers(),
    st.sampled_from([-(2**63) - 1, -(2**63), 2**31, 2**63 - 1, 2**63, 2**64, 10**30, -1, 0]),
)
EDGE_DATES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999",
        "2026-02-30T00:00:00",
        "2026-12-03T10:15:39.902Z",
        "2026-12-03T10:15:39.902+14:00",
        "",
        "not a date",
        "2026-12-03\x00",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
RANDOM_BYTES = st.binary(max_size=2_000)


def deeply_nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth

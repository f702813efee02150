"""Xero ``where`` filters built from text we do not control: the one quoting function.

Xero's ``where`` is an expression language (``Name=="Acme" AND Status!="DELETED"``). Any value
that comes from Salesforce or a person — a contact name, an invoice number made from an
opportunity's name, a reference — must go through :func:`quote`: written raw, a name such as
``Widgets 24" rack`` breaks the filter (Xero answers 400 on every run) and one such as
``Acme" OR Reference!="x`` changes its meaning (it matches documents it should not).

Inside a double-quoted string Xero takes ``\\"`` for a quote and ``\\\\`` for a backslash, so
:func:`quote` escapes exactly those two characters; everything else (``==``, ``OR``, unicode)
is plain text between the quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# Xero answers 414 for very long URLs; ORs of many keys are split to stay well under.
MAX_WHERE_CHARS = 1500


def quote(text: str) -> str:
    """``text`` as a Xero string literal: double-quoted, backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(field: str, value: str) -> str:
    """``field=="value"`` with the value quoted (``field`` is ours, never user text)."""
    return f"{field}=={quote(value)}"


def join_or(terms: Iterable[str], *, max_chars: int = MAX_WHERE_CHARS) -> Iterator[str]:
    """``a OR b OR ...``, split into as many filters as needed to keep each under max_chars.

    The terms must already be complete expressions (built with :func:`equals` or
    :func:`quote`); a single term longer than ``max_chars`` still goes out on its own.
    """
    group: list[str] = []
    size = 0
    for term in terms:
        if group and size + len(term) + 4 > max_chars:
            yield " OR ".join(group)
            group, size = [], 0
        group.append(term)
        size += len(term) + 4
    if group:
        yield " OR ".join(group)


def any_of(field: str, values: Iterable[str], *, max_chars: int = MAX_WHERE_CHARS) -> Iterator[str]:
    """``field=="a" OR field=="b"``... for each distinct value, split like :func:`join_or`."""
    return join_or([equals(field, value) for value in sorted(set(values))], max_chars=max_chars)

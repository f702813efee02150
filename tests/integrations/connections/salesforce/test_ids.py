"""Salesforce ids: the 15-character form becomes the 18-character one the ledger stores."""

from __future__ import annotations

import pytest

from integrations.connections.salesforce.ids import to_18


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("006000000000001", "006000000000001AAA"),  # no capital: AAA
        ("0065g00000AbCdE", "0065g00000AbCdEAAV"),  # capitals at 10, 12, 14: V in the third
        ("0065g00000AbCdEAAV", "0065g00000AbCdEAAV"),
        ("0065g00000AbCdEaav", "0065g00000AbCdEAAV"),  # the suffix is case-blind
    ],
)
def test_ids_in_either_form_become_18_characters(value: str, expected: str) -> None:
    assert to_18(value) == expected


@pytest.mark.parametrize(
    "value", ["", "Globex", "0065g00000AbCdEAAA", "0065g00000AbCd!", "0065g00000AbCdEAA"]
)
def test_what_is_not_an_id_is_none(value: str) -> None:
    assert to_18(value) is None

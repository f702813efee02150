"""Salesforce record ids: 15 case-sensitive characters, or 18 with a suffix encoding their case.

People paste either form (the 15-character one from a report or a URL, the 18-character one
from the API); the ledger stores the 18-character form, so a search turns one into the other
and matches exactly, by index.
"""

from __future__ import annotations

import string

_CHARS = frozenset(string.ascii_letters + string.digits)
_SUFFIX = string.ascii_uppercase + "012345"


# The sandbox computes the same suffix for the ids it makes; it is another party (the import
# contracts keep each side from importing the other), so each holds its own copy.
def _suffix(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX[bits]
    return suffix


def to_18(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; None when ``value`` is not one."""
    if len(value) not in (15, 18) or not _CHARS.issuperset(value):
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:].upper() != _suffix(id15):
        return None
    return id15 + _suffix(id15)

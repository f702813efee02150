"""Salesforce record ids: 15 case-sensitive characters plus a 3-character checksum suffix.

The suffix makes the 18-character form case-insensitive, which is what the REST API returns;
clients compare ids in either form, so the simulator accepts both and always answers 18.
"""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "OpportunityLineItem": "00k",
    "OpportunityContactRole": "00K",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "CurrencyType": "02c",
    "OpportunityStage": "01J",
    "DatedConversionRate": "04w",
    "User": "005",
    "Organization": "00D",
}


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    if number:
        raise ValueError("number does not fit")
    return "".join(reversed(digits))


def checksum(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX[bits]
    return suffix


def make_id(prefix: str, pod: str, sequence: int) -> str:
    """``prefix`` (3) + the org's ``pod`` (2) + a 10-character sequence, plus the checksum."""
    id15 = f"{prefix}{pod}{base62(sequence, 10)}"
    return id15 + checksum(id15)


def random_id(prefix: str) -> str:
    id15 = prefix + "".join(secrets.choice(BASE62) for _ in range(15 - len(prefix)))
    return id15 + checksum(id15)


def to_18(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; None when it is not an id."""
    if len(value) not in (15, 18) or any(c not in BASE62 for c in value):
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:].upper() != checksum(id15):
        return None
    return id15 + checksum(id15)

"""What was sent to Xero, fit to show support people: secrets and personal data masked, business
data kept. Pure, no I/O.

Kept: amounts, quantities, line items, account and tax codes, currency, dates, Xero's ids, the
invoice number and reference, the contact's (company's) name. Masked whole: anything named like
a secret (tokens, keys, authorisation, passwords, signatures) and a contact's personal details
(e-mail, phones, addresses, bank details, tax number, the people on it, their names). Masked in
every other piece of text: anything that looks like an e-mail address, a phone number, a bearer
token or a JWT, or an IBAN — free text (a line's description, a reference) comes from
Salesforce and may carry any of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

MASK: Final = "[redacted]"
EMAIL_MASK: Final = "[email]"
PHONE_MASK: Final = "[phone]"
SECRET_MASK: Final = "[secret]"  # noqa: S105 - the mask, not a secret

# Key names are compared lower-case without "_" and "-" (Xero's PascalCase, our snake_case).
SECRET_PARTS: Final = (
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "authorisation",
    "apikey",
    "signature",
    "credential",
    "cookie",
    "webhookkey",
    "privatekey",
)
PERSONAL_KEYS: Final = frozenset(
    {
        "emailaddress",
        "email",
        "phones",
        "addresses",
        "bankaccountdetails",
        "batchpayments",
        "taxnumber",
        "contactpersons",
        "firstname",
        "lastname",
        "skypeusername",
        "attentionto",
    }
)
PERSONAL_PREFIXES: Final = ("phone", "address", "bankaccount", "email", "mobile", "fax")
# Values kept as they are when they have the key's own shape (a number, one of Xero's ids, a
# date): they would otherwise pass for phone numbers.
NUMBER_KEYS: Final = frozenset(
    {
        "quantity",
        "unitamount",
        "lineamount",
        "taxamount",
        "discountrate",
        "discountamount",
        "currencyrate",
        "amount",
        "total",
        "subtotal",
        "totaltax",
        "amountdue",
        "amountpaid",
        "amountcredited",
        "remainingcredit",
        "unitprice",
    }
)
DATE_KEYS: Final = frozenset({"date", "duedate", "fullypaidondate", "expectedpaymentdate"})

EMAIL_RE: Final = re.compile(r"\S+@\S*|\S*@\S+")
# Seven to fifteen digits, optionally led by "+", with at most two separators between digits
# (spaces, dots, dashes, slashes, brackets), not glued to a word: 020 7946 0958, (555)
# 123-4567, +44.20.7946.0958, 5551234567.
PHONE_RE: Final = re.compile(r"(?<!\w)\+?(?:\d[\s().\-/]{0,2}){6,14}\d(?!\w)")
BEARER_RE: Final = re.compile(r"(?i)\b(bearer|basic)\s+[\w\-.~+/=]+")
JWT_RE: Final = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
IBAN_RE: Final = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
XERO_DATE_RE: Final = re.compile(r"/Date\(-?\d+(?:[+-]\d{4})?\)/")
ISO_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def _norm(key: object) -> str:
    return str(key).lower().replace("_", "").replace("-", "")


def is_secret_key(key: object) -> bool:
    name = _norm(key)
    return any(part in name for part in SECRET_PARTS)


def is_personal_key(key: object) -> bool:
    name = _norm(key)
    return name in PERSONAL_KEYS or name.startswith(PERSONAL_PREFIXES)


def redact_text(text: str) -> str:
    """``text`` with what looks like an e-mail, a phone number, a token or an IBAN masked."""
    text = BEARER_RE.sub(lambda m: f"{m.group(1)} {SECRET_MASK}", text)
    text = JWT_RE.sub(SECRET_MASK, text)
    text = EMAIL_RE.sub(EMAIL_MASK, text)
    text = IBAN_RE.sub(MASK, text)
    # A mask never holds a digit, so each pass removes digits and this ends.
    while True:
        masked = PHONE_RE.sub(PHONE_MASK, text)
        if masked == text:
            return masked
        text = masked


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    if isinstance(value, str):
        try:
            Decimal(value)
        except InvalidOperation:
            return False
        return value.strip() == value and bool(value)
    return False


def _kept_as_is(key: str, value: object) -> bool:
    """A value of the key's own shape: an amount, one of Xero's ids, a date."""
    if key in NUMBER_KEYS:
        return _is_number(value)
    if key in DATE_KEYS:
        return isinstance(value, str) and bool(
            XERO_DATE_RE.fullmatch(value) or ISO_DATE_RE.fullmatch(value)
        )
    if key.endswith("id"):
        return isinstance(value, str) and bool(UUID_RE.fullmatch(value))
    return False


def redact(value: Any, *, key: str = "") -> Any:
    """A copy of ``value`` (JSON-like: dicts, lists, text, numbers) fit to show."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            if is_secret_key(name):
                result[name] = SECRET_MASK if v not in (None, "") else v
            elif is_personal_key(name):
                result[name] = MASK if v not in (None, "", [], {}) else v
            else:
                result[name] = redact(v, key=_norm(name))
        return result
    if isinstance(value, list | tuple):
        return [redact(v, key=key) for v in value]
    if _kept_as_is(key, value):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        # A bare number under a key of no known shape could be a phone number stored as one.
        text = str(value)
        return value if redact_text(text) == text else PHONE_MASK
    return redact_text(str(value))

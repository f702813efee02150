"""What was sent, fit to show: no e-mail address, phone number or secret survives; business
data (amounts, lines, codes, the contact's name) does."""

from __future__ import annotations

import string
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.sync.redact import (
    EMAIL_MASK,
    MASK,
    PHONE_MASK,
    PHONE_RE,
    SECRET_MASK,
    redact,
    redact_text,
)

# Filler text that cannot itself look like an e-mail or a phone number.
FILLER = st.text(alphabet=string.ascii_letters + " ,;:!?'-()", max_size=20)
PHONES = st.one_of(
    st.from_regex(r"\A\+[1-9]\d{0,2} \d{2,4} \d{3,4} \d{3,4}\Z"),
    st.from_regex(r"\A\(\d{3}\) \d{3}-\d{4}\Z"),
    st.from_regex(r"\A\d{3}[.\-]\d{3}[.\-]\d{4}\Z"),
    st.from_regex(r"\A0\d{9,10}\Z"),
    st.from_regex(r"\A\+\d{7,14}\Z"),
)
EMAILS = st.emails()
FREE_KEYS = st.sampled_from(
    ["Description", "Reference", "Name", "Note", "Url", "anything", "LineItems", "Contact"]
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


@st.composite
def sprinkled(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Text with e-mail addresses and phone numbers among words; returns them too."""
    secrets = draw(st.lists(st.one_of(EMAILS, PHONES), min_size=1, max_size=4))
    parts: list[str] = []
    for secret in secrets:
        parts += [draw(FILLER), secret]
    parts.append(draw(FILLER))
    return " ".join(parts), secrets


documents = st.recursive(
    st.builds(lambda pair: pair, sprinkled()),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(FREE_KEYS, children, max_size=3),
    ),
    max_leaves=8,
)


def _split(document: Any) -> tuple[Any, list[str]]:
    """The document with its (text, secrets) leaves as text, and every secret in it."""
    if isinstance(document, tuple):
        return document[0], list(document[1])
    if isinstance(document, list):
        pairs = [_split(v) for v in document]
        return [p[0] for p in pairs], [s for p in pairs for s in p[1]]
    pairs_by_key = {k: _split(v) for k, v in document.items()}
    return {k: p[0] for k, p in pairs_by_key.items()}, [
        s for p in pairs_by_key.values() for s in p[1]
    ]


@settings(max_examples=150, deadline=None)
@given(documents)
def test_no_email_or_phone_survives_anywhere_in_free_text(document: Any) -> None:
    body, secrets = _split(document)
    shown = redact(body)
    text = "\n".join(_strings(shown))
    assert "@" not in text.replace(EMAIL_MASK, "")
    for line in _strings(shown):
        assert PHONE_RE.search(line) is None, line
    for secret in secrets:
        assert secret not in text


@settings(max_examples=100, deadline=None)
@given(EMAILS, PHONES, st.text(max_size=30))
def test_personal_fields_of_a_contact_are_masked_whole(email: str, phone: str, tax: str) -> None:
    contact = {
        "Name": "Globex Corporation",
        "ContactNumber": "0015g00000XyZabAAB",
        "EmailAddress": email,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "TaxNumber": tax or "GB123456789",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": phone, "PhoneAreaCode": "020"}],
        "Addresses": [{"AddressType": "STREET", "AddressLine1": "1 Infinite Loop"}],
        "BankAccountDetails": "12-3456-7890123-00",
        "BatchPayments": {"BankAccountNumber": "01234567", "BankAccountName": "Globex"},
        "ContactPersons": [{"FirstName": "Bob", "EmailAddress": "bob@globex.example"}],
    }
    shown = redact(contact)
    assert shown["Name"] == "Globex Corporation"
    assert shown["ContactNumber"] == "0015g00000XyZabAAB"
    for key in (
        "EmailAddress",
        "FirstName",
        "LastName",
        "TaxNumber",
        "Phones",
        "Addresses",
        "BankAccountDetails",
        "BatchPayments",
        "ContactPersons",
    ):
        assert shown[key] == MASK, key
    text = str(shown)
    for gone in (email, phone, "Infinite Loop", "01234567", "Lovelace", "bob@globex.example"):
        assert gone not in text


def test_business_data_of_an_invoice_is_kept() -> None:
    invoice = {
        "Type": "ACCREC",
        "InvoiceNumber": "INV-0042",
        "Reference": "Globex renewal 2026",
        "Contact": {"ContactID": "3f1c1a2e-0000-4000-8000-000000000001", "Name": "Globex"},
        "Date": "/Date(1764806400000+0000)/",
        "DueDate": "2026-12-31",
        "CurrencyCode": "GBP",
        "CurrencyRate": Decimal("1.234567"),
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": [
            {
                "Description": "Widgets, 12 months",
                "Quantity": "1000000",
                "UnitAmount": "12345678.90",
                "AccountCode": "200",
                "ItemCode": "WIDGET-1",
                "TaxType": "OUTPUT2",
                "DiscountRate": 12.5,
                "Tracking": [{"Name": "Region", "Option": "North"}],
            }
        ],
    }
    assert redact(invoice) == invoice


def test_secrets_are_masked_by_name_and_by_shape() -> None:
    shown = redact(
        {
            "access_token": "ya29.a0Af",
            "refresh_token": "r-123",
            "Authorization": "Bearer abc.def",
            "client_secret": "s3cr3t",
            "api_key": "k",
            "password": "",
            "Description": "see Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig and "
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
        }
    )
    assert shown["access_token"] == SECRET_MASK
    assert shown["refresh_token"] == SECRET_MASK
    assert shown["Authorization"] == SECRET_MASK
    assert shown["client_secret"] == SECRET_MASK
    assert shown["api_key"] == SECRET_MASK
    assert shown["password"] == ""  # nothing to hide
    assert "eyJ" not in shown["Description"]


def test_free_text_keeps_its_words() -> None:
    assert redact_text("Call Ada on +44 20 7946 0958 or ada@example.org, ref INV-0042.") == (
        f"Call Ada on {PHONE_MASK} or {EMAIL_MASK} ref INV-0042."
    )
    assert redact_text("IBAN GB29 NWBK 6016 1331 9268 19 please") == f"IBAN {MASK} please"
    # A bare number too long to be an amount of a known field, e.g. a phone stored as one.
    assert redact({"Other": 5551234567}) == {"Other": PHONE_MASK}
    assert redact({"Quantity": 5551234567}) == {"Quantity": 5551234567}

"""The scrubber run over everything a support request copies out of the account."""

from __future__ import annotations

import pytest

from support.scrub import HIDDEN, scrub


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl012", "abc.def-ghi_jkl012"),
        ("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl back", "eyJhbGciOiJIUzI1NiJ9"),
        ('{"access_token": "tok-123456", "ok": 1}', "tok-123456"),
        ("url?client_secret=s3cr3tvalue&x=1", "s3cr3tvalue"),
        ("password=hunter22;", "hunter22"),
        ("key sk_live_51HxYzAbCdEf used", "sk_live_51HxYzAbCdEf"),
        (
            "/push/salesforce/Zk3x9QmP0aB7cD2eF5gH8iJ1kL4mN6oP9qR2sT5uV8w/",
            "Zk3x9QmP0aB7cD2eF5gH8iJ1kL4mN6oP9qR2sT5uV8w",
        ),
    ],
)
def test_secret_looking_parts_are_hidden(text: str, secret: str):
    cleaned = scrub(text)
    assert secret not in cleaned
    assert HIDDEN in cleaned


def test_known_secrets_are_hidden_wherever_they_appear():
    assert scrub("the value plainwordsecret leaked", secrets=["plainwordsecret"]) == (
        f"the value {HIDDEN} leaked"
    )


def test_short_known_values_are_not_hunted_for():
    """A two-letter 'secret' would blank ordinary words out of the error."""
    assert scrub("the tax rate is wrong", secrets=["ta", ""]) == "the tax rate is wrong"


def test_what_support_needs_to_read_stays():
    text = (
        "Invoice INV-0042 for 0065g00000AbCdEAAV: contact 3f1c1a2e-0000-4000-8000-000000000001 "
        "is archived; GBP is not enabled in Demo Pty Ltd (ask billing@globex.example)."
    )
    assert scrub(text) == text

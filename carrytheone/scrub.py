"""Secrets out of everything we send elsewhere: log lines and Sentry events.

One rule for both, by key (a mapping's key that names a credential hides its value whatever
it is) and by value (text that looks like a bearer token, a JWT, a Stripe or Salesforce key, or
``access_token=...`` in a query string or form body is masked wherever it appears). What is
masked is replaced, never truncated: a line still reads, without the secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FILTERED = "[Filtered]"

# A mapping key whose value is a credential (``Authorization``, ``client_secret``,
# ``code_verifier``, ``refresh_token``, ``Cookie``, ``sessionid``...). ``code`` only on its
# own: ``account_code`` and ``currency_code`` are accounting, the OAuth ``code`` is a secret.
SECRET_KEY = re.compile(
    r"token|secret|passw(or)?d|credential|authorization|cookie|session|csrf|api[_-]?key"
    r"|private[_-]?key|signing[_-]?key|code[_-]?verifier|signature|^code$|^dsn$",
    re.IGNORECASE,
)

_NAMED = (
    r"access_token|refresh_token|id_token|client_secret|code_verifier|password|"
    r"assertion|token|sessionid|csrftoken"
)

_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer abc", "Bearer abc", "Basic dXNlcjpwYXNz".
    (
        re.compile(r"\b(Bearer|Basic|OAuth)\s+[A-Za-z0-9._~+/=!-]{8,}", re.IGNORECASE),
        r"\1 " + FILTERED,
    ),
    # access_token=...&code=... in a URL or a form body; "access_token": "..." in JSON.
    (re.compile(rf"\b({_NAMED})=[^&\s\"',;]+", re.IGNORECASE), r"\1=" + FILTERED),
    (
        re.compile(rf"([\"']({_NAMED})[\"']\s*:\s*)[\"'][^\"']*[\"']", re.IGNORECASE),
        r"\1" + f'"{FILTERED}"',
    ),
    # An OAuth authorisation code (long and random); "code=400" or "code": "INVALID_FIELD" in
    # an API's error is not one and stays readable.
    (re.compile(r"\bcode=[A-Za-z0-9._~+/%!-]{16,}"), "code=" + FILTERED),
    (
        re.compile(r"([\"']code[\"']\s*:\s*)[\"'][A-Za-z0-9._~+/%!-]{16,}[\"']"),
        r"\1" + f'"{FILTERED}"',
    ),
    # A JWT (Xero's access and id tokens are JWTs).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"), FILTERED),
    # Stripe secret, restricted and webhook-signing keys.
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9_]{8,}|\bwhsec_[A-Za-z0-9_]{8,}"), FILTERED),
    # A Salesforce session id / access token: the org id, "!", then the token.
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"), FILTERED),
    # A push endpoint's URL names its credential (integrations.sync.push): request lines
    # logged for a refused delivery, and Sentry's request URLs, would carry it.
    (re.compile(r"(/hooks/salesforce/outbound/)[^/\s\"'?#<>]+"), r"\1" + FILTERED),
    # A Slack incoming webhook's path is the channel's credential (an alert's destination):
    # Sentry's breadcrumb of the POST to it names it.
    (re.compile(r"(/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"), r"\1" + FILTERED),
    # Our own encrypted token format: nothing to read, but nothing to leak either.
    (re.compile(r"enc:fernet:[A-Za-z0-9_-]*:[A-Za-z0-9_=-]+"), FILTERED),
)


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking value masked."""
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_data(value: Any, *, depth: int = 0) -> Any:
    """A copy of nested mappings, lists and strings with secrets masked (by key and value).

    Sentry sends headers as a mapping or as ``[name, value]`` pairs: a pair whose name is a
    credential key is masked as well.
    """
    if depth > 20:
        return value
    if isinstance(value, Mapping):
        return {
            key: FILTERED
            if isinstance(key, str) and SECRET_KEY.search(key) and item not in (None, "")
            else scrub_data(item, depth=depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if (
            len(value) == 2
            and isinstance(value[0], str)
            and SECRET_KEY.search(value[0])
            and isinstance(value[1], str)
        ):
            return [value[0], FILTERED]
        return [scrub_data(item, depth=depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value

"""Text that leaves the account (a support request, its email) without anything like a secret.

Pure: no I/O. Error messages are written by our code from what Xero and Salesforce answered;
none should hold a credential, but an upstream error may echo a header or a URL, so this is
the last line: authorisation headers, JWTs, ``key=value`` pairs whose key names a credential,
provider key formats, long opaque strings, and the exact values the caller knows are secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HIDDEN = "[hidden]"
# A caller's known secret shorter than this is not looked for (it would hide ordinary words).
MIN_KNOWN_SECRET_LENGTH = 8

_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_CREDENTIAL_PAIR = re.compile(
    r"""(?ix)
    (["']?
      (?:access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|api[_-]?key|
         password|passwd|secret|authorization|signature|session[_-]?id|token)
    ["']?\s*[:=]\s*)
    ("[^"]*"|'[^']*'|[^\s,;&}\]]+)
    """
)
_PROVIDER_KEY = re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9_]+")
# Ids (Salesforce's 18, Xero's 36-character GUIDs) stay; a 40+ character run of letters and
# digits together is a token far more often than anything a person needs to read.
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_+/-]{40,}={0,2}")


def _is_opaque(match: re.Match[str]) -> str:
    value = match.group(0)
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return HIDDEN if has_digit and has_alpha else value


def scrub(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret-looking part replaced by ``[hidden]``."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_KNOWN_SECRET_LENGTH}, key=len)[::-1]:
        text = text.replace(secret, HIDDEN)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {HIDDEN}", text)
    text = _JWT.sub(HIDDEN, text)
    text = _CREDENTIAL_PAIR.sub(lambda m: f"{m.group(1)}{HIDDEN}", text)
    text = _PROVIDER_KEY.sub(HIDDEN, text)
    return _OPAQUE.sub(_is_opaque, text)

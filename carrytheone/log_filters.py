"""Logging filters: what must never reach a log line."""

from __future__ import annotations

import logging
import re

from carrytheone.logcontext import FIELDS
from carrytheone.scrub import scrub_data, scrub_text

# "?" up to the next space or quote: the query string of a logged request line.
_QUERY_STRING = re.compile(r"\?[^\s\"]*")


def strip_query_string(text: str) -> str:
    """``GET /integrations/xero/callback/?code=...&state=... HTTP/1.1`` without its query."""
    return _QUERY_STRING.sub("", text)


class StripQueryString(logging.Filter):
    """Drops query strings from request lines (runserver's ``django.server`` logger).

    OAuth callbacks carry a one-time ``code`` and ``state`` in their query strings; an access
    log is read by more people, and kept longer, than the code is secret for.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                strip_query_string(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif not record.args and isinstance(record.msg, str):
            record.msg = strip_query_string(record.msg)
        return True


class ScrubSecrets(logging.Filter):
    """Masks tokens, secrets and credentials in a record's message, traceback and extras
    (``carrytheone.scrub``): a provider's answer or an exception quoting a request must not
    carry a token into the log."""

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        for key in extra_fields(record):
            setattr(record, key, scrub_data({key: getattr(record, key)})[key])
        return True


# What every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def extra_fields(record: logging.LogRecord) -> list[str]:
    """The names a caller added with ``extra=`` (the log context's ids excluded)."""
    return [
        key
        for key in vars(record)
        if key not in _STANDARD_ATTRIBUTES and key not in FIELDS and not key.startswith("_")
    ]

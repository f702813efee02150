"""Logging filters: what must never reach a log line."""

from __future__ import annotations

import logging
import re

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

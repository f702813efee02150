"""Log formats: one JSON object per line for production (``LOG_FORMAT=json``), and readable text
for ``make run`` (``LOG_FORMAT=text``). Both carry the log context's ids
(``carrytheone.logcontext``); the filters in ``carrytheone.log_filters`` have scrubbed secrets
before either runs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from carrytheone.log_filters import extra_fields, strip_query_string
from carrytheone.logcontext import FIELDS
from carrytheone.scrub import scrub_text

_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    """Plain values as they are; anything else (a request object...) as scrubbed text without
    its query string, so one odd ``extra`` never breaks the line or leaks a URL's secrets."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return scrub_text(strip_query_string(str(value)))


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", <ids>, <extras>, "exception"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        for key in extra_fields(record):
            entry.setdefault(key, _jsonable(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines: a traceback stays on its event's line.
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message [account_id=… run_id=…]`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{field}={value}"
            for field in FIELDS
            if (value := getattr(record, field, None)) is not None
        )
        if not ids:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{ids}]{newline}{rest}"

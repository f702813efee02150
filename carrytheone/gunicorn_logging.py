"""gunicorn's access log, scrubbed like our own log lines (``carrytheone.scrub``), and in the
same shape as them: one JSON object per line under ``LOG_FORMAT=json``.

A request's path can be a credential: a push endpoint's URL is its token, and Salesforce
posts to it all day, so an access log that names paths would hold it in every line.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
from typing import Any

from gunicorn.glogging import Logger

from carrytheone.scrub import scrub_text


class ScrubbedLogger(Logger):
    """gunicorn's logger with the request line and path scrubbed of secrets."""

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = scrub_text(atoms[key])
        return atoms

    def access(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta
    ) -> None:
        if not _json_lines() or not self.access_log_enabled:
            super().access(resp, req, environ, request_time)
            return
        try:
            self.access_log.info(access_entry(self.atoms(resp, req, environ, request_time)))
        except Exception:
            self.error(traceback.format_exc())


def _json_lines() -> bool:
    """Whether the app logs JSON: the settings are loaded in a worker once it serves."""
    from django.conf import settings

    return bool(settings.configured and settings.LOG_FORMAT == "json")


def access_entry(atoms: dict[str, Any]) -> str:
    """One access line as carrytheone.log_format.JsonFormatter writes the app's, so a log
    collector joins it to the request's own lines by ``request_id`` (our X-Request-ID)."""
    status = atoms.get("s")
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "level": "INFO",
        "logger": "gunicorn.access",
        "message": f"{atoms.get('m', '-')} {atoms.get('U', '-')} {status}",
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": int(str(status)) if str(status).isdigit() else status,
        "bytes": int(atoms["B"]) if str(atoms.get("B")).isdigit() else 0,
        "duration_ms": round(int(atoms.get("D") or 0) / 1000, 1),
        "remote": atoms.get("h"),
        "user_agent": atoms.get("a"),
    }
    request_id = atoms.get("{x-request-id}o")
    if request_id and request_id != "-":
        entry["request_id"] = request_id
    return json.dumps(entry, ensure_ascii=False, default=str)

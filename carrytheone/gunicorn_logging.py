"""gunicorn's access log, scrubbed like our own log lines (``carrytheone.scrub``).

A request's path can be a credential: a push endpoint's URL is its token, and Salesforce
posts to it all day, so an access log that names paths would hold it in every line.
"""

from __future__ import annotations

import datetime as dt
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

"""Request bodies sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``).

Django reads a body only as far as ``CONTENT_LENGTH`` says (``WSGIRequest`` wraps
``wsgi.input`` in a ``LimitedStream`` of that length): without the header it reads nothing, so a
chunked POST — what jsforce's token exchange sends, and any client streaming its body — arrives
empty and fails in a way nobody can see. gunicorn (and uWSGI, mod_wsgi) decode the chunks
themselves and say so with ``wsgi.input_terminated``: their ``wsgi.input`` ends where the body
ends. This middleware reads such a body whole (bounded) and gives Django the length.

A server that does not set ``wsgi.input_terminated`` (Django's own test server) hands over a
stream whose end is unknown, so the body cannot be read safely: the request is refused with 411
Length Required, as RFC 9110 allows, and the connection closed (its unread chunks would
otherwise be taken for the next request), instead of being served with an empty body.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

# Larger than any body this product takes (the Outbound Message cap is 1 MiB); bounded so a
# chunked stream cannot make a worker hold an unlimited body in memory.
MAX_CHUNKED_BODY = 10 * 1024 * 1024
_READ = 64 * 1024


class ChunkedBodies:
    def __init__(self, app: WSGIApplication, *, max_bytes: int = MAX_CHUNKED_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _refuse(
                start_response,
                "411 Length Required",
                b"A chunked request body needs a server that decodes it; send Content-Length.\n",
            )
        body = _read_all(environ["wsgi.input"], self.max_bytes)
        if body is None:
            return _refuse(
                start_response, "413 Content Too Large", b"The request body is too large.\n"
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _read_all(stream: Any, limit: int) -> bytes | None:
    """The stream to its end; None once it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        part = stream.read(_READ)
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > limit:
            return None
        parts.append(part)


def _refuse(start_response: StartResponse, status: str, text: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(text))),
            ("Connection", "close"),
        ],
    )
    return [text]

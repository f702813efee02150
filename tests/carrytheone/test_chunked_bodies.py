"""Bodies sent with ``Transfer-Encoding: chunked`` (jsforce's token exchange does): read whole
behind a server that decodes chunks (gunicorn, as `make run` and production serve), refused
with 411 — never served as an empty body — behind one that cannot (Django's runserver)."""

from __future__ import annotations

import http.client
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings

from carrytheone.chunked import ChunkedBodies
from sandbox.salesforce import services
from tests.sandbox.salesforce.conftest import make_org
from tests.stack import ROOT, free_port


def _echo_length(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def _call(app: ChunkedBodies, **environ: Any) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)
        return lambda data: None

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_a_decoded_chunked_body_gets_its_length_and_reaches_the_app_whole():
    app = ChunkedBodies(_echo_length, max_bytes=100)
    body = b"grant_type=refresh_token&x=" + b"y" * 50
    status, _, answer = _call(
        app,
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert (status, answer) == ("200 OK", body)
    status, _, _ = _call(
        app,
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b"z" * 101), "wsgi.input_terminated": True},
    )
    assert status.startswith("413")
    # A length given is left alone, chunked or not.
    status, _, answer = _call(app, CONTENT_LENGTH="3", **{"wsgi.input": io.BytesIO(b"abcdef")})
    assert answer == b"abc"


def test_a_chunked_body_the_server_did_not_decode_is_refused_and_the_connection_closed():
    status, headers, _ = _call(
        ChunkedBodies(_echo_length),
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b"5\r\nhello\r\n0\r\n\r\n")},
    )
    assert status.startswith("411")
    assert headers["Connection"] == "close"


def _chunks(body: bytes) -> Iterator[bytes]:
    yield body[:10]
    yield body[10:]


def _post_chunked(url: str, path: str, form: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=_chunks(urlencode(form).encode()),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


def _procfile_web(port: int) -> list[str]:
    """The Procfile's web command as `make run` runs it (through this interpreter's gunicorn)."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    argv = shlex.split(line.removeprefix("web:").replace("$PORT", str(port)))
    assert argv[0].endswith("/gunicorn"), argv
    return [sys.executable, "-m", "gunicorn", *argv[1:]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_make_runs_web_server_takes_jsforces_chunked_token_exchange(tmp_path):
    """A real chunked POST over a socket to the sandbox Salesforce's token endpoint, served by
    the Procfile's web process: the refresh token in the chunked body is read, a session comes
    back."""
    org = make_org("Chunked Org")
    app = services.demo_app()
    refresh, _ = services.refresh_token_create(org=org, app=app, scope="api refresh_token")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "DJANGO_SETTINGS_MODULE": "carrytheone.settings",
        "DEBUG": "1",
        "SANDBOX_ENABLED": "1",
        "PORT": str(port),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": _database_url(),
        "SANDBOX_DATABASE_URL": "",
    }
    log = (tmp_path / "web.log").open("wb")
    server = subprocess.Popen(
        _procfile_web(port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            try:
                status, body = _post_chunked(
                    url,
                    "/services/oauth2/token",
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": refresh,
                        "client_id": app.consumer_key,
                        "client_secret": app.consumer_secret,
                    },
                )
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.3)
        assert status == 200, body
        answer = json.loads(body)
        assert answer["access_token"]
        assert answer["id"].endswith(f"/id/{org.org_id}/{org.user_id}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

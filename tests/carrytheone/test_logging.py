"""Structured logs: one JSON line per event with the ids of its request, task or run, and no
secret in any of them."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from celery import shared_task
from django.conf import settings
from django.urls import reverse

from carrytheone import logcontext
from carrytheone.log_filters import ScrubSecrets
from carrytheone.log_format import JsonFormatter, TextFormatter

BEARER = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


@pytest.fixture
def captured():
    """The production handler's filters and formatter, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logcontext.ContextFilter())
    handler.addFilter(ScrubSecrets())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_one_json_line_per_event_with_the_bound_ids(captured):
    with logcontext.bind(account_id=7, integration_id=12), logcontext.bind(run_id=99):
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            logging.getLogger("integrations.sync").exception("run %s failed", 99)
    logging.getLogger("integrations.sync").info("after")

    first, after = captured()
    assert first["level"] == "ERROR"
    assert first["logger"] == "integrations.sync"
    assert first["message"] == "run 99 failed"
    assert (first["account_id"], first["integration_id"], first["run_id"]) == (7, 12, 99)
    assert "ValueError: boom" in first["exception"]
    assert first["time"].endswith("+00:00")
    # The block's ids are gone once it ends.
    assert "run_id" not in after
    assert "account_id" not in after


def test_secrets_are_masked_in_messages_extras_and_tracebacks(captured):
    log = logging.getLogger("integrations.connections")
    try:
        raise RuntimeError("refused: refresh_token=r3fr3sh-t0ken-value&client_secret=hush")
    except RuntimeError:
        log.exception(
            "token endpoint answered %s",
            '{"access_token": "a1b2c3d4e5", "expires_in": 1800}',
            extra={"headers": {"Authorization": BEARER, "Accept": "application/json"}},
        )

    (line,) = captured()
    text = json.dumps(line)
    for secret in ("a1b2c3d4e5", "r3fr3sh-t0ken-value", "hush", "eyJhbGci"):
        assert secret not in text
    assert line["headers"] == {"Authorization": "[Filtered]", "Accept": "application/json"}
    assert '"expires_in": 1800' in line["message"]


def test_text_format_appends_the_ids():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with logcontext.bind(request_id="abc", account_id=3):
        logcontext.ContextFilter().filter(record)
    assert TextFormatter().format(record).endswith("INFO x hello [account_id=3 request_id=abc]")


def test_log_format_follows_the_setting():
    assert settings.LOGGING["handlers"]["console"]["formatter"] == settings.LOG_FORMAT
    assert settings.LOG_FORMAT == "json"  # DEBUG is off in the tests, as in production
    assert {"log_context", "scrub_secrets"} <= set(
        settings.LOGGING["handlers"]["console"]["filters"]
    )
    logging.config.dictConfig(settings.LOGGING)  # the config loads


def test_bind_refuses_unknown_fields():
    with pytest.raises(TypeError), logcontext.bind(customer="x"):
        pass


@pytest.mark.django_db
def test_a_request_has_an_id_and_its_account(owner_client, account, monkeypatch):
    """A given X-Request-ID is used and returned; a view under account_view adds the account."""
    from accounts.models import Membership

    seen: list[dict[str, int | str]] = []
    has_role = Membership.has_role

    def spy(membership, role):
        # Called by account_view right after it resolved the account.
        seen.append(logcontext.current())
        return has_role(membership, role)

    monkeypatch.setattr(Membership, "has_role", spy)
    response = owner_client.get(
        reverse("accounts:dashboard", kwargs={"account_slug": account.slug}),
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-123"
    assert seen[0] == {"request_id": "req-123", "account_id": account.pk}
    assert logcontext.current() == {}


@pytest.mark.django_db
def test_a_forged_request_id_is_replaced(client):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID='x" level="CRITICAL')
    assert response["X-Request-ID"] != 'x" level="CRITICAL'
    assert len(response["X-Request-ID"]) == 32


@shared_task(name="tests.carrytheone.log_ids")
def log_ids(integration_id: int) -> dict[str, int | str]:
    logging.getLogger("tests.task").info("inside")
    return logcontext.current()


def test_a_task_binds_its_id_and_integration(captured):
    with logcontext.bind(request_id="outer"):
        ids = log_ids.apply(args=(42,), task_id="task-1").get()
        assert logcontext.current() == {"request_id": "outer"}
    assert ids == {"request_id": "outer", "task_id": "task-1", "integration_id": 42}
    (line,) = [line for line in captured() if line["logger"] == "tests.task"]
    assert (line["task_id"], line["integration_id"]) == ("task-1", 42)
    by_keyword = log_ids.apply(kwargs={"integration_id": 5}, task_id="task-2").get()
    assert by_keyword == {"task_id": "task-2", "integration_id": 5}


def test_every_configured_handler_scrubs_secrets():
    """No logger keeps a handler of Django's defaults (its console handler with DEBUG, error
    emails without) that would write a record before, or without, the scrubbing filter."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    unscrubbed = [
        f"{logger.name}: {type(handler).__name__}"
        for logger in loggers
        for handler in logger.handlers
        # pytest's capturing handlers, and the Sentry SDK's report of its own failures (it
        # names no record of ours), are not the product's.
        if not type(handler).__module__.startswith("_pytest")
        and not logger.name.startswith("sentry_sdk")
        and not isinstance(handler, logging.NullHandler)
        and not any(isinstance(f, ScrubSecrets) for f in [*handler.filters, *logger.filters])
    ]
    assert unscrubbed == []


def test_the_gunicorn_access_log_names_no_push_token():
    import datetime as dt
    from types import SimpleNamespace

    from gunicorn.config import Config

    from carrytheone.gunicorn_logging import ScrubbedLogger

    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/hooks/salesforce/outbound/Zx9-secret-push-token/",
        "PATH_INFO": "/hooks/salesforce/outbound/Zx9-secret-push-token/",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = ScrubbedLogger(Config()).atoms(
        SimpleNamespace(status="200 OK", sent=2, headers=[]), [], environ, dt.timedelta(0)
    )
    assert atoms["U"] == "/hooks/salesforce/outbound/[Filtered]/"
    assert atoms["r"] == "POST /hooks/salesforce/outbound/[Filtered]/ HTTP/1.1"


def test_the_access_log_is_a_json_line_scrubbed_and_joined_by_request_id(settings):
    import datetime as dt
    import json
    import logging
    from types import SimpleNamespace

    from gunicorn.config import Config

    from carrytheone.gunicorn_logging import ScrubbedLogger

    settings.LOG_FORMAT = "json"
    config = Config()
    config.set("accesslog", "-")
    logger = ScrubbedLogger(config)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.access_log.addHandler(Keep())
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/hooks/salesforce/outbound/Zx9-secret-push-token/",
        "PATH_INFO": "/hooks/salesforce/outbound/Zx9-secret-push-token/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = SimpleNamespace(
        status="202 Accepted", status_code=202, sent=15, headers=[("X-Request-ID", "abc123")]
    )
    logger.access(response, [], environ, dt.timedelta(milliseconds=12))

    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["logger"] == "gunicorn.access"
    assert entry["path"] == "/hooks/salesforce/outbound/[Filtered]/"
    assert "Zx9-secret-push-token" not in lines[0]
    assert entry["status"] == 202
    assert entry["duration_ms"] == 12.0
    assert entry["request_id"] == "abc123"

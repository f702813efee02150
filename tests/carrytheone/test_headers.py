"""What responses and logs give away: caching of signed-in pages, form targets, server name,
OAuth codes in access logs."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from integrations.core.models import Integration
from tests.carrytheone.test_settings import _run_django

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "ZGVwbG95LWNoZWNrLXRlc3Qta2V5LTMyLWJ5dGVzISE="


# --- Cache-Control: no-store on every signed-in page ------------------------------------------


@pytest.mark.django_db
def test_signed_in_pages_are_never_stored(account, support_client):
    """Dashboard, integration page and sync log: no-store, so no proxy or back button keeps
    one customer's data."""
    integration = Integration.objects.create(account=account, name="Main")
    ids = {"account_slug": account.slug, "integration_id": integration.pk}
    for url in (
        reverse("accounts:dashboard", kwargs={"account_slug": account.slug}),
        reverse("integrations:list", kwargs={"account_slug": account.slug}),
        reverse("integrations:detail", kwargs=ids),
        reverse("integrations:log", kwargs=ids),
        reverse("accounts:account_list"),
    ):
        response = support_client.get(url)
        assert response.status_code == 200, url
        cache_control = response["Cache-Control"]
        assert "no-store" in cache_control, url
        assert "private" in cache_control, url


@pytest.mark.django_db
def test_public_pages_and_static_files_stay_cacheable(settings, support_client):
    response = Client().get("/")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")

    # A static file, even to a signed-in browser, keeps WhiteNoise's own caching.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    signed_in = Client()
    signed_in.cookies = support_client.cookies
    response = signed_in.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "max-age" in response["Cache-Control"]


# --- Content-Security-Policy: form-action ------------------------------------------------------


@pytest.mark.django_db
def test_forms_may_post_only_to_us_and_the_oauth_authorize_hosts(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    sources = directives["form-action"].split()
    assert sources[0] == "'self'"
    assert "frame-ancestors" in directives


def test_form_action_allows_the_real_authorize_hosts_without_the_sandbox(tmp_path):
    """The Connect Xero/Salesforce forms post to us, then redirects to the provider; browsers check
    that redirect against form-action too, so the configured hosts must be allowed."""
    code = "from django.conf import settings; print(settings.CONTENT_SECURITY_POLICY)"
    policy = _run_django(code, tmp_path, SANDBOX_ENABLED="0", SITE_URL="https://app.example.com")
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    sources = form_action.split()[1:]
    assert sources[0] == "'self'"
    assert "https://app.example.com" in sources  # the OAuth callbacks
    assert "https://login.xero.com" in sources
    assert "https://login.salesforce.com" in sources
    # Users may choose test.salesforce.com or their My Domain when they connect.
    assert {"https://*.salesforce.com", "https://*.force.com"} <= set(sources)
    assert "*" not in sources
    assert not any(s.startswith("http:") for s in sources)


# --- Logs without OAuth codes -----------------------------------------------------------------


def test_runserver_request_lines_are_logged_without_query_strings():
    """make run's request log: the callback's path, never its one-time code and state."""
    logger = logging.getLogger("django.server")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        # Exactly what django.core.servers.basehttp.WSGIRequestHandler.log_message logs.
        logger.info(
            '"%s" %s %s',
            "GET /integrations/xero/callback/?code=SECRET-CODE&state=SECRET-STATE HTTP/1.1",
            "302",
            "0",
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert '"GET /integrations/xero/callback/ HTTP/1.1" 302 0' in line
    assert "SECRET" not in line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_names_no_product_and_logs_no_query_strings(tmp_path):
    """The web process as docker-compose starts it (gunicorn, from the project directory)."""
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "GUNICORN_CMD_ARGS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="carrytheone.settings",
        DEBUG="0",
        SECRET_KEY="gunicorn-test-secret-key-with-enough-length-0123456789abcdef",
        ALLOWED_HOSTS="127.0.0.1",
        FIELD_ENCRYPTION_KEYS=FERNET_KEY,
        SECURE_SSL_REDIRECT="0",
        VAR_DIR=str(tmp_path / "var"),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "carrytheone.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(access_log),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/integrations/xero/callback/?code=SECRET-CODE&state=SECRET-STATE"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                opener = urllib.request.build_opener(_NoRedirect)
                response = opener.open(url, timeout=5)
            except urllib.error.HTTPError as exc:
                response = exc
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
            else:
                break
        assert response.headers.get("Server", "").strip() == ""
        deadline = time.monotonic() + 10
        while "/integrations/xero/callback/" not in access_log.read_text():
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=20)
    logged = access_log.read_text()
    assert "SECRET" not in logged
    assert "code=" not in logged


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_site_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")

"""Error pages are readable in both modes under the strict CSP: our own pages styled from
static CSS without DEBUG; Django's debug pages, with DEBUG, allowed their inline blocks by hash
(never 'unsafe-inline')."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from carrytheone.urls import urlpatterns as site_urlpatterns


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the error page test failed on purpose")


# Set by the test: the page shows the source around each frame, so no secret is a literal.
SECRETS: dict[str, str] = {}


def _boom_holding_secrets(request: HttpRequest) -> HttpResponse:
    from integrations.connections.providers import TokenSet

    refresh_token = SECRETS["local"]
    credentials = {"access_token": SECRETS["dict"], "instance_url": "https://x.example"}
    tokens = TokenSet(access_token=SECRETS["tokenset"], refresh_token="", expires_at=None)  # type: ignore[arg-type]
    note = f"Authorization: Bearer {SECRETS['bearer']} went with it"
    raise RuntimeError(f"failed holding {refresh_token and credentials and tokens and note and 4}")


urlpatterns = [
    path("boom/", _boom),
    path("boom-holding-secrets/", _boom_holding_secrets),
    *site_urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _directive(policy: str, name: str) -> str:
    return next(d.strip() for d in policy.split(";") if d.strip().startswith(name + " "))


def test_without_debug_the_500_page_is_ours_styled_from_static_files(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "/static/css/app.css" in body
    assert "<style" not in body
    assert "style=" not in body
    assert "the error page test failed on purpose" not in body  # no traceback for the public
    assert _directive(response["Content-Security-Policy"], "style-src") == "style-src 'self'"


def test_without_debug_404_is_the_panel_page(settings, client):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "/static/css/app.css" in response.content.decode()


def test_with_debug_the_technical_500_page_may_use_exactly_its_inline_blocks(settings):
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "the error page test failed on purpose" in body  # Django's traceback page
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    styles = re.findall(r"<style[^>]*>(.*?)</style>", body, re.DOTALL)
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", body, re.DOTALL)
    assert styles
    assert scripts
    for style in styles:
        assert _sha256(style) in _directive(policy, "style-src")
    for script in scripts:
        assert _sha256(script) in _directive(policy, "script-src")
    # The frames' "toggle" links are inline handlers: allowed by hash, one by one.
    handler = re.search(r'onclick="(toggle\([^"]*\))"', body)
    assert handler is not None
    assert "'unsafe-hashes'" in _directive(policy, "script-src")
    assert _sha256(handler.group(1)) in _directive(policy, "script-src")


def test_with_debug_the_technical_404_page_is_styled_and_other_pages_stay_strict(settings, client):
    settings.DEBUG = True
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    style = re.search(r"<style[^>]*>(.*?)</style>", response.content.decode(), re.DOTALL)
    assert style is not None
    assert _sha256(style.group(1)) in _directive(response["Content-Security-Policy"], "style-src")
    # An ordinary page gets no hash at all.
    assert _directive(client.get("/login/")["Content-Security-Policy"], "style-src") == (
        "style-src 'self'"
    )


def test_with_debug_the_technical_500_page_shows_no_secret(settings):
    """Django shows every frame's variables and the POST data with DEBUG on; ours masks what
    is named like a credential or looks like one, as the logs and Sentry do."""
    settings.DEBUG = True
    SECRETS.update({name: secrets.token_urlsafe(16) for name in ("local", "dict", "tokenset")})
    SECRETS["bearer"] = secrets.token_hex(16)
    password = secrets.token_urlsafe(16)
    response = Client(raise_request_exception=False).post(
        "/boom-holding-secrets/", {"password": password, "note": "kept"}
    )
    assert response.status_code == 500
    body = response.content.decode()
    assert "failed holding 4" in body
    for name, secret in [*SECRETS.items(), ("password", password)]:
        assert secret not in body, name
    assert "https://x.example" in body  # the rest of the frame still reads
    assert "kept" in body

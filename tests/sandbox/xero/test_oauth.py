"""OAuth2 against the simulated Xero: consent, code, PKCE, refresh rotation, connections."""

from __future__ import annotations

import datetime as dt
import json
import re
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from django.core.management import call_command

from sandbox.xero import clock
from sandbox.xero.models import XeroOrganisation
from tests.sandbox.xero.conftest import Raw

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "carrytheone-sandbox"
SECRET = "sandbox-secret-xero"
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = "openid offline_access accounting.transactions accounting.contacts accounting.settings"


def _consent(demo: str, *, orgs: list[str], action: str = "allow", pkce: bool = True):
    """Walk the consent page like a browser; return the OAuth session, the redirect and verifier."""
    verifier = generate_token(48)
    session = OAuth2Session(
        CLIENT_ID,
        SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256" if pkce else None,
    )
    url, state = session.create_authorization_url(
        f"{demo}/identity/connect/authorize", code_verifier=verifier if pkce else None
    )
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf is not None
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    ids = [str(o.pk) for o in XeroOrganisation.objects.filter(name__in=orgs)]
    answer = browser.post(
        f"{demo}/identity/connect/authorize",
        data={
            **hidden,
            "csrfmiddlewaretoken": csrf.group(1),
            "organisations": ids,
            "action": action,
        },
        headers={"Referer": url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert parse_qs(urlparse(location).query)["state"] == [state]
    return session, location, verifier


def _token(demo: str, session: OAuth2Session, location: str, verifier: str) -> dict[str, Any]:
    return dict(
        session.fetch_token(
            f"{demo}/identity/connect/token",
            authorization_response=location,
            code_verifier=verifier,
        )
    )


def test_consent_with_pkce_connects_the_chosen_organisations(demo):
    """Two organisations chosen → a token whose connections list both; the API takes either."""
    session, location, verifier = _consent(demo, orgs=["Demo Widgets Ltd", "Demo UK Ltd"])
    token = _token(demo, session, location, verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 1800
    assert token["scope"] == SCOPE
    assert token["refresh_token"]
    conns = requests.get(
        f"{demo}/connections",
        timeout=10,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert sorted(c["tenantName"] for c in conns) == ["Demo UK Ltd", "Demo Widgets Ltd"]
    assert {c["tenantType"] for c in conns} == {"ORGANISATION"}
    for conn in conns:
        raw = Raw(demo, {"access_token": token["access_token"], "tenant_id": conn["tenantId"]})
        org = raw.call("GET", "Organisation").json()["Organisations"][0]
        assert org["Name"] == conn["tenantName"]
    other = XeroOrganisation.objects.get(name="Demo NZ Ltd")
    raw = Raw(
        demo, {"access_token": token["access_token"], "tenant_id": str(other.organisation_id)}
    )
    answer = raw.call("GET", "Organisation")
    assert answer.status_code == 403
    assert answer.json()["Detail"] == "AuthenticationUnsuccessful"


def test_pkce_verifier_must_match(demo):
    _, location, _ = _consent(demo, orgs=["Demo Widgets Ltd"])
    code = parse_qs(urlparse(location).query)["code"][0]
    answer = requests.post(
        f"{demo}/identity/connect/token",
        auth=(CLIENT_ID, SECRET),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": "not-the-verifier",
        },
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_code_without_pkce_with_form_client_auth_is_single_use(demo):
    _, location, _ = _consent(demo, orgs=["Demo Widgets Ltd"], pkce=False)
    code = parse_qs(urlparse(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    first = requests.post(f"{demo}/identity/connect/token", data=form, timeout=10)
    assert first.status_code == 200
    second = requests.post(f"{demo}/identity/connect/token", data=form, timeout=10)
    assert second.json() == {"error": "invalid_grant"}
    bad = requests.post(
        f"{demo}/identity/connect/token", data={**form, "client_secret": "x"}, timeout=10
    )
    assert bad.json()["error"] == "invalid_client"


def test_declining_redirects_with_access_denied(demo):
    _, location, _ = _consent(demo, orgs=[], action="deny")
    assert parse_qs(urlparse(location).query)["error"] == ["access_denied"]


def test_refresh_rotates_with_a_30_minute_grace_then_invalid_grant(demo):
    session, location, verifier = _consent(demo, orgs=["Demo Widgets Ltd"])
    token = _token(demo, session, location, verifier)
    url = f"{demo}/identity/connect/token"

    def refresh(value: str) -> requests.Response:
        return requests.post(
            url,
            auth=(CLIENT_ID, SECRET),
            timeout=10,
            data={"grant_type": "refresh_token", "refresh_token": value},
        )

    first = refresh(token["refresh_token"]).json()
    assert first["refresh_token"] != token["refresh_token"]
    assert first["scope"] == SCOPE
    clock.advance(dt.timedelta(minutes=29))
    again = refresh(token["refresh_token"]).json()
    assert again["refresh_token"] == first["refresh_token"]
    assert again["access_token"] == first["access_token"]
    clock.advance(dt.timedelta(minutes=2))
    late = refresh(token["refresh_token"])
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    assert refresh(first["refresh_token"]).status_code == 200


def test_refresh_token_dies_after_60_days_unused(demo):
    session, location, verifier = _consent(demo, orgs=["Demo Widgets Ltd"])
    token = _token(demo, session, location, verifier)
    clock.advance(dt.timedelta(days=61))
    answer = requests.post(
        f"{demo}/identity/connect/token",
        auth=(CLIENT_ID, SECRET),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        timeout=10,
    )
    assert answer.json() == {"error": "invalid_grant"}


def test_expired_and_unknown_access_tokens_get_401(demo, token):
    raw = Raw(demo, token)
    assert raw.call("GET", "Organisation").status_code == 200
    clock.advance(dt.timedelta(minutes=31))
    expired = raw.call("GET", "Organisation")
    assert expired.status_code == 401
    assert expired.json()["Title"] == "Unauthorized"
    assert expired.json()["Detail"].startswith("TokenExpired")
    unknown = Raw(demo, {**token, "access_token": "nope"}).call("GET", "Organisation")
    assert unknown.status_code == 401


def test_connections_delete_and_revocation(demo):
    session, location, verifier = _consent(demo, orgs=["Demo Widgets Ltd", "Demo Pty Ltd"])
    token = _token(demo, session, location, verifier)
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    conns = requests.get(f"{demo}/Connections", headers=auth, timeout=10).json()
    gone = requests.delete(f"{demo}/connections/{conns[0]['id']}", headers=auth, timeout=10)
    assert gone.status_code == 204
    again = requests.delete(f"{demo}/connections/{conns[0]['id']}", headers=auth, timeout=10)
    assert again.status_code == 404
    assert len(requests.get(f"{demo}/connections", headers=auth, timeout=10).json()) == 1
    revoked = requests.post(
        f"{demo}/identity/connect/revocation",
        auth=(CLIENT_ID, SECRET),
        data={"token": token["refresh_token"]},
        timeout=10,
    )
    assert revoked.status_code == 200
    assert requests.get(f"{demo}/connections", headers=auth, timeout=10).status_code == 401


def test_sdk_identity_api_lists_connections(demo, token):
    from xero_python.identity import IdentityApi

    from tests.sandbox.xero.conftest import make_api

    accounting = make_api(demo, token)
    identity = IdentityApi(accounting.api_client, base_url=demo)
    connections = identity.get_connections()
    assert [str(c.tenant_id) for c in connections] == [token["tenant_id"]]


def test_sandbox_token_command_prints_a_working_token(demo):
    out = StringIO()
    call_command("sandbox_token", "xero", "--org", "Demo UK Ltd", stdout=out)
    token = json.loads(out.getvalue())
    assert set(token) >= {
        "access_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "scope",
        "tenant_id",
    }
    org = Raw(demo, token).call("GET", "Organisation").json()["Organisations"][0]
    assert org["Name"] == "Demo UK Ltd"
    assert org["BaseCurrency"] == "GBP"

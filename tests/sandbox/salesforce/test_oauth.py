"""The web-server flow as a client library runs it: consent page, code, token, refresh, revoke."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from simple_salesforce.exceptions import SalesforceExpiredSession

from sandbox.salesforce import services
from sandbox.salesforce.models import ConnectedApp
from tests.sandbox.salesforce.conftest import error_body, make_org, sf_client

CALLBACK = "http://localhost/callback"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app(db) -> ConnectedApp:
    return ConnectedApp.objects.create(
        name="Test app", consumer_key="ck-test", consumer_secret="cs-test", callback_urls=[CALLBACK]
    )


@pytest.fixture
def oauth(app, sandbox_url, monkeypatch) -> OAuth2Session:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback test server speaks http
    return OAuth2Session(
        "ck-test",
        "cs-test",
        scope="api refresh_token",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )


def _consent(
    sandbox_url: str,
    oauth: OAuth2Session,
    verifier: str,
    decision: str,
    org_pk: int | None = None,
) -> str:
    """Open the consent page, submit it like a browser, return the redirect's Location."""
    url, _state = oauth.create_authorization_url(
        f"{sandbox_url}/services/oauth2/authorize", code_verifier=verifier
    )
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    assert "Allow access" in page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields["decision"] = decision
    if org_pk is not None:
        fields["org"] = str(org_pk)
    answer = browser.post(url, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_web_server_flow_with_pkce_refresh_and_revoke(sandbox_url, oauth):
    """Approve → code → tokens that work; refresh gives a new session; revoke kills both."""
    org = make_org("Flow Org")
    verifier = generate_token(48)
    location = _consent(sandbox_url, oauth, verifier, "allow")
    assert location.startswith(CALLBACK)
    token = oauth.fetch_token(
        f"{sandbox_url}/services/oauth2/token",
        authorization_response=location,
        code_verifier=verifier,
    )
    assert token["instance_url"] == sandbox_url
    assert token["id"] == f"{sandbox_url}/id/{org.org_id}/{org.user_id}"
    assert token["token_type"] == "Bearer"
    assert token["access_token"].startswith(org.org_id[:15] + "!")
    assert token["issued_at"].isdigit()
    assert token["signature"]

    sf = sf_client(sandbox_url, org, token["access_token"])
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0

    identity = requests.get(
        token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    ).json()
    assert identity["organization_id"] == org.org_id
    assert identity["user_id"] == org.user_id

    refreshed = oauth.refresh_token(
        f"{sandbox_url}/services/oauth2/token", refresh_token=token["refresh_token"]
    )
    assert refreshed["access_token"] != token["access_token"]
    assert "refresh_token" not in refreshed or refreshed["refresh_token"] == token["refresh_token"]
    sf_client(sandbox_url, org, refreshed["access_token"]).query("SELECT Id FROM Account")

    revoked = requests.post(
        f"{sandbox_url}/services/oauth2/revoke", data={"token": token["refresh_token"]}, timeout=10
    )
    assert revoked.status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        sf_client(sandbox_url, org, refreshed["access_token"]).query("SELECT Id FROM Account")
    again = requests.post(
        f"{sandbox_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "ck-test",
            "client_secret": "cs-test",
        },
        timeout=10,
    )
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


def test_deny_redirects_with_access_denied(sandbox_url, oauth):
    make_org("Flow Org")
    location = _consent(sandbox_url, oauth, generate_token(48), "deny")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"]


def _post_token(sandbox_url: str, **data: str) -> requests.Response:
    return requests.post(f"{sandbox_url}/services/oauth2/token", data=data, timeout=10)


def test_bad_code_wrong_verifier_and_bad_client(sandbox_url, oauth):
    make_org("Flow Org")
    bad = _post_token(
        sandbox_url,
        grant_type="authorization_code",
        code="nope",
        client_id="ck-test",
        client_secret="cs-test",
        redirect_uri=CALLBACK,
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"

    location = _consent(sandbox_url, oauth, generate_token(48), "allow")
    code = parse_qs(urlsplit(location).query)["code"][0]
    wrong = _post_token(
        sandbox_url,
        grant_type="authorization_code",
        code=code,
        client_id="ck-test",
        client_secret="cs-test",
        redirect_uri=CALLBACK,
        code_verifier=generate_token(48),
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}

    secret = _post_token(
        sandbox_url,
        grant_type="authorization_code",
        code=code,
        client_id="ck-test",
        client_secret="wrong",
        redirect_uri=CALLBACK,
    )
    assert secret.json()["error"] == "invalid_client"
    unknown = _post_token(sandbox_url, grant_type="refresh_token", client_id="nobody")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_client_id"


def test_unregistered_redirect_uri_is_refused(sandbox_url, app):
    response = requests.get(
        f"{sandbox_url}/services/oauth2/authorize",
        params={"response_type": "code", "client_id": "ck-test", "redirect_uri": "http://evil"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "redirect_uri_mismatch" in response.text


def test_expired_session_raises_expired_session(sandbox_url):
    org = make_org("Short Sessions", session_timeout_seconds=60)
    raw, session = services.session_create(org=org, app=services.demo_app())
    sf = sf_client(sandbox_url, org, raw)
    sf.query("SELECT Id FROM Account")
    session.expires_at = session.issued_at
    session.save()
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Account")
    assert error_body(info.value) == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_consent_picks_the_chosen_org(sandbox_url, oauth):
    make_org("Alpha Org")
    beta = make_org("Beta Org")
    verifier = generate_token(48)
    location = _consent(sandbox_url, oauth, verifier, "allow", org_pk=beta.pk)
    token = oauth.fetch_token(
        f"{sandbox_url}/services/oauth2/token",
        authorization_response=location,
        code_verifier=verifier,
    )
    assert token["id"].endswith(f"/id/{beta.org_id}/{beta.user_id}")


def test_consent_form_is_bound_to_its_request(sandbox_url, oauth, app):
    app.callback_urls = []  # any redirect accepted: only the signed form stops the swap
    app.save()
    make_org("Flow Org")
    url, _ = oauth.create_authorization_url(
        f"{sandbox_url}/services/oauth2/authorize", code_verifier=generate_token(48)
    )
    page = requests.get(url, timeout=10)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields.update(decision="allow", redirect_uri="http://evil/callback")
    answer = requests.post(url, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 400

"""Connecting Salesforce: the connect form, the OAuth round trip through the simulator, and
every way the callback can go wrong — each ends on a page that says what to do, storing nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.test import Client

from accounts.models import Role
from integrations.connections import oauth as authorization
from integrations.connections.models import Connection
from integrations.web.connect.salesforce_forms import ConnectForm
from sandbox.salesforce.models import SalesforceOrg
from tests.integrations.connections.salesforce.conftest import Tenant, consent, set_flow_login_url

pytestmark = pytest.mark.django_db(transaction=True)


def _connected(tenant: Tenant) -> Connection:
    return Connection.objects.get(account=tenant.account, provider="salesforce")


# --- the connect form --------------------------------------------------------------------------


def test_connect_page_explains_what_salesforce_asks_and_offers_the_environments(tenant):
    response = tenant.client.get(tenant.connect_url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "refresh_token" in html
    assert "opportunities" in html
    for label in ("CarryTheOne sandbox", "login.salesforce.com", "test.salesforce.com"):
        assert label in html
    assert "My Domain" in html


def test_support_users_may_not_connect(db):
    tenant = Tenant(role=Role.SUPPORT)
    assert tenant.client.get(tenant.connect_url).status_code == 403
    assert tenant.client.post(tenant.connect_url, {"environment": "production"}).status_code == 403


def test_outsiders_get_404_and_other_accounts_integrations_are_404(tenant, outsider_client):
    assert outsider_client.get(tenant.connect_url).status_code == 404
    other = Tenant()
    url = tenant.connect_url.replace(f"/{tenant.integration.pk}/", f"/{other.integration.pk}/")
    assert tenant.client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("environment", "custom_url", "login_url"),
    [
        ("production", "", "https://login.salesforce.com"),
        ("test", "", "https://test.salesforce.com"),
        ("custom", "https://acme.my.salesforce.com/", "https://acme.my.salesforce.com"),
        (
            "custom",
            "acme--uat.sandbox.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
    ],
)
def test_the_form_redirects_to_the_chosen_login_server_with_pkce(
    tenant, settings, environment, custom_url, login_url
):
    settings.SITE_URL = "https://app.example"
    location = tenant.start(environment, custom_url)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == login_url
    assert parts.path == "/services/oauth2/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == settings.SALESFORCE_CLIENT_ID
    assert query["redirect_uri"] == "https://app.example/integrations/salesforce/callback/"
    assert query["scope"] == "api refresh_token"
    assert query["code_challenge_method"] == "S256"
    flow = tenant.client.session["oauth_flows"][query["state"]]
    assert flow["extra"] == {"login_url": login_url}
    assert authorization.Flow(**flow).code_challenge == query["code_challenge"]


@pytest.mark.parametrize(
    "custom_url",
    [
        "http://evil.example",
        "https://evil.example",
        "http://acme.my.salesforce.com",
        "https://salesforce.com.evil.example",
        "https://evilsalesforce.com",
        "https://user:pw@acme.my.salesforce.com",
        "https://acme.my.salesforce.com/services/oauth2",
        "https://acme.my.salesforce.com:8443",
        "",
    ],
)
def test_other_addresses_are_refused_with_a_field_error(tenant, custom_url):
    response = tenant.client.post(
        tenant.connect_url, {"environment": "custom", "custom_url": custom_url}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["custom_url"]
    assert "oauth_flows" not in tenant.client.session


def test_the_sandbox_url_is_accepted_only_with_the_sandbox_enabled(settings):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8000"
    settings.SALESFORCE_LOGIN_URL = "http://127.0.0.1:8000"
    data = {"environment": "custom", "custom_url": "http://127.0.0.1:8000"}
    form = ConnectForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["login_url"] == "http://127.0.0.1:8000"

    settings.SANDBOX_ENABLED = False
    form = ConnectForm(data)
    assert not form.is_valid()
    assert "custom_url" in form.errors
    simulator = ConnectForm({"environment": "simulator"})
    assert not simulator.is_valid()
    assert "environment" in simulator.errors


# --- the whole flow ----------------------------------------------------------------------------


def test_connecting_stores_the_org_and_attaches_it(tenant, sf_org: SalesforceOrg, sf_site):
    callback = consent(tenant.start())
    response = tenant.callback(callback)
    assert response.status_code == 302
    assert response["Location"] == tenant.detail_url

    conn = _connected(tenant)
    assert conn.external_id == sf_org.org_id
    assert conn.connected_by == tenant.user
    assert sf_org.username in conn.display_name
    credentials = conn.credentials
    assert credentials["instance_url"] == sf_site
    assert credentials["login_url"] == sf_site
    assert credentials["id"] == f"{sf_site}/id/{sf_org.org_id}/{sf_org.user_id}"
    assert credentials["access_token"]
    assert credentials["refresh_token"]
    assert "signature" not in credentials
    tenant.integration.refresh_from_db()
    assert tenant.integration.salesforce_connection == conn
    page = tenant.client.get(tenant.detail_url)
    assert "Salesforce connected" in page.content.decode()

    # Reconnecting the same org updates the one connection.
    tenant.callback(consent(tenant.start()))
    assert Connection.objects.filter(provider="salesforce").count() == 1


def test_no_token_is_stored_or_logged_in_plaintext(tenant, sf_org, sf_site, caplog):
    caplog.set_level(logging.DEBUG)
    tenant.callback(consent(tenant.start()))
    credentials = _connected(tenant).credentials
    secrets = [credentials["access_token"], credentials["refresh_token"]]
    # The access token starts with the org id; search for its secret part too.
    secrets.append(credentials["access_token"].split("!", 1)[1])

    found: list[str] = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(
                    bytes(v).decode(errors="ignore")
                    if isinstance(v, bytes | memoryview)
                    else str(v)
                    for v in row
                )
                found += [table for secret in secrets if secret in text]
    assert found == []
    assert not any(secret in caplog.text for secret in secrets)


# --- the callback's bad inputs -----------------------------------------------------------------


def _assert_nothing_stored(tenant: Tenant) -> None:
    assert not Connection.objects.filter(provider="salesforce").exists()
    tenant.integration.refresh_from_db()
    assert tenant.integration.salesforce_connection is None


@pytest.mark.parametrize("state", [None, "", "not-a-state"])
def test_a_missing_or_unknown_state_is_refused(tenant, sf_org, state):
    callback = consent(tenant.start())
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if state is None:
        query.pop("state")
    else:
        query["state"] = state
    response = tenant.callback(query)
    assert response.status_code == 400
    assert "no longer valid" in response.content.decode()
    _assert_nothing_stored(tenant)


def test_a_replayed_callback_is_refused(tenant, sf_org):
    callback = consent(tenant.start())
    assert tenant.callback(callback).status_code == 302
    response = tenant.callback(callback)
    assert response.status_code == 400
    assert "already used" in response.content.decode()


def test_an_expired_flow_is_refused(tenant, sf_org, monkeypatch):
    callback = consent(tenant.start())
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + authorization.FLOW_TTL_SECONDS + 1)
    response = tenant.callback(callback)
    assert response.status_code == 400
    _assert_nothing_stored(tenant)


def test_a_flow_from_another_session_is_refused(tenant, sf_org):
    callback = consent(tenant.start())
    other = Client()
    other.force_login(tenant.user)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    response = other.get(urlsplit(callback).path, query)
    assert response.status_code == 400
    assert "no longer valid" in response.content.decode()
    _assert_nothing_stored(tenant)


def test_denying_access_says_so(tenant, sf_org):
    response = tenant.callback(consent(tenant.start(), decision="deny"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "declined" in html
    assert tenant.connect_url in html
    _assert_nothing_stored(tenant)


def test_other_salesforce_errors_show_their_description(tenant, sf_org):
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback(
        {"state": state, "error": "OAUTH_APP_BLOCKED", "error_description": "this app is blocked"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "OAUTH_APP_BLOCKED" in html
    assert "this app is blocked" in html
    _assert_nothing_stored(tenant)


def test_a_missing_code_is_refused(tenant, sf_org):
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback({"state": state})
    assert response.status_code == 400
    _assert_nothing_stored(tenant)


def test_a_bad_or_replayed_code_is_invalid_grant(tenant, sf_org):
    first = consent(tenant.start())
    code = parse_qs(urlsplit(first).query)["code"][0]
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback({"state": state, "code": "made-up"})
    assert response.status_code == 400
    assert "already used or has expired" in response.content.decode()
    assert tenant.callback(first).status_code == 302  # the real code works once
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback({"state": state, "code": code})
    assert response.status_code == 400
    assert "already used or has expired" in response.content.decode()


@pytest.mark.parametrize("where", ["broken", "unreachable"])
def test_a_failing_token_endpoint_is_reported(tenant, sf_org, broken_server, where):
    callback = consent(tenant.start())
    set_flow_login_url(tenant.client, broken_server if where == "broken" else "http://127.0.0.1:1")
    response = tenant.callback(callback)
    assert response.status_code == 502
    assert "try again in a few minutes" in response.content.decode()
    _assert_nothing_stored(tenant)


def test_a_user_removed_from_the_account_meanwhile_gets_404(tenant, sf_org):
    callback = consent(tenant.start())
    tenant.membership.delete()
    assert tenant.callback(callback).status_code == 404
    _assert_nothing_stored(tenant)


def test_a_user_demoted_meanwhile_gets_403(tenant, sf_org):
    callback = consent(tenant.start())
    tenant.membership.role = Role.SUPPORT
    tenant.membership.save()
    assert tenant.callback(callback).status_code == 403
    _assert_nothing_stored(tenant)


def test_the_callback_needs_a_login(sf_site: str, db: Any):
    response = Client().get("/integrations/salesforce/callback/?state=x&code=y")
    assert response.status_code == 302
    assert "login" in response["Location"]

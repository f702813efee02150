"""The Xero connect flow end to end: our views, the sandbox's consent page, the callback."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import serializers
from django.db import connection as db
from django.urls import reverse

from accounts.models import Role
from integrations.connections import oauth as authorization
from integrations.connections.models import Connection
from integrations.connections.xero.oauth import CONNECTION_ID_KEY
from sandbox.xero import seed
from sandbox.xero.models import Connection as SandboxConnection
from sandbox.xero.models import XeroOrganisation
from tests.integrations.connections.xero.conftest import Tenant, consent
from tests.sandbox_wiring import xero_refresh_works

pytestmark = pytest.mark.django_db(transaction=True)

UK = "Demo UK Ltd"


def test_the_connect_page_explains_and_continue_redirects_to_xero_with_pkce(tenant, settings):
    page = tenant.client.get(tenant.url("xero:connect"))
    assert page.status_code == 200
    assert b"accounting.invoices" in page.content
    assert b"choose the organisation" in page.content

    location = tenant.start()
    assert location.startswith(settings.XERO_AUTHORIZE_URL + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == settings.XERO_CLIENT_ID
    assert params["redirect_uri"] == settings.SITE_URL + reverse("xero:callback")
    assert params["scope"] == " ".join(settings.XERO_SCOPES)
    assert params["code_challenge_method"] == "S256"
    flows = tenant.client.session[authorization.SESSION_KEY]
    flow = authorization.Flow(**flows[params["state"]])
    assert params["code_challenge"] == flow.code_challenge
    assert flow.integration_id == tenant.integration.pk


def test_one_organisation_is_stored_attached_and_leads_on_to_salesforce(tenant, xero):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    response = tenant.callback(params)

    assert response.status_code == 302
    assert response["Location"] == tenant.url("salesforce:connect")
    connection = Connection.objects.get(account=tenant.account, provider="xero")
    org = XeroOrganisation.objects.get(name=seed.MAIN_ORG)
    assert connection.external_id == str(org.organisation_id)
    assert connection.display_name == seed.MAIN_ORG
    assert connection.connected_by == tenant.user
    sandbox_row = SandboxConnection.objects.get(organisation=org)
    assert connection.credentials[CONNECTION_ID_KEY] == str(sandbox_row.connection_id)
    tenant.integration.refresh_from_db()
    assert tenant.integration.xero_connection == connection
    # The organisation was read with the new token (fetch_organisation) and reported.
    shown = [str(m) for m in response.wsgi_request._messages]
    assert any("Xero connected: Demo Widgets Ltd (US, USD)" in m for m in shown)


def test_with_salesforce_already_connected_the_callback_returns_to_the_integration(tenant):
    other = Connection.objects.create(
        account=tenant.account, provider="salesforce", external_id="00D1", display_name="SF"
    )
    tenant.integration.salesforce_connection = other
    tenant.integration.save()
    response = tenant.callback(consent(tenant.start(), [seed.MAIN_ORG]))
    assert response["Location"] == tenant.url("integrations:detail")


def test_several_organisations_lead_to_a_choice_and_the_others_are_removed(tenant, xero):
    params = consent(tenant.start(), [seed.MAIN_ORG, UK])
    response = tenant.callback(params)
    assert response.status_code == 302
    assert response["Location"] == tenant.url("xero:organisation")
    assert not Connection.objects.exists()  # nothing stored before the choice

    page = tenant.client.get(tenant.url("xero:organisation"))
    assert page.status_code == 200
    assert seed.MAIN_ORG.encode() in page.content
    assert UK.encode() in page.content

    wrong = tenant.client.post(tenant.url("xero:organisation"), {"tenant": "nope"})
    assert wrong.status_code == 400
    assert b"Choose one organisation" in wrong.content

    # Nothing chosen: the page again, with the form's error and both organisations offered.
    nothing = tenant.client.post(tenant.url("xero:organisation"), {})
    assert nothing.status_code == 200
    assert b'id="tenant-error" role="alert"' in nothing.content
    assert b"Choose one organisation: invoices go to the one you pick." in nothing.content
    assert UK.encode() in nothing.content
    assert not Connection.objects.exists()

    uk = XeroOrganisation.objects.get(name=UK)
    chosen = tenant.client.post(
        tenant.url("xero:organisation"), {"tenant": str(uk.organisation_id)}
    )
    assert chosen.status_code == 302
    assert chosen["Location"] == tenant.url("salesforce:connect")
    connection = Connection.objects.get()
    assert connection.external_id == str(uk.organisation_id)
    tenant.integration.refresh_from_db()
    assert tenant.integration.xero_connection == connection
    # One grant <-> one Connection: the grant now covers the chosen organisation only.
    assert list(SandboxConnection.objects.values_list("organisation__name", flat=True)) == [UK]
    # The pending grant is gone from the session: the choice cannot be made twice.
    assert tenant.client.get(tenant.url("xero:organisation")).status_code == 404


def test_the_organisation_page_without_a_pending_grant_is_404(tenant):
    assert tenant.client.get(tenant.url("xero:organisation")).status_code == 404


@pytest.mark.parametrize("state", [None, "", "forged"])
def test_a_missing_or_unknown_state_is_refused_before_any_token_call(tenant, state):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    if state is None:
        params.pop("state")
    else:
        params["state"] = state
    response = tenant.callback(params)
    assert response.status_code == 400
    assert b"no longer valid" in response.content
    assert not Connection.objects.exists()


def test_a_replayed_callback_finds_no_state(tenant):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    assert tenant.callback(params).status_code == 302
    again = tenant.callback(params)
    assert again.status_code == 400
    assert b"already used" in again.content
    assert Connection.objects.count() == 1


def test_an_expired_state_is_refused(tenant, monkeypatch):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    monkeypatch.setattr(authorization, "FLOW_TTL_SECONDS", -1)
    response = tenant.callback(params)
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_cancelling_at_xero_explains_and_stores_nothing(tenant):
    params = consent(tenant.start(), [seed.MAIN_ORG], action="deny")
    assert params["error"] == "access_denied"
    response = tenant.callback(params)
    assert response.status_code == 400
    assert b"You cancelled at Xero" in response.content
    assert tenant.url("xero:connect").encode() in response.content
    assert not Connection.objects.exists()


def test_another_error_from_xero_is_shown(tenant):
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback({"state": state, "error": "server_error"})
    assert response.status_code == 400
    assert b"server_error" in response.content
    assert not Connection.objects.exists()


def test_a_callback_without_code_is_refused(tenant):
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    assert tenant.callback({"state": state}).status_code == 400


def test_a_replayed_code_is_invalid_grant_and_explained(tenant):
    first = consent(tenant.start(), [seed.MAIN_ORG])
    assert tenant.callback(first).status_code == 302
    Connection.objects.all().delete()
    # A new flow (valid state) carrying the already used code.
    state = parse_qs(urlsplit(tenant.start()).query)["state"][0]
    response = tenant.callback({"state": state, "code": first["code"]})
    assert response.status_code == 400
    assert b"already used or has expired" in response.content
    assert not Connection.objects.exists()


def test_a_failing_token_endpoint_is_explained(tenant, monkeypatch):
    from sandbox.xero import oauth

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated outage")

    monkeypatch.setattr(oauth, "exchange_code", broken)  # the sandbox answers 500
    # The test client would re-raise the sandbox's exception (a global signal), not our page.
    tenant.client.raise_request_exception = False
    response = tenant.callback(consent(tenant.start(), [seed.MAIN_ORG]))
    assert response.status_code == 502
    assert b"did not answer properly" in response.content
    assert not Connection.objects.exists()


def test_an_unreachable_token_endpoint_is_explained(tenant, settings):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    settings.XERO_TOKEN_URL = "http://127.0.0.1:1/connect/token"
    response = tenant.callback(params)
    assert response.status_code == 502
    assert not Connection.objects.exists()


def test_a_grant_without_organisations_is_explained_and_revoked(tenant, xero, monkeypatch):
    from integrations.connections.xero import oauth as xero_oauth

    issued: list[str] = []
    real_exchange = xero_oauth.exchange_code

    def exchange(**kwargs: Any) -> Any:
        tokens = real_exchange(**kwargs)
        issued.append(tokens.refresh_token)
        return tokens

    monkeypatch.setattr(xero_oauth, "exchange_code", exchange)
    monkeypatch.setattr(xero_oauth, "list_organisations", lambda tokens: [])
    response = tenant.callback(consent(tenant.start(), [seed.MAIN_ORG]))
    assert response.status_code == 400
    assert b"No Xero organisation" in response.content
    assert not Connection.objects.exists()
    assert not xero_refresh_works(xero, issued[0])


@pytest.mark.parametrize("change", ["removed", "demoted"])
def test_a_user_no_longer_admin_of_the_flows_account_gets_404(tenant, change):
    params = consent(tenant.start(), [seed.MAIN_ORG])
    if change == "removed":
        tenant.membership.delete()
    else:
        tenant.membership.role = Role.SUPPORT
        tenant.membership.save()
    assert tenant.callback(params).status_code == 404
    assert not Connection.objects.exists()


def test_the_callback_needs_a_login(xero, client):
    response = client.get(reverse("xero:callback"), {"state": "x", "code": "y"})
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_support_gets_403_and_outsiders_404(tenant, xero):
    support = Tenant(role=Role.SUPPORT)
    assert support.client.get(support.url("xero:connect")).status_code == 403
    assert support.client.post(support.url("xero:connect")).status_code == 403
    assert support.client.get(support.url("xero:organisation")).status_code == 403
    outsider = Tenant()
    outsider.client.force_login(outsider.user)
    for name in ("xero:connect", "xero:organisation"):
        assert outsider.client.get(tenant.url(name)).status_code == 404
    # Another account's integration id under one's own account: 404 as well.
    foreign = reverse(
        "xero:connect",
        kwargs={"account_slug": outsider.account.slug, "integration_id": tenant.integration.pk},
    )
    assert outsider.client.get(foreign).status_code == 404


def test_disconnect_revokes_at_xero_and_deletes_the_connection(tenant, xero):
    tenant.callback(consent(tenant.start(), [seed.MAIN_ORG]))
    connection = Connection.objects.get()
    refresh_token = connection.credentials["refresh_token"]
    response = tenant.client.post(
        reverse(
            "integrations:disconnect",
            kwargs={
                "account_slug": tenant.account.slug,
                "integration_id": tenant.integration.pk,
                "connection_id": connection.pk,
            },
        )
    )
    assert response.status_code == 302
    assert not Connection.objects.exists()
    assert not SandboxConnection.objects.exists()
    assert not xero_refresh_works(xero, refresh_token)


def test_no_token_is_stored_or_logged_in_plaintext(tenant, caplog):
    caplog.set_level(logging.DEBUG)
    tenant.callback(consent(tenant.start(), [seed.MAIN_ORG, UK]))
    # The pending grant sits in the session (the database) until the choice.
    uk = XeroOrganisation.objects.get(name=UK)
    pending_dump = _dump_product_tables()
    tenant.client.post(tenant.url("xero:organisation"), {"tenant": str(uk.organisation_id)})
    credentials = Connection.objects.get().credentials
    secrets = [credentials["access_token"], credentials["refresh_token"]]

    dump = pending_dump + _dump_product_tables()
    dump += serializers.serialize("json", Connection.objects.all())
    for secret in secrets:
        assert secret not in dump
        assert secret not in caplog.text


def _dump_product_tables() -> str:
    """Every column of every table except the simulator's own (the fake Xero keeps its tokens)."""
    parts: list[str] = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            if table.startswith("sandbox_"):
                continue
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def test_a_second_pending_grant_revokes_the_first(tenant, xero):
    tenant.callback(consent(tenant.start(), [seed.MAIN_ORG, UK]))
    first = {row.grant_id for row in SandboxConnection.objects.all()}
    tenant.callback(consent(tenant.start(), [seed.MAIN_ORG, UK]))
    # The first grant (and its tenant connections) is gone at Xero; the second waits.
    remaining = set(SandboxConnection.objects.values_list("grant_id", flat=True))
    assert remaining
    assert not remaining & first

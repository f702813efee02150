"""The OAuth callbacks under hostile input: forged, stale or garbled ``state``, ``code`` and
``error`` parameters, and a provider whose token, identity and connections answers are
garbage. The person sees a page saying what happened (4xx, or 502 when the provider answered
nonsense), never a 500, and no connection is stored unless the flow really succeeded."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse
from hypothesis import example, given
from hypothesis import strategies as st

from integrations.connections.models import Connection
from integrations.core.models import Integration
from tests.hostile import FUZZ_PAGES, HUGE_INTS, JSON_VALUES, WIRE_TEXT

pytestmark = pytest.mark.django_db

PARAMS = st.dictionaries(
    st.sampled_from(["state", "code", "error", "error_description", "scope"]),
    st.one_of(WIRE_TEXT, st.sampled_from(["", "access_denied", "invalid_request"])),
    max_size=4,
)
ANSWER = st.tuples(
    st.sampled_from([200, 200, 200, 400, 401, 500]),
    st.one_of(
        st.binary(max_size=50),
        JSON_VALUES.map(json.dumps),
        st.fixed_dictionaries(
            {},
            optional={
                "access_token": st.one_of(st.just("at"), JSON_VALUES),
                "refresh_token": st.one_of(st.just("rt"), JSON_VALUES),
                "expires_in": st.one_of(HUGE_INTS, WIRE_TEXT, JSON_VALUES),
                "scope": JSON_VALUES,
                "id": st.one_of(
                    st.just("http://127.0.0.1:9/id/00D000000000001AAA/005000000000001AAA"),
                    WIRE_TEXT,
                ),
                "instance_url": st.one_of(st.just("http://127.0.0.1:9"), WIRE_TEXT),
                "organization_id": st.one_of(st.just("00D000000000001AAA"), WIRE_TEXT),
                "error": st.one_of(st.just("invalid_grant"), JSON_VALUES),
            },
        ).map(json.dumps),
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": JSON_VALUES,
                    "tenantId": st.one_of(
                        st.just("00000000-0000-0000-0000-000000000001"), WIRE_TEXT
                    ),
                    "tenantName": JSON_VALUES,
                    "tenantType": st.sampled_from(["ORGANISATION", "PRACTICE", ""]),
                },
            ),
            max_size=3,
        ).map(json.dumps),
    ),
)


@pytest.fixture
def integration(account: Any) -> Integration:
    return Integration.objects.create(account=account, name="Main")


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Any]]:
    """Every HTTP call answered by the next queued (status, body); then a refused connection."""
    answers: list[tuple[int, Any]] = []

    def send(self: requests.Session, request: requests.PreparedRequest, **_: Any) -> Any:
        if not answers:
            raise requests.ConnectionError("nothing listens")
        status, body = answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else str(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = str(request.url)
        response.request = request
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    return answers


def _state(client: Client, integration: Integration, provider_name: str) -> str:
    url = reverse(f"{provider_name}:connect", args=[integration.account.slug, integration.pk])
    data = {"environment": "simulator"} if provider_name == "salesforce" else {}
    response = client.post(url, data)
    assert response.status_code == 302, response.status_code
    return parse_qs(urlsplit(response["Location"]).query)["state"][0]


def _assert_page(response: Any) -> None:
    assert response.status_code in (302, 400, 403, 404, 502), response.status_code


@pytest.mark.parametrize("provider_name", ["xero", "salesforce"])
def test_forged_parameters_are_refused_and_nothing_is_stored(
    owner_client: Client, integration: Integration, provider: list[Any], provider_name: str
) -> None:
    url = reverse(f"{provider_name}:callback")

    @FUZZ_PAGES
    @given(params=PARAMS)
    def check(params: dict[str, str]) -> None:
        response = owner_client.get(url, params)
        assert response.status_code == 400
        assert Connection.objects.count() == 0

    check()


@pytest.mark.parametrize("provider_name", ["xero", "salesforce"])
def test_a_garbled_provider_answer_is_a_page_never_a_500(
    owner_client: Client, integration: Integration, provider: list[Any], provider_name: str
) -> None:
    url = reverse(f"{provider_name}:callback")

    @FUZZ_PAGES
    @given(
        code=st.one_of(st.just("good-code"), WIRE_TEXT),
        error=st.one_of(st.just(""), WIRE_TEXT),
        answers=st.lists(ANSWER, min_size=1, max_size=3),
    )
    @example(
        code="c", error="", answers=[(200, json.dumps({"access_token": "a", "expires_in": 10**30}))]
    )
    @example(
        code="c", error="", answers=[(200, json.dumps({"access_token": "a", "expires_in": "soon"}))]
    )
    @example(code="c", error="", answers=[(200, json.dumps({"refresh_token": "r"}))])
    @example(
        code="c",
        error="",
        answers=[(200, json.dumps({"access_token": "a", "refresh_token": "r"})), (200, '{"a": 1}')],
    )
    @example(
        code="c",
        error="",
        answers=[(200, json.dumps({"access_token": "a", "refresh_token": "r"})), (200, "[1]")],
    )
    def check(code: str, error: str, answers: list[tuple[int, Any]]) -> None:
        before = Connection.objects.count()
        state = _state(owner_client, integration, provider_name)
        provider[:] = answers
        params = {"state": state, "code": code, **({"error": error} if error else {})}
        response = owner_client.get(url, params)
        _assert_page(response)
        if response.status_code != 302:
            assert Connection.objects.count() == before
        # Whatever happened, the flow is spent: the same link again is refused.
        assert owner_client.get(url, params).status_code == 400

    check()

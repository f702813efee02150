"""The Outbound Message endpoint under hostile input: never a 5xx, always a SOAP answer (the
Ack or a fault saying why), nothing recorded for a refused message, and an accepted message
recorded whole — a receipt for each of its notifications and each opportunity pending.

DTDs, entities and external references are refused by defusedxml before anything is expanded
(no billion laughs, no file read through XXE).
"""

from __future__ import annotations

from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from django.test import Client
from django.urls import reverse
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.models import Account
from integrations.connections.salesforce.outbound import SOAP_ENV, parse_message
from integrations.core.models import Integration
from integrations.sync.models import PushNotification, PushReceipt
from tests.hostile import FUZZ, RANDOM_BYTES, TEXT
from tests.integrations.web.test_push_views import _integration, _token
from tests.push_messages import ORG, outbound_message

pytestmark = pytest.mark.django_db

OPP = "0065g00000AbCdAAAV"
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + outbound_message([("04l1", OPP)]).split(b"?>", 1)[1].replace(b"04l1", b"&x;")
)
DEEP = b"<a>" * 50_000 + b"</a>" * 50_000
GOOD = outbound_message([("04l1", OPP)])


@pytest.fixture
def integration(account: Account, monkeypatch: pytest.MonkeyPatch) -> Integration:
    from carrytheone.celery import app as celery_app

    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: None)
    return _integration(account)


@pytest.fixture
def url(integration: Integration) -> str:
    return reverse("push_salesforce_outbound", kwargs={"token": _token(integration)})


def _counts(integration: Integration) -> tuple[int, int]:
    return (
        PushReceipt.objects.filter(integration=integration).count(),
        PushNotification.objects.filter(integration=integration).count(),
    )


def _assert_soap(response: Any) -> None:
    assert response.status_code in (200, 400, 403, 404, 413), response.content
    assert response["Content-Type"].startswith("text/xml")
    root = fromstring(response.content)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert (fault is None) == (response.status_code == 200)


def _post(url: str, body: bytes, content_type: str = "text/xml; charset=utf-8") -> Any:
    return Client().post(url, body, content_type=content_type)


@FUZZ
@given(body=RANDOM_BYTES, content_type=st.sampled_from(["text/xml", "application/json", ""]))
@example(body=BILLION_LAUGHS, content_type="text/xml")
@example(body=XXE, content_type="text/xml")
@example(body=DEEP, content_type="text/xml")
@example(body=GOOD[: len(GOOD) // 2], content_type="text/xml")
@example(body=b'<?xml version="1.0" encoding="x-unknown"?><a/>', content_type="text/xml")
@example(body=b'<?xml version="1.0" encoding="utf-16"?><a/>', content_type="text/xml")
def test_garbage_is_a_fault_and_nothing_is_recorded(
    integration: Integration, url: str, body: bytes, content_type: str
) -> None:
    before = _counts(integration)
    response = _post(url, body, content_type)
    _assert_soap(response)
    assert response.status_code in (400, 413)
    assert _counts(integration) == before


def test_entities_are_refused_before_they_are_expanded(integration: Integration, url: str) -> None:
    for body in (BILLION_LAUGHS, XXE):
        response = _post(url, body)
        assert response.status_code == 400
        assert b"declares what we never accept" in response.content
        assert b"root:" not in response.content


def test_a_body_over_the_limit_is_refused_without_being_read(
    integration: Integration, url: str, settings: Any
) -> None:
    settings.PUSH_MAX_BODY_BYTES = 1_000
    response = _post(url, GOOD + b" " * 1_000)
    _assert_soap(response)
    assert response.status_code == 413
    assert _counts(integration) == (0, 0)


IDS = st.one_of(
    st.sampled_from([OPP, "0065g00000AbCdB", "04l1", "", " ", "x" * 33, "0065g00000AbCdAAAVX"]),
    st.text(alphabet="abcXYZ019", min_size=1, max_size=20),
    TEXT.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
)


def _xml_text(text: str) -> str:
    # What a sender can put in an element: escaped, and only characters XML allows.
    allowed = "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))
    return allowed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@FUZZ
@given(
    pairs=st.lists(st.tuples(IDS, IDS), max_size=6),
    org=st.one_of(st.just(ORG), st.just(ORG[:15]), IDS),
    repeat=st.integers(min_value=1, max_value=3),
    extra=st.sampled_from(
        ["", "<Notification/>", "<OrganizationId>00D000000000001</OrganizationId>"]
    ),
)
@example(pairs=[("04l1", OPP)] * 101, org=ORG, repeat=1, extra="")
@example(pairs=[("04l1", OPP), ("04l1", OPP)], org=ORG, repeat=3, extra="")
def test_an_envelope_is_recorded_whole_or_refused(
    integration: Integration,
    url: str,
    pairs: list[tuple[str, str]],
    org: str,
    repeat: int,
    extra: str,
) -> None:
    """Well-formed envelopes with wrong, missing, duplicated, foreign and unicode ids."""
    body = outbound_message(
        [(_xml_text(n), _xml_text(r)) for n, r in pairs * repeat], org=_xml_text(org), extra=extra
    )
    before_receipts = set(
        PushReceipt.objects.filter(integration=integration).values_list(
            "notification_id", flat=True
        )
    )
    before = _counts(integration)
    response = _post(url, body)
    _assert_soap(response)
    if response.status_code != 200:
        assert response.status_code in (400, 403)
        assert _counts(integration) == before
        return
    message = parse_message(body)
    receipts = set(
        PushReceipt.objects.filter(integration=integration).values_list(
            "notification_id", flat=True
        )
    )
    assert receipts == before_receipts | {n.notification_id for n in message.notifications}
    pending = set(
        PushNotification.objects.filter(integration=integration).values_list(
            "salesforce_id", flat=True
        )
    )
    fresh = {n.record_id for n in message.notifications if n.notification_id not in before_receipts}
    assert fresh <= pending

"""Reading Salesforce Outbound Messages: only ids are taken; anything else is refused clearly."""

from __future__ import annotations

import pytest

from integrations.connections.salesforce.outbound import (
    MalformedMessage,
    Notification,
    ack,
    fault,
    parse_message,
    same_org,
)
from tests.push_messages import ORG, outbound_message

OPP = "0065g00000AbCdEAAV"


def test_a_message_with_several_notifications_gives_their_ids_only():
    message = parse_message(outbound_message([("04l1", OPP), ("04l2", "0065g00000AbCdF")]))
    assert message.organization_id == ORG
    assert message.notifications == (
        Notification("04l1", OPP),
        Notification("04l2", "0065g00000AbCdF"),
    )


def test_a_message_without_notifications_is_valid():
    assert parse_message(outbound_message([])).notifications == ()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not xml at all", "not well-formed"),
        (b"<a><b></a>", "not well-formed"),
        (b"<root/>", "not a SOAP 1.1 envelope"),
        (
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            "no notifications element",
        ),
        (outbound_message([("04l1", OPP)], org="not-an-org"), "OrganizationId"),
        (outbound_message([("04l1", "bad id!")]), "no record Id"),
        (outbound_message([("", OPP)]), "no usable Id"),
        (outbound_message([(f"04l{i}", OPP) for i in range(101)]), "at most 100"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(body: bytes, reason: str):
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(body)


def test_entities_and_dtds_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    with pytest.raises(MalformedMessage, match="never accept"):
        parse_message(bomb)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    )
    with pytest.raises(MalformedMessage):
        parse_message(external)


def test_org_ids_compare_on_their_first_15_characters_case_sensitively():
    assert same_org(ORG, ORG)
    assert same_org(ORG[:15], ORG)
    assert same_org(ORG, ORG[:15])
    assert not same_org(ORG.lower(), ORG)
    assert not same_org("00D5g000004ZxYaEAK", ORG)
    assert not same_org(ORG, "")


def test_answers_are_soap():
    assert "<Ack>true</Ack>" in ack()
    assert "<faultstring>a &lt;reason&gt;</faultstring>" in fault("a <reason>")

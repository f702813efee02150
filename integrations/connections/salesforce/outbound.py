"""Salesforce Outbound Messages: the SOAP ``notifications`` message read, and our answers written.

Only what identifies the change is taken from a message: the organisation, each notification's
id and the record's id. Field values in the message are never used — a message may be late,
repeated or out of order, so the sync re-reads the record from the API.

The body comes from the internet: it is parsed with ``defusedxml``, which refuses DTDs, entity
declarations and external references (no "billion laughs", no file or network reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element  # types only: parsing is defusedxml's
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100
"""Salesforce sends at most 100 notifications in one message."""

_RECORD_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_ORG_ID = re.compile(r"00D[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?")
_NOTIFICATION_ID = re.compile(r"[a-zA-Z0-9]{1,32}")


class MalformedMessage(ValueError):
    """The body is not an Outbound Message we can read; the text says why."""


@dataclass(frozen=True)
class Notification:
    notification_id: str
    record_id: str


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    notifications: tuple[Notification, ...]


def parse_message(body: bytes) -> OutboundMessage:
    """The organisation and the notifications of a SOAP ``notifications`` body."""
    try:
        root = fromstring(body)
    except DefusedXmlException as exc:
        raise MalformedMessage(f"The XML declares what we never accept ({exc}).") from exc
    except (ParseError, LookupError, UnicodeError) as exc:
        # LookupError and UnicodeError: an XML declaration naming an encoding Python does not
        # have, or one the bytes do not decode in (expat lets the codec raise).
        raise MalformedMessage(f"The body is not well-formed XML ({exc}).") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedMessage("The body is not a SOAP 1.1 envelope.")
    message = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if message is None:
        raise MalformedMessage(
            f"The SOAP body holds no notifications element in the namespace {OUTBOUND}."
        )
    organization_id = _text(message, "OrganizationId")
    if not _ORG_ID.fullmatch(organization_id):
        raise MalformedMessage("The message's OrganizationId is missing or not an org id.")
    elements = message.findall(f"{{{OUTBOUND}}}Notification")
    if len(elements) > MAX_NOTIFICATIONS:
        raise MalformedMessage(
            f"The message holds {len(elements)} notifications; Salesforce sends at most "
            f"{MAX_NOTIFICATIONS}."
        )
    notifications = []
    for number, element in enumerate(elements, start=1):
        notification_id = _text(element, "Id")
        if not _NOTIFICATION_ID.fullmatch(notification_id):
            raise MalformedMessage(f"Notification {number} has no usable Id.")
        sobject = element.find(f"{{{OUTBOUND}}}sObject")
        record_id = "" if sobject is None else _text(sobject, "Id", SOBJECT)
        if not _RECORD_ID.fullmatch(record_id):
            raise MalformedMessage(f"Notification {number} has no record Id (sf:Id).")
        notifications.append(Notification(notification_id, record_id))
    return OutboundMessage(organization_id, tuple(notifications))


def same_org(message_org_id: str, connection_org_id: str) -> bool:
    """Org ids come as 15 or 18 characters; the first 15 are the id (case-sensitive), the last
    three only a checksum of its case."""
    return len(connection_org_id) >= 15 and message_org_id[:15] == connection_org_id[:15]


def _text(parent: Element, name: str, namespace: str = OUTBOUND) -> str:
    child = parent.find(f"{{{namespace}}}{name}")
    return (child.text or "").strip() if child is not None else ""


def ack() -> str:
    """The answer Salesforce waits for: anything else and it delivers the message again."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
        "<soapenv:Body>"
        f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    )


def fault(reason: str, *, client: bool = True) -> str:
    """A SOAP fault saying why; Salesforce shows it in its Outbound Message queue."""
    code = "soapenv:Client" if client else "soapenv:Server"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
        "<soapenv:Body>"
        f"<soapenv:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{escape(reason)}</faultstring></soapenv:Fault>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    )

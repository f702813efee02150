"""Outbound messages reach a local SOAP receiver off the request path, and failures retry."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from sandbox.salesforce import services
from sandbox.salesforce.models import OutboundDelivery, SalesforceOrg
from sandbox.salesforce.outbound import retry_pending_outbound
from tests.sandbox.salesforce.conftest import make_opportunity

pytestmark = pytest.mark.django_db(transaction=True)
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
NS = {
    "soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
    "om": "http://soap.sforce.com/2005/09/outbound",
    "sf": "urn:sobject.enterprise.soap.sforce.com",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []
    fail: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.bodies.append(body)
        status, text = (500, "boom") if Receiver.fail else (200, ACK)
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.bodies = []
    Receiver.fail = False
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/outbound"
    server.shutdown()
    server.server_close()


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_stage_change_delivers_a_soap_notification(org: SalesforceOrg, receiver: str):
    account = services.account_create(org=org, name="Acme Corporation")
    opp = make_opportunity(org, account, "Deal", stage="Prospecting")
    org.outbound_url = receiver
    org.save()
    opp.org = org
    services.opportunity_set_stage(opportunity=opp, stage_name="Closed Won")
    _wait_for(lambda: OutboundDelivery.objects.filter(status="delivered").exists())

    envelope = ET.fromstring(Receiver.bodies[0])  # noqa: S314 - our own simulator's output
    notifications = envelope.find("soapenv:Body/om:notifications", NS)
    assert notifications is not None
    assert notifications.findtext("om:OrganizationId", namespaces=NS) == org.org_id
    assert notifications.findtext("om:ActionId", namespaces=NS)
    assert "/services/Soap/c/" in (notifications.findtext("om:EnterpriseUrl", namespaces=NS) or "")
    assert "/services/Soap/u/" in (notifications.findtext("om:PartnerUrl", namespaces=NS) or "")
    sobject = notifications.find("om:Notification/om:sObject", NS)
    assert sobject is not None
    assert sobject.get(f"{{{NS['xsi']}}}type") == "sf:Opportunity"
    assert sobject.findtext("sf:Id", namespaces=NS) == opp.sf_id
    assert sobject.findtext("sf:StageName", namespaces=NS) == "Closed Won"
    assert sobject.findtext("sf:IsWon", namespaces=NS) == "true"
    delivery = OutboundDelivery.objects.get()
    assert (delivery.attempts, delivery.record_id) == (1, opp.sf_id)


def test_unacknowledged_delivery_is_retried(org: SalesforceOrg, receiver: str):
    Receiver.fail = True
    org.outbound_url = receiver
    org.save()
    make_opportunity(org, None, "Deal")
    _wait_for(lambda: OutboundDelivery.objects.filter(attempts=1).exists())
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == "pending"
    assert "HTTP 500" in delivery.last_error

    Receiver.fail = False
    assert retry_pending_outbound() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert retry_pending_outbound() == 0
    assert len(Receiver.bodies) == 2

"""Outbound Messaging: a SOAP ``notifications`` POST to the org's endpoint on every change.

Delivery happens in a background thread after commit (never on the request path); a delivery
that was not acknowledged with ``<Ack>true</Ack>`` stays pending for
:func:`retry_pending_outbound`, as Salesforce retries for 24 hours.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import requests
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from sandbox.db import on_commit
from sandbox.salesforce.ids import make_id, random_id
from sandbox.salesforce.models import OutboundDelivery

if TYPE_CHECKING:
    from sandbox.salesforce.models import Opportunity

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 10
_ACK = re.compile(r"<(?:\w+:)?Ack>\s*true\s*</(?:\w+:)?Ack>", re.IGNORECASE)


def _field(name: str, value: object) -> str:
    if value is None or value == "":
        return f'<sf:{name} xsi:nil="true"/>'
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<sf:{name}>{escape(text)}</sf:{name}>"


def build_message(opportunity: Opportunity, notification_id: str) -> str:
    from sandbox.salesforce.soql.engine import format_datetime

    org = opportunity.org
    base = settings.SANDBOX_BASE_URL
    version = settings.SALESFORCE_API_VERSION
    fields = [
        _field("Id", opportunity.sf_id),
        _field("AccountId", opportunity.account.sf_id if opportunity.account else None),
        _field("Amount", opportunity.amount),
        _field("CloseDate", opportunity.close_date.isoformat()),
        _field("IsClosed", opportunity.is_closed),
        _field("IsWon", opportunity.is_won),
        _field("Name", opportunity.name),
        _field("StageName", opportunity.stage_name),
        _field("SystemModstamp", format_datetime(opportunity.system_modstamp)),
    ]
    if org.multi_currency:
        fields.insert(3, _field("CurrencyIsoCode", opportunity.currency_iso_code))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org.org_id}</OrganizationId>"
        f"<ActionId>{make_id('04k', org.pod, 1)}</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{version}/{org.org_id[:15]}"
        "</EnterpriseUrl>"
        f"<PartnerUrl>{escape(base)}/services/Soap/u/{version}/{org.org_id[:15]}</PartnerUrl>"
        "<Notification>"
        f"<Id>{notification_id}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{''.join(fields)}"
        "</sObject>"
        "</Notification>"
        "</notifications>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    )


def notify(opportunity: Opportunity) -> OutboundDelivery | None:
    """Queue a message for ``opportunity`` when its org has an endpoint; sent after commit."""
    org = opportunity.org
    if not org.outbound_url or opportunity.is_deleted:
        return None
    notification_id = random_id("04l")
    delivery = OutboundDelivery.objects.create(
        org=org,
        url=org.outbound_url,
        notification_id=notification_id,
        record_id=opportunity.sf_id,
        body=build_message(opportunity, notification_id),
    )
    on_commit(lambda: _start(delivery.pk))
    return delivery


def _start(delivery_id: int) -> None:
    # Not a daemon: a short-lived process (a management command or shell script closing a
    # deal) waits for its one attempt (at most TIMEOUT_SECONDS) instead of exiting with the
    # message unsent; Salesforce, too, sends whatever process made the change.
    threading.Thread(target=_deliver_in_thread, args=(delivery_id,), daemon=False).start()


# Deliveries at once per process: a change to many opportunities (a bulk update, a write-back
# of 200 records) must not open a database connection and a request per record at once — on
# PostgreSQL that exhausted max_connections. Salesforce, too, sends a few at a time.
CONCURRENT_DELIVERIES = 4
_slots = threading.BoundedSemaphore(CONCURRENT_DELIVERIES)


def _deliver_in_thread(delivery_id: int) -> None:
    with _slots:
        try:
            deliver(delivery_id)
        except Exception:
            logger.exception("outbound delivery %s crashed", delivery_id)
        finally:
            close_old_connections()


def deliver(delivery_id: int) -> bool:
    """One attempt; True when the endpoint acknowledged."""
    delivery = OutboundDelivery.objects.get(pk=delivery_id)
    if delivery.status == OutboundDelivery.Status.DELIVERED:
        return True
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    try:
        response = requests.post(
            delivery.url,
            data=delivery.body.encode(),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            timeout=TIMEOUT_SECONDS,
        )
        acked = response.status_code == 200 and bool(_ACK.search(response.text))
        delivery.last_error = "" if acked else f"HTTP {response.status_code}: {response.text[:500]}"
    except requests.RequestException as exc:
        acked = False
        delivery.last_error = str(exc)[:500]
    if acked:
        delivery.status = OutboundDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = OutboundDelivery.Status.FAILED
    delivery.save()
    return acked


def retry_pending_outbound() -> int:
    """Retry every unacknowledged delivery once, oldest first; returns how many succeeded."""
    pending = OutboundDelivery.objects.filter(status=OutboundDelivery.Status.PENDING).order_by(
        "created_at", "pk"
    )
    return sum(1 for pk in list(pending.values_list("pk", flat=True)) if deliver(pk))

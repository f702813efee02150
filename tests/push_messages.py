"""Salesforce Outbound Messages as Salesforce writes them, for the push tests."""

from __future__ import annotations

from collections.abc import Iterable

ORG = "00D5g000004ZxYzEAK"


def outbound_message(
    notifications: Iterable[tuple[str, str]], *, org: str = ORG, extra: str = ""
) -> bytes:
    """A SOAP ``notifications`` body: (notification id, opportunity id) pairs. The sObject also
    carries fields that lie (Amount, IsWon): the product must never believe them."""
    body = "".join(
        "<Notification>"
        f"<Id>{notification_id}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{record_id}</sf:Id><sf:Amount>999999</sf:Amount><sf:IsWon>true</sf:IsWon>"
        "</sObject>"
        "</Notification>"
        for notification_id, record_id in notifications
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId>"
        "<ActionId>04k5g000000CaQXAA0</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0</PartnerUrl>"
        f"{body}{extra}"
        "</notifications>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()

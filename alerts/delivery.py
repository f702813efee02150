"""Sending one queued message: email with Django's mail, Slack with one POST of ``{"text"}``.

A message is claimed by a conditional update before it is sent, so two workers never send it
twice; whatever happens is written on its row (the panel's history). Errors never carry the
webhook URL — it is the Slack channel's credential — only its kind and Slack's short answer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import smtplib
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import AlertDelivery, AlertSettings

logger = logging.getLogger(__name__)

# Long enough for a send to finish; a worker killed mid-send frees the message after it.
CLAIM_SECONDS = 120


class DeliveryError(Exception):
    """A message that did not go this time; the task tries again later."""


def webhook_url_problem(url: str) -> str:
    """Why a Slack-compatible webhook URL is refused ("" when it is fine): https only, and
    never an address inside our own network (the server posts to it)."""
    parts = urlsplit(url)
    allow_http = bool(settings.SANDBOX_ENABLED)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        return "The webhook URL must start with https://."
    if not parts.hostname:
        return "The webhook URL has no host."
    if allow_http:
        return ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, None)}
    except OSError:
        return "The webhook's host name does not resolve."
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            return "The webhook URL points into a private network."
    return ""


def alert_delivery_send(*, delivery_id: int) -> bool:
    """Sends the message unless it went already or another worker holds it; True if sent.

    Raises :class:`DeliveryError` when this attempt failed (recorded on the row first).
    """
    now = timezone.now()
    claimed = (
        AlertDelivery.objects.filter(pk=delivery_id, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )
    if not claimed:
        return False
    delivery = AlertDelivery.objects.get(pk=delivery_id)
    try:
        if delivery.channel == AlertDelivery.Channel.EMAIL:
            _send_email(delivery)
        else:
            _send_slack(delivery)
    except DeliveryError as exc:
        AlertDelivery.objects.filter(pk=delivery_id).update(
            error=str(exc)[:500], claimed_until=None
        )
        logger.warning(
            "alert delivery %s (%s) failed, attempt %s: %s",
            delivery_id,
            delivery.channel,
            delivery.attempts,
            exc,
        )
        raise
    AlertDelivery.objects.filter(pk=delivery_id).update(
        sent_at=timezone.now(), error="", claimed_until=None
    )
    logger.info("alert delivery %s (%s) sent", delivery_id, delivery.channel)
    return True


def _send_email(delivery: AlertDelivery) -> None:
    recipients = [address.strip() for address in delivery.to.split(",") if address.strip()]
    try:
        send_mail(delivery.subject, delivery.body, None, recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"The mail server refused it ({type(exc).__name__}).") from exc


def _send_slack(delivery: AlertDelivery) -> None:
    row = AlertSettings.objects.filter(account_id=delivery.account_id).first()
    url = row.slack_url if row is not None else ""
    if not url:
        raise DeliveryError("No Slack webhook is set any more.")
    problem = webhook_url_problem(url)
    if problem:
        raise DeliveryError(problem)
    try:
        answer = requests.post(
            url,
            json={"text": delivery.body},
            timeout=float(settings.ALERT_WEBHOOK_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise DeliveryError("The webhook did not answer in time.") from exc
    except requests.RequestException as exc:
        # The exception's text names the URL: only its kind is kept.
        raise DeliveryError(f"The webhook could not be reached ({type(exc).__name__}).") from exc
    if not 200 <= answer.status_code < 300:
        said = answer.text[:120].strip().replace(url, "…")
        raise DeliveryError(f"The webhook answered {answer.status_code}: {said}".rstrip(": "))

"""Opening, answering and closing support requests; the emails each step sends.

Our team is told at ``SUPPORT_EMAIL`` (a new request, a customer's reply) and answers in the
operator admin; the customer who opened the request is emailed each answer. Emails are sent
after the transaction commits, so a rolled-back request never reaches anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, User
from accounts.staff_access import support_grant_create
from integrations.connections.crypto import decrypt_str
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, PushEndpoint, SyncLogEntry
from support.models import SupportMessage, SupportRecordSnapshot, SupportRequest
from support.scrub import scrub
from support.selectors import MAX_RECORDS

logger = logging.getLogger(__name__)

_SECRET_KEY_PARTS = ("token", "secret", "password", "key")


class SupportError(Exception):
    """A step refused, with a sentence for the person who asked."""


def _credential_values(value: Any, *, secret: bool = False) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _credential_values(
                inner, secret=secret or any(p in str(key).lower() for p in _SECRET_KEY_PARTS)
            )
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _credential_values(inner, secret=secret)
    elif secret and isinstance(value, str):
        yield value


def known_secrets(*, integration: Integration) -> list[str]:
    """The integration's own credentials and push token, to be cut out of any text we copy."""
    found: list[str] = []
    connections = Connection.objects.filter(
        pk__in=[integration.xero_connection_id, integration.salesforce_connection_id]
    )
    for connection in connections:
        found.extend(_credential_values(connection.credentials))
    endpoint = PushEndpoint.objects.filter(integration=integration).first()
    if endpoint is not None and endpoint.token:
        found.append(decrypt_str(endpoint.token))
    return found


def _snapshot(
    *, request: SupportRequest, entry: SyncLogEntry, secrets: Sequence[str]
) -> SupportRecordSnapshot:
    ledger: LedgerEntry | None = entry.ledger
    error = entry.message
    if ledger is not None and ledger.last_error and ledger.last_error not in error:
        error = f"{error}\n{ledger.last_error}" if error else ledger.last_error
    return SupportRecordSnapshot(
        request=request,
        ledger=ledger,
        salesforce_id=entry.salesforce_id or (ledger.salesforce_id if ledger else ""),
        opportunity_name=scrub(
            entry.record_name or (ledger.opportunity_name if ledger else ""), secrets=secrets
        ),
        customer_name=scrub(
            entry.customer_name or (ledger.customer_name if ledger else ""), secrets=secrets
        ),
        state=ledger.get_state_display() if ledger else "",
        step=entry.step,
        outcome=entry.get_outcome_display(),
        last_error=scrub(error, secrets=secrets),
        error_at=entry.created_at,
    )


def support_request_open(
    *,
    account: Account,
    integration: Integration | None,
    user: User,
    subject: str,
    message: str,
    entries: Sequence[SyncLogEntry] = (),
    grant_hours: int | None = None,
) -> SupportRequest:
    """Opens a request with its first message and copies of ``entries``; with
    ``grant_hours``, also lets our staff view the account read-only for that long."""
    if integration is not None and integration.account_id != account.pk:
        raise SupportError("That integration is not in this account.")
    if any(entry.integration_id != getattr(integration, "pk", None) for entry in entries):
        raise SupportError("Those records are not this integration's.")
    entries = list(entries)[:MAX_RECORDS]
    secrets = known_secrets(integration=integration) if integration is not None else []
    now = timezone.now()
    with transaction.atomic():
        grant = (
            support_grant_create(
                account=account, user=user, hours=grant_hours, detail="With a support request."
            )
            if grant_hours
            else None
        )
        request = SupportRequest.objects.create(
            account=account,
            integration=integration,
            opened_by=user,
            subject=subject.strip()[:200],
            grant=grant,
            created_at=now,
            updated_at=now,
        )
        SupportMessage.objects.create(
            request=request, author=user, from_staff=False, body=message.strip(), created_at=now
        )
        SupportRecordSnapshot.objects.bulk_create(
            [_snapshot(request=request, entry=entry, secrets=secrets) for entry in entries]
        )
        transaction.on_commit(lambda: _email_staff(request=request, new=True))
    logger.info(
        "support request opened: request=%s account=%s records=%s grant=%s",
        request.pk,
        account.pk,
        len(entries),
        grant.pk if grant else None,
    )
    return request


def support_reply(
    *,
    support_request: SupportRequest,
    author: User,
    body: str,
    from_staff: bool,
    status: str | None = None,
) -> SupportMessage:
    """Adds a message. A staff answer sets the status (answered unless ``status`` says
    otherwise) and emails the requester; a customer's reply reopens it and tells our team."""
    body = body.strip()
    if not body:
        raise SupportError("Write a message first.")
    if not from_staff and support_request.is_closed:
        raise SupportError("This conversation is closed: open a new request instead.")
    new_status = (
        (status or SupportRequest.Status.ANSWERED) if from_staff else SupportRequest.Status.OPEN
    )
    now = timezone.now()
    with transaction.atomic():
        message = SupportMessage.objects.create(
            request=support_request, author=author, from_staff=from_staff, body=body, created_at=now
        )
        SupportRequest.objects.filter(pk=support_request.pk).update(
            status=new_status, updated_at=now
        )
        support_request.status = new_status
        support_request.updated_at = now
        if from_staff:
            transaction.on_commit(
                lambda: _email_requester(request=support_request, message=message)
            )
        else:
            transaction.on_commit(lambda: _email_staff(request=support_request, new=False))
    return message


def support_request_close(*, support_request: SupportRequest) -> bool:
    """Closes the conversation; False when it already was."""
    now = timezone.now()
    changed = (
        SupportRequest.objects.filter(pk=support_request.pk)
        .exclude(status=SupportRequest.Status.CLOSED)
        .update(status=SupportRequest.Status.CLOSED, updated_at=now)
    )
    if changed:
        support_request.status = SupportRequest.Status.CLOSED
        support_request.updated_at = now
    return bool(changed)


def _email_staff(*, request: SupportRequest, new: bool) -> None:
    request = (
        SupportRequest.objects.select_related("account", "integration", "opened_by", "grant")
        .prefetch_related("records", "messages__author")
        .get(pk=request.pk)
    )
    admin_path = reverse("admin:support_supportrequest_change", args=[request.pk])
    context = {
        "request": request,
        "new": new,
        "messages": list(request.messages.all()),
        "records": list(request.records.all()),
        "admin_url": f"{settings.SITE_URL}{admin_path}",
    }
    subject = (
        f"[Support #{request.pk}] {request.account.name}: {request.subject}"
        if new
        else f"[Support #{request.pk}] Reply from {request.account.name}: {request.subject}"
    )
    body = render_to_string("support/email/to_staff.txt", context)
    send_mail(_one_line(subject), body, None, [settings.SUPPORT_EMAIL])


def _email_requester(*, request: SupportRequest, message: SupportMessage) -> None:
    requester = request.opened_by
    if requester is None or not requester.is_active:
        return
    context = {
        "request": request,
        "message": message,
        "url": f"{settings.SITE_URL}{request.get_absolute_url()}",
    }
    body = render_to_string("support/email/to_customer.txt", context)
    subject = _one_line(f"CarryTheOne support answered: {request.subject}")
    send_mail(subject, body, None, [requester.email])


def _one_line(subject: str) -> str:
    """A header: a name or subject typed with a line break must not fail the send."""
    return " ".join(subject.split())

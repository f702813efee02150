"""Connections: credentials refreshed safely across workers, a lost grant told once, a
freshly authorised connection stored.

An integration whose connection needs re-authorisation does not sync: that follows from the
connection's status (see ``Integration.is_running`` and the sync's claim), so nothing here
pauses or un-pauses integrations, and reconnecting lifts exactly that cause.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, User
from billing.services import trial_claim
from integrations.connections.models import Connection
from integrations.connections.providers import (
    ProviderError,
    ReauthorizationRequired,
    TokenSet,
    get_provider,
)

logger = logging.getLogger(__name__)


def _expiring(credentials: dict[str, Any]) -> bool:
    expires_at = TokenSet.expires_at_of(credentials)
    margin = dt.timedelta(seconds=settings.TOKEN_REFRESH_MARGIN)
    return expires_at is None or expires_at <= timezone.now() + margin


def _needs_refresh(credentials: dict[str, Any], rejected_access_token: str) -> bool:
    stale = bool(rejected_access_token) and (
        credentials.get("access_token") == rejected_access_token
    )
    return stale or _expiring(credentials)


def _refresh_lease() -> dt.timedelta:
    # Longer than the slowest possible token call (connect + read timeouts), so a claim
    # expires only when its worker died, never while its request is still in flight.
    return dt.timedelta(seconds=2 * float(settings.EXTERNAL_HTTP_TIMEOUT) + 15)


def connection_credentials(
    *, connection_id: int, rejected_access_token: str = ""
) -> dict[str, Any]:
    """Usable credentials for a connection, refreshing its tokens when needed.

    Refresh tokens rotate (Xero): two workers refreshing at once would leave one holding a
    dead token. So one worker at a time refreshes a connection, by a claim on its row (a
    conditional UPDATE, committed at once), and the stored tokens are re-read after taking it:
    a worker that waited finds the fresh tokens and makes no call. No transaction is open
    during the call to the token endpoint — the endpoint may itself need a database lock (the
    sandbox's does) — and the rotated tokens are saved the moment it answers. A caller whose
    access token was just refused (401) passes it as ``rejected_access_token`` to force a
    refresh unless someone already replaced it.
    """
    connection = Connection.objects.get(pk=connection_id)
    _ensure_active(connection)
    _touch(connection_id)
    if not _needs_refresh(connection.credentials, rejected_access_token):
        return dict(connection.credentials)
    claim = _claim_refresh(connection_id, rejected_access_token)
    if claim is None:
        # Another worker refreshed while this one waited.
        return dict(Connection.objects.get(pk=connection_id).credentials)
    try:
        connection = Connection.objects.get(pk=connection_id)
        _ensure_active(connection)
        current = dict(connection.credentials)
        if not _needs_refresh(current, rejected_access_token):
            return current
        provider = get_provider(connection.provider)
        try:
            tokens = provider.refresh(credentials=current)
        except ReauthorizationRequired as exc:
            connection_mark_needs_reauth(connection_id=connection_id, reason=exc.message)
            raise
        except ProviderError as exc:
            _record_refresh_failure(connection_id, exc.message)
            raise
        return _store_refreshed(connection_id, claim, used=current, tokens=tokens)
    finally:
        Connection.objects.filter(pk=connection_id, refresh_claimed_by=claim).update(
            refresh_claimed_by="", refresh_claimed_until=None
        )


def _claim_refresh(connection_id: int, rejected_access_token: str) -> str | None:
    """Takes the connection's refresh claim; None if another worker refreshed meanwhile.

    Waits (polling the row) while another worker holds the claim, at most as long as a claim
    can live; a claim left by a dead worker expires and is taken over.
    """
    lease = _refresh_lease()
    claim = uuid.uuid4().hex
    deadline = time.monotonic() + lease.total_seconds() + 5
    delay = 0.05
    while True:
        now = timezone.now()
        taken = (
            Connection.objects.filter(pk=connection_id)
            .filter(Q(refresh_claimed_until__isnull=True) | Q(refresh_claimed_until__lte=now))
            .update(refresh_claimed_by=claim, refresh_claimed_until=now + lease)
        )
        if taken:
            return claim
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
        connection = Connection.objects.get(pk=connection_id)
        _ensure_active(connection)
        if not _needs_refresh(connection.credentials, rejected_access_token):
            return None
        if time.monotonic() > deadline:
            raise ProviderError(
                f"{connection.get_provider_display_name()}: another worker's token refresh did "
                "not finish in time; will retry."
            )


def _store_refreshed(
    connection_id: int, claim: str, *, used: dict[str, Any], tokens: TokenSet
) -> dict[str, Any]:
    """Saves freshly rotated tokens in a short transaction of their own.

    If this worker lost its claim while the call was in flight (it froze past the lease) and
    another worker stored other tokens meanwhile, theirs stand: they were refreshed later.
    """
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection_id)
        stored = connection.credentials
        if connection.refresh_claimed_by != claim and stored.get("refresh_token") != used.get(
            "refresh_token"
        ):
            logger.warning("connection %s: a later refresh won; its tokens kept", connection_id)
            return dict(stored)
        connection.credentials = {**stored, **tokens.to_credentials()}
        connection.last_error = ""
        connection.failing_since = None
        connection.save(update_fields=["credentials", "last_error", "failing_since"])
    logger.info("connection %s: tokens refreshed", connection_id)
    return dict(connection.credentials)


def _record_refresh_failure(connection_id: int, message: str) -> None:
    """A refresh that failed for a reason that may pass: shown on the connection as failing."""
    Connection.objects.filter(pk=connection_id, failing_since__isnull=True).update(
        failing_since=timezone.now()
    )
    Connection.objects.filter(pk=connection_id).update(last_error=message[:2000])
    logger.warning("connection %s: token refresh failed: %s", connection_id, message)


def _touch(connection_id: int) -> None:
    """Records use for people ("last used"), at most one write a minute per connection."""
    now = timezone.now()
    Connection.objects.filter(pk=connection_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - dt.timedelta(minutes=1))
    ).update(last_used_at=now)


def connection_mark_needs_reauth(*, connection_id: int, reason: str) -> None:
    """Records that only a person reconnecting can help (its integrations stop syncing, as
    they follow the connection's status; the alerts tell owners and admins)."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection_id)
        if connection.status == Connection.Status.ACTIVE:
            _mark_needs_reauth(connection, reason)


def _ensure_active(connection: Connection) -> None:
    if connection.status != Connection.Status.ACTIVE:
        raise ReauthorizationRequired(
            connection.last_error
            or f"The {connection.get_provider_display_name()} connection needs reconnecting."
        )


def _mark_needs_reauth(connection: Connection, reason: str) -> None:
    # Owners and admins are told by the alerts app, which reads the status.
    connection.status = Connection.Status.NEEDS_REAUTH
    connection.last_error = reason
    connection.save(update_fields=["status", "last_error"])
    logger.warning("connection %s needs re-authorisation", connection.pk)


def connection_store(
    *,
    account: Account,
    provider: str,
    external_id: str,
    display_name: str,
    tokens: TokenSet,
    user: User,
) -> Connection:
    """Saves a freshly authorised connection; reconnecting the same external account updates it.

    Reconnecting clears a "needs re-authorisation" state; the integrations using the
    connection sync again unless something else (billing, a person) holds them. An account in
    its trial claims the organisation's one free trial (``billing.services.trial_claim``).
    """
    with transaction.atomic():
        connection, created = Connection.objects.select_for_update().get_or_create(
            account=account,
            provider=provider,
            external_id=external_id,
            defaults={
                "display_name": display_name,
                "scopes": tokens.scopes,
                "credentials": tokens.to_credentials(),
                "connected_by": user,
            },
        )
        if not created:
            connection.display_name = display_name
            connection.scopes = tokens.scopes
            connection.credentials = tokens.to_credentials()
            connection.connected_by = user
            connection.connected_at = timezone.now()
            connection.status = Connection.Status.ACTIVE
            connection.last_error = ""
            connection.failing_since = None
            connection.save()
        # One free trial per business: the first account in trial to connect this
        # organisation claims it; under any other account it syncs only with a subscription.
        trial_claim(account_id=account.pk, provider=provider, external_id=external_id)
    logger.info(
        "connection %s %s: account=%s provider=%s",
        connection.pk,
        "created" if created else "reconnected",
        account.pk,
        provider,
    )
    return connection

"""The one way product code calls Xero's Accounting API: one SDK client per connection.

``xero_client(connection).call("get_invoices", where=...)`` runs one SDK method for the
connection's organisation and returns a :class:`XeroResponse` (data plus the rate-limit
headers), or raises one of the :class:`XeroError` subclasses below. What it does around the
SDK, and why:

- Its own ``Configuration``: the SDK's behaves like a singleton (constructor arguments are
  ignored after the first), so the token is set on it explicitly; it never holds a refresh
  token and has no expiry, so the SDK never refreshes on its own — refreshing happens only in
  ``services.connection_credentials``, under the connection's row lock (rotating tokens).
- No hidden retries: urllib3 would sleep and re-send on 429 and re-send a PUT after a read
  timeout. Retrying is the caller's decision (the sync engine), with the error's
  ``retry_after``.
- A (connect, read) timeout on every call; the SDK ignores a float.
- A fresh access token before each call, and one refresh-and-retry after a 401.
- A lease from the organisation's rate limiter (``connections.ratelimit``) around each HTTP
  attempt, shared by all workers; Xero's remaining-limit headers and 429s are fed back to it,
  so one worker's 429 makes every worker wait. No slot within ``XERO_LIMIT_MAX_WAIT``:
  :class:`XeroRateLimited`, without a request sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import urllib3
from django.conf import settings
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException

from integrations.connections import ratelimit, services
from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError, ReauthorizationRequired

logger = logging.getLogger(__name__)


class XeroError(ProviderError):
    """A failed Accounting API call. ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class XeroRateLimited(XeroError):
    """429: wait ``retry_after`` seconds. ``problem`` is Xero's limit name (minute, day...)."""

    def __init__(self, message: str, *, retry_after: float, problem: str) -> None:
        super().__init__(message, status=429, retry_after=retry_after)
        self.problem = problem


class XeroUnavailable(XeroError):
    """5xx, a timeout or no connection: transient, retry later."""


class XeroValidationError(XeroError):
    """400: Xero refused the request as sent; ``messages`` are Xero's words, for people."""

    def __init__(self, message: str, *, messages: list[str]) -> None:
        super().__init__(message, status=400, permanent=True)
        self.messages = messages


class XeroNotFound(XeroError):
    """404: the document or route does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=404, permanent=True)


@dataclass(frozen=True)
class XeroResponse:
    """An SDK method's result with the limits left (None when Xero did not say)."""

    data: Any
    status: int
    minute_limit_remaining: int | None
    day_limit_remaining: int | None


def _int_header(headers: dict[str, str], name: str) -> int | None:
    value = headers.get(name.lower())
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _headers(raw: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(raw or {}).items()}


def _retry_after(headers: dict[str, str]) -> float:
    try:
        return float(headers.get("retry-after", "60"))
    except ValueError:
        return 60.0


def validation_messages(body: str) -> list[str]:
    """The human-readable messages in a Xero 400 body (ValidationException and friends)."""
    try:
        data = json.loads(body)
    except ValueError:
        return [body[:300]] if body else []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for element in data.get("Elements") or []:
        for item in element.get("ValidationErrors") or []:
            if item.get("Message"):
                found.append(str(item["Message"]))
    if not found and data.get("Message"):
        found.append(str(data["Message"]))
    if not found and data.get("Detail"):
        found.append(str(data["Detail"]))
    return found


class XeroClient:
    """The Accounting API for one connection (one organisation). Not shared between threads."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        self.tenant_id = connection.external_id
        self.display_name = connection.display_name
        # What the SDK's token getter hands out; set before each call.
        self._token: dict[str, Any] = {}
        cfg = Configuration()
        # After construction, explicitly: the constructor's arguments may be ignored.
        cfg.oauth2_token = OAuth2Token(
            client_id=settings.XERO_CLIENT_ID, client_secret=settings.XERO_CLIENT_SECRET
        )
        api_client = ApiClient(
            cfg,
            oauth2_token_getter=lambda: self._token,
            oauth2_token_saver=self._sdk_saved_token,
        )
        api_client.rest_client.pool_manager = urllib3.PoolManager(
            num_pools=4, maxsize=4, retries=False
        )
        self.api = AccountingApi(api_client, base_url=settings.XERO_API_URL)
        timeout = float(settings.EXTERNAL_HTTP_TIMEOUT)
        self.timeout: tuple[float, float] = (min(timeout, 10.0), timeout)
        self.calls = 0
        """Requests sent to Xero by this client (every attempt, a 401's retry included)."""

    def _sdk_saved_token(self, token: dict[str, Any]) -> None:
        # The SDK saves only after refreshing itself, which it cannot do (no refresh token).
        logger.warning("xero: SDK tried to store a token; ignored")

    def _use(self, access_token: str) -> None:
        # Exactly the keys of OAuth2Token.update_token; no expiry and no refresh token, so the
        # SDK always uses this token as is.
        self._token = {
            "access_token": access_token,
            "scope": list(settings.XERO_SCOPES),
            "expires_in": None,
            "token_type": "Bearer",
            "expires_at": None,
            "refresh_token": None,
            "id_token": None,
        }

    def call(
        self,
        method: str,
        *args: Any,
        priority: ratelimit.Priority = ratelimit.Priority.NEW,
        max_wait: float | None = None,
        raw: bool = False,
        **kwargs: Any,
    ) -> XeroResponse:
        """Calls ``AccountingApi.<method>(tenant_id, *args, **kwargs)`` once (plus one retry
        after a 401 with a refreshed token). Raises a :class:`XeroError` subclass,
        :class:`ReauthorizationRequired`, or the transient :class:`ProviderError` of a token
        refresh that could not reach Xero.

        ``priority`` tells the rate limiter whether this serves a new invoice (the default) or
        an update, which is refused while the day budget is down to its reserve. ``max_wait``
        overrides ``XERO_LIMIT_MAX_WAIT`` (a web request should not wait a minute). ``raw``
        answers the JSON body as parsed (numbers as ``Decimal``) instead of the SDK's models;
        the typed methods below use it.

        Example: ``client.call("get_invoices", where=where.equals("Reference", ref)).data``;
        every ``where`` holding outside text is built with ``connections.xero.where``.
        """
        limiter = ratelimit.xero_limiter(max_wait=max_wait)
        credentials = services.connection_credentials(connection_id=self.connection_id)
        try:
            return self._once(
                method, credentials["access_token"], args, kwargs, limiter, priority, raw
            )
        except ApiException as exc:
            if _status(exc) != 401:
                raise self._map(exc) from exc
            rejected = credentials["access_token"]
        logger.info("xero: connection %s: 401, refreshing once", self.connection_id)
        credentials = services.connection_credentials(
            connection_id=self.connection_id, rejected_access_token=rejected
        )
        try:
            return self._once(
                method, credentials["access_token"], args, kwargs, limiter, priority, raw
            )
        except ApiException as exc:
            raise self._map(exc) from exc

    def _once(
        self,
        method: str,
        access_token: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limiter: ratelimit.XeroLimiter,
        priority: ratelimit.Priority,
        raw: bool,
    ) -> XeroResponse:
        self._use(access_token)
        function = getattr(self.api, method)
        lease = self._acquire(limiter, priority)
        self.calls += 1
        try:
            data, status, headers = function(
                self.tenant_id,
                *args,
                _return_http_data_only=False,
                _request_timeout=self.timeout,
                _preload_content=not raw,
                **kwargs,
            )
            if raw:
                data = _parse_body(data)
        except urllib3.exceptions.HTTPError as exc:
            # Timeouts and refused connections (urllib3 raises them as is without retries).
            raise XeroUnavailable(
                f"Xero did not answer ({type(exc).__name__}); will retry."
            ) from exc
        except ApiException as exc:
            self._observe(limiter, _headers(getattr(exc, "headers", None)), _status(exc))
            raise
        finally:
            limiter.release(lease)
        lowered = _headers(headers)
        self._observe(limiter, lowered, int(status))
        return XeroResponse(
            data=data,
            status=int(status),
            minute_limit_remaining=_int_header(lowered, "X-MinLimit-Remaining"),
            day_limit_remaining=_int_header(lowered, "X-DayLimit-Remaining"),
        )

    def _acquire(
        self, limiter: ratelimit.XeroLimiter, priority: ratelimit.Priority
    ) -> ratelimit.Lease:
        try:
            return limiter.acquire(self.tenant_id, priority=priority)
        except ratelimit.SlotUnavailable as exc:
            raise XeroRateLimited(
                exc.message, retry_after=exc.retry_after, problem=exc.problem
            ) from exc
        except ratelimit.LimiterUnavailable as exc:
            # Calling without counting could overspend the budget every worker shares.
            raise XeroUnavailable(f"The rate limiter is unavailable ({exc}); will retry.") from exc

    def _observe(
        self, limiter: ratelimit.XeroLimiter, headers: dict[str, str], status: int
    ) -> None:
        """Tells the limiter what Xero said about its limits, so every worker knows."""
        if status == 429:
            # Retry-After is the answer; a 429's "0 remaining" would hold us back longer.
            limiter.block(
                self.tenant_id,
                retry_after=_retry_after(headers),
                problem=headers.get("x-rate-limit-problem", ""),
            )
            return
        limiter.report(
            self.tenant_id,
            minute_remaining=_int_header(headers, "X-MinLimit-Remaining"),
            day_remaining=_int_header(headers, "X-DayLimit-Remaining"),
        )

    def _map(self, exc: ApiException) -> ProviderError:
        status = _status(exc)
        headers = _headers(getattr(exc, "headers", None))
        body = str(getattr(exc, "body", "") or "")
        if status == 429:
            problem = headers.get("x-rate-limit-problem", "")
            retry_after = _retry_after(headers)
            return XeroRateLimited(
                f"Xero's {problem or 'rate'} limit was reached; retry in {retry_after:g} s.",
                retry_after=retry_after,
                problem=problem,
            )
        if status == 400:
            found = validation_messages(body)
            return XeroValidationError(
                "Xero refused the request: " + ("; ".join(found) or "no reason given"),
                messages=found,
            )
        if status == 404:
            return XeroNotFound("Xero has no such document.")
        if status in (401, 403):
            # 401 after a fresh token, or 403: the organisation was disconnected from our
            # app at Xero (or its permissions were withdrawn). Only reconnecting helps.
            reason = (
                f"Xero no longer accepts this connection to {self.display_name} "
                f"({status}). Reconnect Xero to resume syncing."
            )
            self._mark_needs_reauth(reason)
            return ReauthorizationRequired(reason)
        return XeroUnavailable(f"Xero answered {status}; will retry.", status=status)

    def _mark_needs_reauth(self, reason: str) -> None:
        services.connection_mark_needs_reauth(connection_id=self.connection_id, reason=reason)


def _parse_body(response: Any) -> dict[str, Any]:
    """A raw urllib3 answer's JSON body, numbers as ``Decimal``; released to the pool."""
    try:
        body = response.data
    finally:
        response.release_conn()
    if not body:
        return {}
    try:
        parsed = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise XeroUnavailable("Xero answered something that is not JSON; will retry.") from exc
    return parsed if isinstance(parsed, dict) else {}


def _status(exc: ApiException) -> int:
    # AccountingBadRequestException.status is Xero's message, not a number: read the response.
    http_resp = getattr(exc, "http_resp", None)
    status = getattr(http_resp, "status", None)
    if isinstance(status, int):
        return status
    raw = getattr(exc, "_status", None)
    return raw if isinstance(raw, int) else 0


def xero_client(connection: Connection) -> XeroClient:
    return XeroClient(connection)


@dataclass(frozen=True)
class OrganisationDetails:
    name: str
    country_code: str
    base_currency: str


def fetch_organisation(connection: Connection) -> OrganisationDetails:
    """The organisation's name, country and base currency; proves the connection works."""
    # Called while someone waits on a web page: give up early rather than hold the request.
    response = xero_client(connection).call("get_organisations", max_wait=5.0)
    organisation = response.data.organisations[0]

    def text(value: Any) -> str:
        # The SDK gives enums (CountryCode, CurrencyCode); people want their codes.
        return str(getattr(value, "value", value) or "")

    note_short_code(connection, text(getattr(organisation, "short_code", "")))
    return OrganisationDetails(
        name=str(organisation.name),
        country_code=text(organisation.country_code),
        base_currency=text(organisation.base_currency),
    )


def note_short_code(connection: Connection, short_code: str) -> None:
    """Keeps the organisation's ShortCode on its connection (deep links into Xero's web app);
    written only when it changed, so reading the organisation costs no write."""
    short_code = short_code[:20]
    if short_code and connection.short_code != short_code:
        Connection.objects.filter(pk=connection.pk).update(short_code=short_code)
        connection.short_code = short_code

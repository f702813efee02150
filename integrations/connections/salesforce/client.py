"""The Salesforce REST API for one connection: simple-salesforce, with what it lacks added.

simple-salesforce has no default timeout, never refreshes an OAuth session it was handed, and
raises its own exceptions. :func:`salesforce_client` gives a :class:`SalesforceClient` that
sets a timeout on every request, refreshes the session once on ``INVALID_SESSION_ID`` (under
the connection's row lock, see ``services.connection_credentials``), maps failures to
:class:`ProviderError` with messages for people, and records ``Sforce-Limit-Info`` — per org,
for every worker (``integrations.connections.ratelimit``): while the org's usage is within
``SALESFORCE_API_HEADROOM`` of its daily allowance, the client refuses to call, leaving the rest
to the customer's other apps, and looks again after 15 minutes.

Only what the sync needs is wrapped (paged queries, describe); ``sf`` is there for the rest,
but calls made on it directly get none of the above.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from integrations.connections import ratelimit, services
from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError, ReauthorizationRequired
from integrations.connections.salesforce.records import RateTable, SaveError, SaveResult

logger = logging.getLogger(__name__)

T = TypeVar("T")
Timeout = float | tuple[float, float] | tuple[float, None] | None

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_SOBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# The daily limit is a rolling 24 hours; checking again in a while is the best we can do.
LIMIT_RETRY_AFTER = 15 * 60.0
# Records per Composite sObject Collections request (Salesforce's maximum).
RECORDS_PER_COLLECTION = 200


class SalesforceApiError(ProviderError):
    """A Salesforce API failure; ``error_code`` is Salesforce's (``MALFORMED_QUERY``, …)."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str = "",
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, permanent=permanent, retry_after=retry_after)
        self.error_code = error_code
        self.status = status


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: simple-salesforce passes none unless told per call."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


class _SandboxAdapter(_TimeoutAdapter):
    """Keeps plain http for the one simulator host, which simple-salesforce calls https."""

    def __init__(self, timeout: float, netloc: str) -> None:
        super().__init__(timeout)
        self.netloc = netloc

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        prefix = f"https://{self.netloc}/"
        # Mounted for exactly this prefix; the check keeps a mis-mount from downgrading others.
        if request.url and request.url.startswith(prefix):
            request.url = f"http://{self.netloc}/" + request.url.removeprefix(prefix)
        return super().send(request, stream, timeout, verify, cert, proxies)


def sandbox_netloc(instance_url: str) -> str | None:
    """The simulator's host:port when ``instance_url`` is it (sandbox enabled), else None."""
    if not settings.SANDBOX_ENABLED:
        return None
    instance = urlsplit(instance_url)
    sandbox = urlsplit(settings.SANDBOX_BASE_URL)
    if instance.scheme == "http" and sandbox.scheme == "http" and instance.netloc == sandbox.netloc:
        return instance.netloc
    return None


def http_session(instance_url: str) -> requests.Session:
    timeout = float(settings.EXTERNAL_HTTP_TIMEOUT)
    session = requests.Session()
    # No proxies or CA bundles from the environment: the same behaviour in every worker.
    session.trust_env = False
    session.mount("https://", _TimeoutAdapter(timeout))
    session.mount("http://", _TimeoutAdapter(timeout))
    netloc = sandbox_netloc(instance_url)
    if netloc is not None:
        # The trailing slash keeps "https://127.0.0.1:80" from matching ":8000" as well.
        session.mount(f"https://{netloc}/", _SandboxAdapter(timeout, netloc))
    return session


def _error_details(exc: SalesforceError) -> tuple[str, str]:
    """Salesforce's ``errorCode`` and message from its JSON error array."""
    content: Any = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    return "", ""


def map_error(exc: SalesforceError) -> SalesforceApiError:
    code, message = _error_details(exc)
    status = exc.status
    if code == "REQUEST_LIMIT_EXCEEDED":
        return SalesforceApiError(
            "Salesforce's API request limit for this org is used up (REQUEST_LIMIT_EXCEEDED). "
            "Syncing will try again later; other apps using the API share the same limit.",
            error_code=code,
            status=status,
            retry_after=LIMIT_RETRY_AFTER,
        )
    if code == "API_DISABLED_FOR_ORG":
        return SalesforceApiError(
            "Your Salesforce edition has no API access (API_DISABLED_FOR_ORG). CarryTheOne "
            "needs Enterprise, Unlimited, Developer, or Professional with the API add-on.",
            error_code=code,
            status=status,
            permanent=True,
        )
    if code in {"API_CURRENTLY_DISABLED", "INSUFFICIENT_ACCESS"} or (
        isinstance(exc, SalesforceRefusedRequest) and code != "SERVER_UNAVAILABLE"
    ):
        return SalesforceApiError(
            f"Salesforce refused the request ({code or status}): {message} Check that the "
            "connected user may use the API and read opportunities.",
            error_code=code,
            status=status,
            permanent=True,
        )
    if isinstance(exc, SalesforceMalformedRequest | SalesforceResourceNotFound):
        return SalesforceApiError(
            f"Salesforce rejected the request ({code or status}): {message}",
            error_code=code,
            status=status,
            permanent=True,
        )
    transient = status >= 500 or status == 429
    return SalesforceApiError(
        f"Salesforce answered {status} ({code or 'no error code'})"
        + ("; will retry." if transient else f": {message}"),
        error_code=code,
        status=status,
        permanent=not transient,
    )


class SalesforceClient:
    """The API of one connection's Salesforce org. Not thread-safe: one per task."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        credentials = services.connection_credentials(connection_id=connection.pk)
        self.instance_url = str(credentials["instance_url"]).rstrip("/")
        # The API allowance is the org's: every connection to it shares the figure.
        self.org_id = connection.external_id or self.instance_url
        self.session = http_session(self.instance_url)
        self.session.hooks["response"].append(self._read_limit_info)
        self.api_usage: tuple[int, int] | None = None
        """Requests used / allowed in the org's last 24 hours, from the latest response."""
        self.calls = 0
        """Requests Salesforce answered through this client (every page, every retry)."""
        self.sf = Salesforce(
            instance_url=self.instance_url,
            session_id=str(credentials["access_token"]),
            session=self.session,
            version=settings.SALESFORCE_API_VERSION,
            parse_float=Decimal,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read_limit_info(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # A hook sees error answers too, which simple-salesforce's own api_usage skips.
        self.calls += 1
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))
            ratelimit.salesforce_record_usage(
                self.org_id,
                used=self.api_usage[0],
                allowed=self.api_usage[1],
                ttl=LIMIT_RETRY_AFTER,
            )

    def _check_headroom(self) -> None:
        """Refuses to call while the org's last known usage leaves too little for others."""
        try:
            pause = ratelimit.salesforce_check(self.org_id)
        except ratelimit.LimiterUnavailable as exc:
            raise SalesforceApiError(
                f"The rate limiter is unavailable ({exc}); will retry."
            ) from exc
        if pause is not None:
            raise SalesforceApiError(
                pause.message, retry_after=max(math.ceil(pause.retry_after), 1)
            )

    def _call(self, operation: Callable[[Salesforce], T]) -> T:
        """Runs ``operation``; on an expired session refreshes and runs it once more."""
        for attempt in (1, 2):
            self._check_headroom()
            try:
                return operation(self.sf)
            except SalesforceExpiredSession as exc:
                if attempt == 2:
                    raise ReauthorizationRequired(
                        "Salesforce refused a freshly refreshed session. Reconnect Salesforce "
                        "to resume syncing."
                    ) from exc
                logger.info("connection %s: salesforce session expired", self.connection_id)
                credentials = services.connection_credentials(
                    connection_id=self.connection_id, rejected_access_token=self.sf.session_id
                )
                self.sf.session_id = str(credentials["access_token"])
                self.sf._generate_headers()  # the documented way (§6)
            except SalesforceError as exc:
                raise map_error(exc) from exc
            except requests.Timeout as exc:
                raise SalesforceApiError("Salesforce did not answer in time; will retry.") from exc
            except (requests.RequestException, ValueError) as exc:
                raise SalesforceApiError(
                    f"Salesforce could not be reached ({type(exc).__name__}); will retry."
                ) from exc
        raise AssertionError("unreachable")

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each page of a SOQL query as Salesforce answers it (``records``, ``done``, …).

        Pages are fetched as the caller iterates, so a large result is never held at once.
        ``batch_size`` (200 to 2000) asks Salesforce for smaller pages; it may answer larger ones.
        """
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        page: dict[str, Any] = self._call(
            lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        yield page
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self._call(
                functools.partial(_query_more, url=str(page["nextRecordsUrl"]), headers=headers)
            )
            yield page

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """The page at a root-relative ``nextRecordsUrl`` (of a query or of a child subquery)."""
        return self._call(functools.partial(_query_more, url=next_records_url, headers={}))

    def conversion_rates(self) -> RateTable:
        """Every conversion rate of the org: dated ones with advanced currency management,
        else the static ones of ``CurrencyType``."""
        rates: RateTable = {}
        try:
            pages = list(
                self.query_pages(
                    "SELECT IsoCode, ConversionRate, StartDate, NextStartDate "
                    "FROM DatedConversionRate"
                )
            )
            dated = True
        except SalesforceApiError as exc:
            if exc.error_code != "INVALID_TYPE":
                raise
            pages = list(
                self.query_pages(
                    "SELECT IsoCode, ConversionRate FROM CurrencyType WHERE IsActive = true"
                )
            )
            dated = False
        for page in pages:
            for row in page.get("records", []):
                start = dt.date.fromisoformat(row["StartDate"]) if dated else dt.date.min
                end = dt.date.fromisoformat(row["NextStartDate"]) if dated else dt.date.max
                rates.setdefault(str(row["IsoCode"]), []).append(
                    (start, end, Decimal(str(row["ConversionRate"])))
                )
        return rates

    def limits(self) -> dict[str, Any]:
        """``/limits``: the org's allowances; the cheapest call that proves the session works."""
        result = self._call(lambda sf: sf.limits())
        if not isinstance(result, dict):
            raise SalesforceApiError("Salesforce answered no limits.")
        return result

    def describe(self, sobject: str) -> dict[str, Any]:
        """``/sobjects/<sobject>/describe``: fields with types and picklist values."""
        if not _SOBJECT.match(sobject):
            raise ValueError(f"not an sObject name: {sobject!r}")
        result = self._call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        if not isinstance(result, dict):
            raise SalesforceApiError(f"Salesforce answered no description of {sobject}.")
        return result

    def update_records(
        self,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
    ) -> list[SaveResult]:
        """Updates records (each ``{"Id": ..., field: value}``) with the Composite sObject
        Collections API, 200 per request: one answer per record, in order.

        With ``all_or_none`` off, Salesforce saves the records it can and says why for each
        one it cannot; a refusal of the whole request raises :class:`SalesforceApiError`.
        """
        if not _SOBJECT.match(sobject):
            raise ValueError(f"not an sObject name: {sobject!r}")
        results: list[SaveResult] = []
        for start in range(0, len(records), RECORDS_PER_COLLECTION):
            chunk = records[start : start + RECORDS_PER_COLLECTION]
            body = {
                "allOrNone": all_or_none,
                "records": [
                    {
                        "attributes": {"type": sobject},
                        "id": str(record["Id"]),
                        **{k: v for k, v in record.items() if k != "Id"},
                    }
                    for record in chunk
                ],
            }
            answer = self._call(
                functools.partial(_patch_collection, data=json.dumps(body, default=_json_value))
            )
            rows = answer if isinstance(answer, list) else []
            for index, record in enumerate(chunk):
                raw = rows[index] if index < len(rows) and isinstance(rows[index], dict) else None
                results.append(
                    SaveResult.parse(raw, str(record["Id"]))
                    if raw is not None
                    else SaveResult(
                        str(record["Id"]),
                        False,
                        (SaveError("NO_ANSWER", "Salesforce answered nothing for it."),),
                    )
                )
        return results


def _patch_collection(sf: Salesforce, *, data: str) -> Any:
    return sf.restful("composite/sobjects", method="PATCH", data=data)


def _json_value(value: object) -> object:
    # Money goes as a JSON number: two decimals print back exactly from a float's repr.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Salesforce")


def _query_more(sf: Salesforce, *, url: str, headers: dict[str, str]) -> dict[str, Any]:
    page: dict[str, Any] = sf.query_more(url, identifier_is_url=True, headers=headers)
    return page


def salesforce_client(connection: Connection) -> SalesforceClient:
    """A client for ``connection``'s org, with usable (refreshed if need be) credentials."""
    return SalesforceClient(connection)

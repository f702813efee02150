"""The REST API: versions, resources, query/queryAll, describe, updated/deleted, limits.

Every authenticated call goes through :func:`api_view`: session check, edition, daily limit,
fault injection, then the ``Sforce-Limit-Info`` header. Errors are Salesforce's JSON arrays.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.db import atomic
from sandbox.faults import Faults
from sandbox.salesforce import jsonout, writes
from sandbox.salesforce.describe import describe_object, get_object, global_entry, objects_of
from sandbox.salesforce.ids import to_18
from sandbox.salesforce.models import SalesforceOrg
from sandbox.salesforce.services import identity_url, session_lookup
from sandbox.salesforce.soql import SoqlError
from sandbox.salesforce.soql.ast import Aggregate, FieldRef, Select
from sandbox.salesforce.soql.engine import Engine, Plan, format_datetime, query_more, run_query

MIN_VERSION, MAX_VERSION = 20, 66
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
UPDATED_WINDOW = dt.timedelta(days=30)
DELETED_WINDOW = dt.timedelta(days=15)
_VERSION = re.compile(r"^(\d{2})\.0$")
_SEASONS = ("Winter", "Spring", "Summer")


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class ApiContext:
    org: SalesforceOrg
    version: str


def json_response(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(
        jsonout.dumps(body), status=status, content_type="application/json;charset=UTF-8"
    )


def error_response(status: int, error_code: str, message: str) -> HttpResponse:
    return json_response([{"message": message, "errorCode": error_code}], status)


def valid_version(version: str) -> bool:
    match = _VERSION.match(version)
    return bool(match) and MIN_VERSION <= int(match.group(1)) <= MAX_VERSION  # type: ignore[union-attr]


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and token.strip():
        return token.strip()
    return ""


def _count_request(org: SalesforceOrg) -> SalesforceOrg:
    """Count one call on the org's daily usage (reset at UTC midnight) and its fault counter."""
    today = timezone.now().date()
    with atomic():
        SalesforceOrg.objects.filter(pk=org.pk).exclude(api_usage_day=today).update(
            api_usage=0, api_usage_day=today
        )
        SalesforceOrg.objects.filter(pk=org.pk).update(
            api_usage=F("api_usage") + 1, request_count=F("request_count") + 1
        )
    org.refresh_from_db()
    return org


def _consume_forced_limit(org: SalesforceOrg) -> None:
    faults = dict(org.faults or {})
    faults["force_429"] = max(0, int(faults.get("force_429", 0)) - 1)
    SalesforceOrg.objects.filter(pk=org.pk).update(faults=faults)


ApiHandler = Callable[..., HttpResponse]


def api_view(
    handler: ApiHandler | None = None, *, methods: tuple[str, ...] = ("GET", "HEAD")
) -> Any:
    """The checks every API call goes through; ``methods`` are those the resource accepts
    (records and collections also take PATCH: ``sandbox.salesforce.writes``)."""
    if handler is None:
        return lambda h: _api_view(h, methods)
    return _api_view(handler, methods)


def _api_view(handler: ApiHandler, methods: tuple[str, ...]) -> Callable[..., HttpResponse]:
    @csrf_exempt
    @wraps(handler)
    def view(request: HttpRequest, version: str, **kwargs: Any) -> HttpResponse:
        if not valid_version(version):
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method not in methods:
            return error_response(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(methods)}",
            )
        session = session_lookup(bearer_token(request))
        if session is None:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        org = session.org
        faults = Faults.from_json(org.faults)
        if faults.expire_tokens:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not org.api_enabled:
            return error_response(
                403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization."
            )
        org = _count_request(org)
        response = _serve(request, handler, ApiContext(org, version), faults, kwargs)
        response["Sforce-Limit-Info"] = f"api-usage={org.api_usage}/{org.daily_api_max}"
        return response

    return view


def _serve(
    request: HttpRequest,
    handler: ApiHandler,
    ctx: ApiContext,
    faults: Faults,
    kwargs: dict[str, Any],
) -> HttpResponse:
    org = ctx.org
    if org.api_usage > org.daily_api_max:
        return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    faults.delay()
    action = faults.decide(org.request_count)
    if action == "rate_limit":
        _consume_forced_limit(org)
        return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if action == "timeout":
        time.sleep(faults.timeout_seconds)
        return error_response(
            504,
            "REQUEST_RUNNING_TOO_LONG",
            "Your request was running for too long, and has been stopped.",
        )
    if action == "error":
        code = "SERVER_UNAVAILABLE" if faults.error_status == 503 else "UNKNOWN_EXCEPTION"
        return error_response(
            faults.error_status, code, "An unexpected error occurred. Please try again."
        )
    try:
        return handler(request, ctx, **kwargs)
    except SoqlError as exc:
        return error_response(exc.status, exc.error_code, exc.message)
    except ApiError as exc:
        return error_response(exc.status, exc.error_code, exc.message)


def _release(version: int) -> str:
    step = version - 62  # v62.0 is Winter '25
    return f"{_SEASONS[step % 3]} '{25 + step // 3:02d}"


@csrf_exempt
def versions(request: HttpRequest) -> HttpResponse:
    return json_response(
        [
            {"label": _release(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(MIN_VERSION, MAX_VERSION + 1)
        ]
    )


@api_view
def resources(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    """The resources this simulator serves, as relative URIs, and ``identity``: Salesforce gives
    the session user's absolute Identity URL there (jsforce reads the user from it)."""
    base = f"/services/data/v{ctx.version}"
    names = ["sobjects", "query", "queryAll", "limits"]
    body = {name: f"{base}/{name}" for name in names}
    body["identity"] = identity_url(request.build_absolute_uri("/").rstrip("/"), ctx.org)
    return json_response(body)


def _batch_size(request: HttpRequest) -> int:
    options = request.headers.get("Sforce-Query-Options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not match:
        return DEFAULT_BATCH
    return min(MAX_BATCH, max(MIN_BATCH, int(match.group(1))))


def _query(request: HttpRequest, ctx: ApiContext, include_deleted: bool) -> HttpResponse:
    soql = request.GET.get("q")
    if soql is None:
        if "explain" in request.GET:
            raise ApiError(400, "MALFORMED_QUERY", "explain is not supported by the sandbox")
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return json_response(
        run_query(
            ctx.org,
            soql,
            version=ctx.version,
            include_deleted=include_deleted,
            batch_size=_batch_size(request),
        )
    )


@api_view
def query(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return _query(request, ctx, include_deleted=False)


@api_view
def query_all(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return _query(request, ctx, include_deleted=True)


@api_view
def query_locator(request: HttpRequest, ctx: ApiContext, locator: str) -> HttpResponse:
    cursor_id, _, offset = locator.rpartition("-")
    if not cursor_id or not offset.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return json_response(query_more(ctx.org, cursor_id, int(offset), version=ctx.version))


@api_view
def sobjects(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [global_entry(obj, ctx.version) for obj in objects_of(ctx.org)],
        }
    )


def _object(name: str, org: SalesforceOrg) -> Any:
    obj = get_object(name, org)
    if obj is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return obj


@api_view
def describe(request: HttpRequest, ctx: ApiContext, sobject: str) -> HttpResponse:
    return json_response(describe_object(_object(sobject, ctx.org), ctx.org, ctx.version))


@api_view
def sobject_basic(request: HttpRequest, ctx: ApiContext, sobject: str) -> HttpResponse:
    obj = _object(sobject, ctx.org)
    return json_response({"objectDescribe": global_entry(obj, ctx.version), "recentItems": []})


def _parse_instant(value: str | None, name: str) -> dt.datetime:
    if not value:
        raise ApiError(400, "MALFORMED_QUERY", f"Missing required parameter: {name}")
    text = value.strip().replace(" ", "+").replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400,
            "MALFORMED_QUERY",
            f"{name}: {value} is not a valid dateTime",
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant


def _window(
    request: HttpRequest, days: dt.timedelta
) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    start = _parse_instant(request.GET.get("start"), "start")
    end = _parse_instant(request.GET.get("end"), "end")
    now = timezone.now()
    if end < start:
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
        )
    if start < now - days:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {days.days} days ago",
        )
    # Salesforce covers whole minutes, up to the end asked or now, whichever is earlier.
    latest = min(end, now).replace(second=0, microsecond=0)
    return start, end, latest


@api_view
def updated(request: HttpRequest, ctx: ApiContext, sobject: str) -> HttpResponse:
    obj = _object(sobject, ctx.org)
    start, _, latest = _window(request, UPDATED_WINDOW)
    ids = (
        obj.model.objects.filter(
            org=ctx.org, is_deleted=False, system_modstamp__gte=start, system_modstamp__lt=latest
        )
        .order_by("system_modstamp", "pk")
        .values_list("sf_id", flat=True)
    )
    return json_response({"ids": list(ids), "latestDateCovered": format_datetime(latest)})


@api_view
def deleted(request: HttpRequest, ctx: ApiContext, sobject: str) -> HttpResponse:
    obj = _object(sobject, ctx.org)
    start, _, latest = _window(request, DELETED_WINDOW)
    rows = (
        obj.model.objects.filter(
            org=ctx.org, is_deleted=True, deleted_date__gte=start, deleted_date__lt=latest
        )
        .order_by("deleted_date", "pk")
        .values_list("sf_id", "deleted_date")
    )
    earliest = (timezone.now() - DELETED_WINDOW).replace(second=0, microsecond=0)
    return json_response(
        {
            "deletedRecords": [
                {"id": sf_id, "deletedDate": format_datetime(when)} for sf_id, when in rows
            ],
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(latest),
        }
    )


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


@api_view(methods=("GET", "HEAD", "PATCH"))
def record(request: HttpRequest, ctx: ApiContext, sobject: str, record_id: str) -> HttpResponse:
    if request.method == "PATCH":
        try:
            writes.update_record(ctx.org, sobject, record_id, _json_body(request))
        except writes.RecordRefused as exc:
            return json_response([exc.error.to_json(key="errorCode")], exc.status)
        return HttpResponse(status=204)
    obj = _object(sobject, ctx.org)
    full = to_18(record_id)
    row = (
        obj.model.objects.filter(org=ctx.org, sf_id=full).values("pk", "is_deleted").first()
        if full
        else None
    )
    if row is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if row["is_deleted"]:
        raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
    engine = Engine(ctx.org, f"SELECT Id FROM {obj.name}", ctx.version)  # noqa: S608 - SOQL over a known object name, not SQL
    fields: list[FieldRef | Select | Aggregate] = [
        FieldRef((f.name,), 0) for f in obj.visible_fields(ctx.org)
    ]
    plan: Plan = engine.plan(Select(obj.name, 0, fields))
    return json_response(engine.render_rows(plan, [row["pk"]], include_deleted=False)[0])


@api_view(methods=("PATCH",))
def composite_sobjects(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    """The Collections update (PATCH): 200 with one result per record."""
    try:
        answers = writes.update_collection_all_or_none(ctx.org, _json_body(request))
    except writes.RecordRefused as exc:
        return json_response([exc.error.to_json(key="errorCode")], exc.status)
    return json_response(answers)


@api_view
def limits(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    org = ctx.org
    return json_response(
        {
            "DailyApiRequests": {
                "Max": org.daily_api_max,
                "Remaining": max(0, org.daily_api_max - org.api_usage),
            },
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        }
    )


@api_view
def not_found(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

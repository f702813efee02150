"""The Accounting API: authentication, limits, faults, spec validation, idempotency, routing.

``serve`` takes a Django request for ``api.xro/2.0/<subpath>`` and returns the response; the
view only hands it over. Handlers get an :class:`ApiCall` and return an :class:`ApiResult`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError
from django.db.models import Case, DecimalField, F, Model, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse

from sandbox.db import atomic
from sandbox.faults import Faults
from sandbox.xero import (
    filters,
    limits,
    oauth,
    refused,
    serialize,
    validation,
    webhooks,
    writes,
    xjson,
)
from sandbox.xero.filters import Field, FilterError
from sandbox.xero.models import (
    Account,
    BrandingTheme,
    Connection,
    Contact,
    CreditNote,
    Currency,
    IdempotencyRecord,
    Invoice,
    Item,
    Payment,
    TaxRate,
    TrackingCategory,
    XeroApp,
    XeroOrganisation,
)
from sandbox.xero.responses import json_response as _json_response
from sandbox.xero.responses import problem
from sandbox.xero.writes import Context, ElementError

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
IDEMPOTENCY_KEY_MAX = 128


@dataclass
class ApiCall:
    method: str
    subpath: str
    variables: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    app: XeroApp
    ctx: Context

    def flag(self, name: str, default: bool) -> bool:
        value = self.query.get(name)
        return default if value is None else value.lower() == "true"


@dataclass
class ApiResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Rejected(Exception):
    """Abort the call (and roll back its transaction) with this answer."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _too_many(problem_name: str, retry_after: int, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(
        "You have exceeded the rate limit.", status=429, content_type="text/plain"
    )
    response["X-Rate-Limit-Problem"] = problem_name
    response["Retry-After"] = str(max(retry_after, 1))
    for name, value in headers.items():
        response[name] = value
    return response


def serve(request: HttpRequest, subpath: str) -> HttpResponse:
    grant = oauth.authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    tenant = request.headers.get("xero-tenant-id", "")
    try:
        tenant_uuid = uuid.UUID(tenant)
    except ValueError:
        return problem(403, "Forbidden", "AuthenticationUnsuccessful")
    connection = (
        Connection.objects.select_related("organisation", "grant__app")
        .filter(grant=grant, organisation__organisation_id=tenant_uuid)
        .first()
    )
    if connection is None:
        return problem(403, "Forbidden", "AuthenticationUnsuccessful")
    org, app = connection.organisation, connection.grant.app
    faults = Faults.from_json(org.faults)
    if faults.expire_tokens:
        return problem(401, "Unauthorized", "TokenExpired: token expired by the sandbox")
    admission = limits.admit(org, app, count_requests=bool(org.faults))
    if admission.problem:
        return _too_many(admission.problem, admission.retry_after, admission.headers)
    try:
        faults.delay()
        action = faults.decide(admission.request_number) if org.faults else "ok"
        if action == "rate_limit":
            _consume_forced_429(org)
            response = _too_many("minute", 1, admission.headers)
        elif action == "timeout":
            time.sleep(faults.timeout_seconds)
            response = HttpResponse("Gateway Timeout", status=504, content_type="text/plain")
        elif action == "error":
            response = _json_response(
                faults.error_status,
                {"Title": "Service Unavailable", "Status": faults.error_status},
            )
        elif action == "lost":
            # Saved (and committed, idempotency record included), then the answer never
            # arrives: what a client cannot tell from a timeout before processing.
            _serve_checked(request, subpath, org, app)
            response = HttpResponse("Gateway Timeout", status=504, content_type="text/plain")
        else:
            response = _serve_checked(request, subpath, org, app)
    finally:
        if admission.holds_slot:
            limits.release(org)
    for name, value in admission.headers.items():
        response[name] = value
    return response


def _consume_forced_429(org: XeroOrganisation) -> None:
    with atomic():
        locked = XeroOrganisation.objects.select_for_update().get(pk=org.pk)
        faults = dict(locked.faults)
        faults["force_429"] = max(int(faults.get("force_429", 0)) - 1, 0)
        locked.faults = Faults.from_json(faults).to_json()
        locked.save(update_fields=["faults"])


def _serve_checked(
    request: HttpRequest, subpath: str, org: XeroOrganisation, app: XeroApp
) -> HttpResponse:
    method = request.method or "GET"
    raw_body = request.body if method in ("PUT", "POST") else None
    query = {k: request.GET.getlist(k) for k in request.GET}
    spec_request = validation.SpecRequest(
        method=method,
        subpath=subpath,
        body=raw_body if raw_body else (b"" if method in ("PUT", "POST") else None),
        query=query,
        # Xero takes naive ISO dates here (the SDK sends them), which the spec's date-time
        # format would refuse; _list parses the header itself and answers 400 if it can't.
        headers={k: v for k, v in request.headers.items() if k.lower() != "if-modified-since"},
        content_type=request.content_type or "application/json",
    )
    if spec_request.body == b"":
        spec_request.body = None
    try:
        route = validation.check_request(spec_request)
    except validation.SpecViolation as exc:
        return _json_response(exc.status, exc.body)
    handler = ROUTES.get((method, route.template))
    if handler is None:
        return _json_response(
            501,
            {
                "ErrorNumber": 0,
                "Type": "NotImplementedException",
                "Message": f"{method} {route.template} is not simulated by the sandbox",
            },
        )
    unitdp = 4 if request.GET.get("unitdp") == "4" else 2
    call = ApiCall(
        method=method,
        subpath=subpath,
        variables=route.variables,
        query={k: v[-1] for k, v in query.items()},
        headers={k.lower(): v for k, v in request.headers.items()},
        body=xjson_loads(raw_body),
        app=app,
        ctx=Context(org=org, unitdp=unitdp),
    )
    if method == "GET":
        return _run(handler, call)
    key = call.headers.get("idempotency-key")
    if key is None:
        return _run(handler, call)
    if len(key) > IDEMPOTENCY_KEY_MAX:
        return _json_response(
            400,
            validation.validation_error(
                [f"The Idempotency-Key must be {IDEMPOTENCY_KEY_MAX} characters or less."]
            ),
        )
    digest = hashlib.sha256(
        b"\n".join(
            [
                method.encode(),
                subpath.lower().encode(),
                request.META.get("QUERY_STRING", "").encode(),
                raw_body or b"",
            ]
        )
    ).hexdigest()
    replay = _replay(org, key, digest)
    if replay is not None:
        return replay
    try:
        return _run(handler, call, idempotency=(key, digest))
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        replay = _replay(org, key, digest)
        if replay is None:
            raise
        return replay


def xjson_loads(raw: bytes | None) -> Any:
    return json.loads(raw) if raw else None


def _replay(org: XeroOrganisation, key: str, digest: str) -> HttpResponse | None:
    record = IdempotencyRecord.objects.filter(organisation=org, key=key).first()
    if record is None:
        return None
    if record.request_hash != digest:
        return _json_response(
            400,
            validation.validation_error(
                [
                    "The Idempotency-Key has already been used with a different request. "
                    "Use a new key for a new request."
                ]
            ),
        )
    response = _json_response(record.status, bytes(record.body))
    response["Idempotent-Replayed"] = "true"
    return response


def _run(
    handler: Callable[[ApiCall], ApiResult],
    call: ApiCall,
    idempotency: tuple[str, str] | None = None,
) -> HttpResponse:
    status: int
    raw: bytes
    try:
        with atomic():
            result = handler(call)
            status = result.status
            raw = xjson.dumps(_envelope(call, result.body) if status == 200 else result.body)
            if idempotency is not None:
                _remember(call, idempotency, status, raw)
            webhooks.queue_events(call.ctx.org, call.ctx.events)
    except Rejected as exc:
        status, raw = exc.status, xjson.dumps(exc.body)
        if idempotency is not None:
            _remember(call, idempotency, status, raw)
    except FilterError as exc:
        status = 400
        raw = xjson.dumps({"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(exc)})
    return _json_response(status, raw)


def _envelope(call: ApiCall, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": call.app.name,
        "DateTimeUTC": xjson.ms_date(call.ctx.now),
        **body,
    }


def _remember(call: ApiCall, idempotency: tuple[str, str], status: int, raw: bytes) -> None:
    IdempotencyRecord.objects.create(
        organisation=call.ctx.org,
        key=idempotency[0],
        request_hash=idempotency[1],
        status=status,
        body=raw,
        created_at=call.ctx.now,
    )


# --- Reading ---------------------------------------------------------------------------------


def _f(lookup: str, kind: filters.Kind = "str") -> Field:
    return Field(lookup, kind)


UPDATED = {"UpdatedDateUTC": _f("updated_at", "datetime")}
CONTACT_FIELDS = {
    "ContactID": _f("contact_id", "uuid"),
    "Name": _f("name"),
    "ContactNumber": _f("contact_number"),
    "AccountNumber": _f("account_number"),
    "EmailAddress": _f("email_address"),
    "FirstName": _f("first_name"),
    "LastName": _f("last_name"),
    "ContactStatus": _f("status"),
    **UPDATED,
}
_DOC_FIELDS = {
    "Type": _f("type"),
    "Status": _f("status"),
    "Reference": _f("reference"),
    "Date": _f("date", "date"),
    "DueDate": _f("due_date", "date"),
    "CurrencyCode": _f("currency_code"),
    "Contact.ContactID": _f("contact__contact_id", "uuid"),
    "Contact.Name": _f("contact__name"),
    "Contact.ContactNumber": _f("contact__contact_number"),
    "SubTotal": _f("sub_total", "decimal"),
    "TotalTax": _f("total_tax", "decimal"),
    "Total": _f("total", "decimal"),
    **UPDATED,
}
INVOICE_FIELDS = {
    "InvoiceID": _f("invoice_id", "uuid"),
    "InvoiceNumber": _f("invoice_number"),
    "AmountDue": _f("amount_due_value", "decimal"),
    "AmountPaid": _f("amount_paid", "decimal"),
    "AmountCredited": _f("amount_credited", "decimal"),
    **_DOC_FIELDS,
}
CREDIT_NOTE_FIELDS = {
    "CreditNoteID": _f("credit_note_id", "uuid"),
    "CreditNoteNumber": _f("credit_note_number"),
    **_DOC_FIELDS,
}
ITEM_FIELDS = {
    "ItemID": _f("item_id", "uuid"),
    "Code": _f("code"),
    "Name": _f("name"),
    "Description": _f("description"),
    "IsSold": _f("is_sold", "bool"),
    "IsPurchased": _f("is_purchased", "bool"),
    **UPDATED,
}
PAYMENT_FIELDS = {
    "PaymentID": _f("payment_id", "uuid"),
    "Status": _f("status"),
    "Date": _f("date", "date"),
    "Amount": _f("amount", "decimal"),
    "Reference": _f("reference"),
    "Invoice.InvoiceID": _f("invoice__invoice_id", "uuid"),
    "Invoice.InvoiceNumber": _f("invoice__invoice_number"),
    "Invoice.Contact.ContactID": _f("invoice__contact__contact_id", "uuid"),
    "Account.AccountID": _f("account__account_id", "uuid"),
    "Account.Code": _f("account__code"),
    **UPDATED,
}
ACCOUNT_FIELDS = {
    "AccountID": _f("account_id", "uuid"),
    "Code": _f("code"),
    "Name": _f("name"),
    "Type": _f("type"),
    "Status": _f("status"),
    "TaxType": _f("tax_type"),
    "CurrencyCode": _f("currency_code"),
    "EnablePaymentsToAccount": _f("enable_payments_to_account", "bool"),
    "Class": _f("account_class"),
    **UPDATED,
}
TAX_RATE_FIELDS = {
    "Name": _f("name"),
    "TaxType": _f("tax_type"),
    "Status": _f("status"),
    "CanApplyToRevenue": _f("can_apply_to_revenue", "bool"),
}
TRACKING_FIELDS = {
    "TrackingCategoryID": _f("tracking_category_id", "uuid"),
    "Name": _f("name"),
    "Status": _f("status"),
}
CURRENCY_FIELDS = {"Code": _f("code"), "Description": _f("description")}
BRANDING_FIELDS = {"BrandingThemeID": _f("branding_theme_id", "uuid"), "Name": _f("name")}


def _ids(text: str | None) -> list[uuid.UUID]:
    out = []
    for part in (text or "").split(","):
        if part.strip():
            try:
                out.append(uuid.UUID(part.strip()))
            except ValueError as exc:
                raise FilterError(f"'{part.strip()}' is not a valid id") from exc
    return out


def _list(
    call: ApiCall,
    qs: QuerySet[Any],
    fields: dict[str, Field],
    key: str,
    serializer: Callable[[Any, bool], dict[str, Any]],
    *,
    paged: bool = False,
    default_order: tuple[str, ...] = ("pk",),
) -> ApiResult:
    where = call.query.get("where", "")
    qs = qs.filter(filters.where_q(where, fields))
    since = call.headers.get("if-modified-since")
    if since:
        parsed = xjson.parse_datetime(since)
        if parsed is None:
            raise FilterError(f"If-Modified-Since {since!r} is not a date")
        qs = qs.filter(updated_at__gt=parsed)
    order = call.query.get("order")
    qs = qs.order_by(*(filters.order_by(order, fields) if order else default_order))
    page_text = call.query.get("page")
    body: dict[str, Any] = {}
    full = True
    if paged and page_text is not None:
        page = max(int(page_text), 1)
        size = min(max(int(call.query.get("pageSize") or PAGE_SIZE), 1), MAX_PAGE_SIZE)
        count = qs.count()
        start = (page - 1) * size
        # Past the last page Xero answers an empty one (and PostgreSQL's OFFSET is 64 bits).
        qs = qs[start : start + size] if start < count else qs.none()
        body["pagination"] = {
            "page": page,
            "pageSize": size,
            "pageCount": (count + size - 1) // size,
            "itemCount": count,
        }
    elif paged and key == "Invoices":
        # Without `page`, Xero lists every invoice but leaves out their line items.
        full = False
    body[key] = [serializer(obj, full) for obj in qs]
    return ApiResult(200, body)


def _one(
    qs: QuerySet[Any], key: str, serializer: Callable[[Any, bool], dict[str, Any]], **lookup: Any
) -> ApiResult:
    obj = qs.filter(**lookup).first()
    if obj is None:
        raise Rejected(404, validation.not_found_body())
    return ApiResult(200, {key: [serializer(obj, True)]})


def _invoices(ctx: Context) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(organisation=ctx.org)
        .select_related("contact")
        .prefetch_related("payments", "allocations__credit_note")
        .annotate(
            amount_due_value=Case(
                When(status__in=["VOIDED", "DELETED"], then=Value(0)),
                default=F("total") - F("amount_paid") - F("amount_credited"),
                output_field=DecimalField(max_digits=18, decimal_places=2),
            )
        )
    )


def _credit_notes(ctx: Context) -> QuerySet[CreditNote]:
    return (
        CreditNote.objects.filter(organisation=ctx.org)
        .select_related("contact")
        .prefetch_related("allocations__invoice")
    )


def _payments(ctx: Context) -> QuerySet[Payment]:
    return Payment.objects.filter(organisation=ctx.org).select_related(
        "invoice__contact", "account"
    )


def get_organisation(call: ApiCall) -> ApiResult:
    return ApiResult(200, {"Organisations": [serialize.organisation(call.ctx.org)]})


def _simple(
    model: type[Model],
    fields: dict[str, Field],
    key: str,
    ser: Callable[[Any], dict[str, Any]],
    order: tuple[str, ...],
) -> Callable[[ApiCall], ApiResult]:
    def handler(call: ApiCall) -> ApiResult:
        qs = model._default_manager.filter(organisation=call.ctx.org)
        return _list(call, qs, fields, key, lambda o, _full: ser(o), default_order=order)

    return handler


def get_tracking_categories(call: ApiCall) -> ApiResult:
    archived = call.flag("includeArchived", False)
    qs = TrackingCategory.objects.filter(organisation=call.ctx.org).prefetch_related("options")
    if not archived:
        qs = qs.filter(status="ACTIVE")
    return _list(
        call,
        qs,
        TRACKING_FIELDS,
        "TrackingCategories",
        lambda o, _f: serialize.tracking_category(o, archived),
        default_order=("name",),
    )


def get_contacts(call: ApiCall) -> ApiResult:
    qs = Contact.objects.filter(organisation=call.ctx.org)
    ids = _ids(call.query.get("IDs"))
    if ids:
        qs = qs.filter(contact_id__in=ids)
    if not call.flag("includeArchived", False):
        qs = qs.exclude(status="ARCHIVED")
    term = call.query.get("searchTerm")
    if term:
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email_address__icontains=term)
            | Q(contact_number__icontains=term)
        )
    return _list(
        call,
        qs,
        CONTACT_FIELDS,
        "Contacts",
        lambda o, _f: serialize.contact(o),
        paged=True,
        default_order=("name", "pk"),
    )


def get_invoices(call: ApiCall) -> ApiResult:
    qs = _invoices(call.ctx)
    ids = _ids(call.query.get("IDs"))
    if ids:
        qs = qs.filter(invoice_id__in=ids)
    contact_ids = _ids(call.query.get("ContactIDs"))
    if contact_ids:
        qs = qs.filter(contact__contact_id__in=contact_ids)
    numbers = [n for n in (call.query.get("InvoiceNumbers") or "").split(",") if n]
    if numbers:
        qs = qs.filter(invoice_number__in=numbers)
    statuses = [s for s in (call.query.get("Statuses") or "").split(",") if s]
    if statuses:
        qs = qs.filter(status__in=statuses)
    unitdp = call.ctx.unitdp
    return _list(
        call,
        qs,
        INVOICE_FIELDS,
        "Invoices",
        lambda o, full: serialize.invoice(o, with_lines=full, unitdp=unitdp),
        paged=True,
    )


def get_credit_notes(call: ApiCall) -> ApiResult:
    unitdp = call.ctx.unitdp
    return _list(
        call,
        _credit_notes(call.ctx),
        CREDIT_NOTE_FIELDS,
        "CreditNotes",
        lambda o, _f: serialize.credit_note(o, unitdp=unitdp),
        paged=True,
    )


def get_payments(call: ApiCall) -> ApiResult:
    return _list(
        call,
        _payments(call.ctx),
        PAYMENT_FIELDS,
        "Payments",
        lambda o, _f: serialize.payment(o),
        paged=True,
    )


def get_items(call: ApiCall) -> ApiResult:
    unitdp = call.ctx.unitdp
    return _list(
        call,
        Item.objects.filter(organisation=call.ctx.org),
        ITEM_FIELDS,
        "Items",
        lambda o, _f: serialize.item(o, unitdp),
        default_order=("code",),
    )


def _by_id(
    queryset: Callable[[Context], QuerySet[Any]],
    key: str,
    variable: str,
    lookup: str,
    ser: Callable[[Any, ApiCall], dict[str, Any]],
) -> Callable[[ApiCall], ApiResult]:
    def handler(call: ApiCall) -> ApiResult:
        return _one(
            queryset(call.ctx),
            key,
            lambda o, _f: ser(o, call),
            **{lookup: call.variables[variable]},
        )

    return handler


def _org_qs(model: type[Model]) -> Callable[[Context], QuerySet[Any]]:
    return lambda ctx: model._default_manager.filter(organisation=ctx.org)


# --- Writing ---------------------------------------------------------------------------------

ERROR_FLAG = {
    "Invoices": "HasErrors",
    "CreditNotes": "HasErrors",
    "Contacts": "HasValidationErrors",
    "Payments": "HasValidationErrors",
    "Options": "HasValidationErrors",
}


def _elements(call: ApiCall, key: str) -> list[dict[str, Any]]:
    body = call.body
    if isinstance(body, dict) and isinstance(body.get(key), list):
        return [e for e in body[key] if isinstance(e, dict)]
    if isinstance(body, dict) and key not in body:
        return [body]
    raise Rejected(400, validation.post_data_invalid(f"Expected a JSON object with {key}"))


def _batch(
    call: ApiCall,
    key: str,
    write: Callable[[dict[str, Any]], Any],
    ser: Callable[[Any], dict[str, Any]],
    *,
    summarize_default: bool = True,
    mark_ok: bool = True,
    target: Any = None,
) -> ApiResult:
    summarize = call.flag("summarizeErrors", summarize_default)
    refuse = refused.refuser(call.ctx, key, method=call.method, target=target)
    outcomes: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    flag = ERROR_FLAG.get(key)
    for element in _elements(call, key):
        mark = len(call.ctx.events)
        try:
            with atomic():
                obj = write(element)
                # Serialise inside the savepoint: the element's own reads see its writes.
                data = ser(obj)
        except ElementError as exc:
            del call.ctx.events[mark:]
            # Xero answers the element's full model (a zero GUID for an id never given out);
            # settings elements without a model of their own here are echoed as sent.
            model = refuse(element) if refuse is not None else dict(element)
            model["ValidationErrors"] = [{"Message": m} for m in exc.messages]
            model["StatusAttributeString"] = "ERROR"
            if flag:
                model[flag] = True
            failed.append(model)
            outcomes.append(model)
            continue
        if mark_ok:
            data["StatusAttributeString"] = "OK"
        outcomes.append(data)
    if failed and summarize:
        raise Rejected(400, validation.validation_error([], elements=failed))
    return ApiResult(200, {key: outcomes})


def _target(call: ApiCall, qs: QuerySet[Any], variable: str, lookup: str) -> Any:
    obj = qs.filter(**{lookup: call.variables[variable]}).first()
    if obj is None:
        raise Rejected(404, validation.not_found_body())
    return obj


def write_contacts(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    target = None
    if "ContactID" in call.variables:
        target = _target(
            call, Contact.objects.filter(organisation=ctx.org), "ContactID", "contact_id"
        )
    return _batch(
        call,
        "Contacts",
        lambda d: writes.write_contact(ctx, d, create_only=call.method == "PUT", target=target),
        serialize.contact,
        target=target,
    )


def write_items(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    target = None
    if "ItemID" in call.variables:
        target = _target(call, Item.objects.filter(organisation=ctx.org), "ItemID", "item_id")
    return _batch(
        call,
        "Items",
        lambda d: writes.write_item(ctx, d, create_only=call.method == "PUT", target=target),
        lambda o: serialize.item(o, ctx.unitdp),
        target=target,
    )


def write_invoices(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    target = None
    if "InvoiceID" in call.variables:
        target = _target(
            call, Invoice.objects.filter(organisation=ctx.org), "InvoiceID", "invoice_id"
        )

    def reread(obj: Invoice) -> dict[str, Any]:
        return serialize.invoice(_invoices(ctx).get(pk=obj.pk), unitdp=ctx.unitdp)

    return _batch(
        call,
        "Invoices",
        lambda d: writes.write_document(
            ctx, d, kind="invoice", create_only=call.method == "PUT", target=target
        ),
        reread,
        target=target,
    )


def write_credit_notes(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    target = None
    if "CreditNoteID" in call.variables:
        target = _target(
            call, CreditNote.objects.filter(organisation=ctx.org), "CreditNoteID", "credit_note_id"
        )
    return _batch(
        call,
        "CreditNotes",
        lambda d: writes.write_document(
            ctx, d, kind="credit_note", create_only=call.method == "PUT", target=target
        ),
        lambda o: serialize.credit_note(_credit_notes(ctx).get(pk=o.pk), unitdp=ctx.unitdp),
        target=target,
    )


def write_payments(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    if "PaymentID" in call.variables:
        payment = _target(call, _payments(ctx), "PaymentID", "payment_id")
        return _batch(
            call,
            "Payments",
            lambda d: writes.delete_payment(ctx, payment, d),
            serialize.payment,
            target=payment,
        )
    return _batch(call, "Payments", lambda d: writes.write_payment(ctx, d), serialize.payment)


def write_allocations(call: ApiCall) -> ApiResult:
    ctx = call.ctx
    credit_note = _target(
        call,
        CreditNote.objects.filter(organisation=ctx.org).select_for_update(),
        "CreditNoteID",
        "credit_note_id",
    )
    return _batch(
        call,
        "Allocations",
        lambda d: writes.write_allocation(ctx, credit_note, d),
        serialize.allocation,
    )


def create_currencies(call: ApiCall) -> ApiResult:
    """The SDK sends one Currency object; a ``{"Currencies": [...]}`` body is taken too."""
    ctx = call.ctx
    return _batch(
        call,
        "Currencies",
        lambda d: writes.create_currency(ctx, d),
        serialize.currency,
        mark_ok=False,
    )


def create_tracking_options(call: ApiCall) -> ApiResult:
    """The SDK sends one TrackingOption; ``{"Options": [...]}`` (the XML API's shape) too."""
    ctx = call.ctx
    category = _target(
        call,
        TrackingCategory.objects.filter(organisation=ctx.org).select_for_update(),
        "TrackingCategoryID",
        "tracking_category_id",
    )
    return _batch(
        call,
        "Options",
        lambda d: writes.create_tracking_option(ctx, category, d),
        serialize.tracking_option,
        mark_ok=False,
    )


ROUTES: dict[tuple[str, str], Callable[[ApiCall], ApiResult]] = {
    ("GET", "/Organisation"): get_organisation,
    ("GET", "/Accounts"): _simple(
        Account, ACCOUNT_FIELDS, "Accounts", serialize.account, ("code", "name")
    ),
    ("GET", "/Accounts/{AccountID}"): _by_id(
        _org_qs(Account), "Accounts", "AccountID", "account_id", lambda o, _c: serialize.account(o)
    ),
    ("GET", "/TaxRates"): _simple(
        TaxRate, TAX_RATE_FIELDS, "TaxRates", serialize.tax_rate, ("name",)
    ),
    ("GET", "/TaxRates/{TaxType}"): _by_id(
        _org_qs(TaxRate), "TaxRates", "TaxType", "tax_type", lambda o, _c: serialize.tax_rate(o)
    ),
    ("GET", "/Currencies"): _simple(
        Currency, CURRENCY_FIELDS, "Currencies", serialize.currency, ("code",)
    ),
    ("PUT", "/Currencies"): create_currencies,
    ("GET", "/TrackingCategories"): get_tracking_categories,
    ("GET", "/TrackingCategories/{TrackingCategoryID}"): _by_id(
        lambda ctx: TrackingCategory.objects.filter(organisation=ctx.org),
        "TrackingCategories",
        "TrackingCategoryID",
        "tracking_category_id",
        lambda o, _c: serialize.tracking_category(o),
    ),
    ("PUT", "/TrackingCategories/{TrackingCategoryID}/Options"): create_tracking_options,
    ("GET", "/BrandingThemes"): _simple(
        BrandingTheme,
        BRANDING_FIELDS,
        "BrandingThemes",
        serialize.branding_theme,
        ("sort_order", "name"),
    ),
    ("GET", "/BrandingThemes/{BrandingThemeID}"): _by_id(
        _org_qs(BrandingTheme),
        "BrandingThemes",
        "BrandingThemeID",
        "branding_theme_id",
        lambda o, _c: serialize.branding_theme(o),
    ),
    ("GET", "/Contacts"): get_contacts,
    ("PUT", "/Contacts"): write_contacts,
    ("POST", "/Contacts"): write_contacts,
    ("GET", "/Contacts/{ContactID}"): _by_id(
        _org_qs(Contact), "Contacts", "ContactID", "contact_id", lambda o, _c: serialize.contact(o)
    ),
    ("GET", "/Contacts/{ContactNumber}"): _by_id(
        _org_qs(Contact),
        "Contacts",
        "ContactNumber",
        "contact_number",
        lambda o, _c: serialize.contact(o),
    ),
    ("POST", "/Contacts/{ContactID}"): write_contacts,
    ("GET", "/Items"): get_items,
    ("PUT", "/Items"): write_items,
    ("POST", "/Items"): write_items,
    ("GET", "/Items/{ItemID}"): _by_id(
        _org_qs(Item), "Items", "ItemID", "item_id", lambda o, c: serialize.item(o, c.ctx.unitdp)
    ),
    ("POST", "/Items/{ItemID}"): write_items,
    ("GET", "/Invoices"): get_invoices,
    ("PUT", "/Invoices"): write_invoices,
    ("POST", "/Invoices"): write_invoices,
    ("GET", "/Invoices/{InvoiceID}"): _by_id(
        _invoices,
        "Invoices",
        "InvoiceID",
        "invoice_id",
        lambda o, c: serialize.invoice(o, unitdp=c.ctx.unitdp),
    ),
    ("POST", "/Invoices/{InvoiceID}"): write_invoices,
    ("GET", "/CreditNotes"): get_credit_notes,
    ("PUT", "/CreditNotes"): write_credit_notes,
    ("POST", "/CreditNotes"): write_credit_notes,
    ("GET", "/CreditNotes/{CreditNoteID}"): _by_id(
        _credit_notes,
        "CreditNotes",
        "CreditNoteID",
        "credit_note_id",
        lambda o, c: serialize.credit_note(o, unitdp=c.ctx.unitdp),
    ),
    ("POST", "/CreditNotes/{CreditNoteID}"): write_credit_notes,
    ("PUT", "/CreditNotes/{CreditNoteID}/Allocations"): write_allocations,
    ("GET", "/Payments"): get_payments,
    ("PUT", "/Payments"): write_payments,
    ("POST", "/Payments"): write_payments,
    ("GET", "/Payments/{PaymentID}"): _by_id(
        _payments, "Payments", "PaymentID", "payment_id", lambda o, _c: serialize.payment(o)
    ),
    ("POST", "/Payments/{PaymentID}"): write_payments,
}

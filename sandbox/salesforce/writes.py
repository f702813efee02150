"""Record updates over the REST API: ``PATCH /sobjects/<Object>/<id>`` and the Composite
sObject Collections update (``PATCH /composite/sobjects``), as Salesforce answers them.

Field-level writability comes from the same table as describe (``describe.writable``), so a
field describe calls read-only is refused here too. An update moves SystemModstamp and
LastModifiedDate and, for an opportunity, fires the org's Outbound Message like any change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from django.core.exceptions import ValidationError

from sandbox.db import atomic
from sandbox.salesforce import outbound, services
from sandbox.salesforce.describe import NUMBER_TYPES, FieldDef, ObjectDef, get_object, writable
from sandbox.salesforce.ids import to_18
from sandbox.salesforce.models import Opportunity, SalesforceOrg, SObject

MAX_RECORDS: Final = 200
_TEXT: Final = frozenset({"string", "textarea", "url", "picklist", "email", "phone"})


@dataclass(frozen=True)
class RecordError:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def to_json(self, *, key: str = "statusCode") -> dict[str, Any]:
        return {key: self.status_code, "message": self.message, "fields": list(self.fields)}


class RecordRefused(Exception):
    def __init__(self, error: RecordError, *, status: int = 400) -> None:
        super().__init__(error.message)
        self.error = error
        self.status = status


def _convert(f: FieldDef, value: Any) -> Any:
    """The value as the model stores it; RecordRefused when the type does not fit."""
    if value is None:
        if not f.nillable:
            raise RecordRefused(
                RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]")
            )
        return "" if f.type in _TEXT else None
    if f.type in _TEXT:
        if not isinstance(value, str):
            value = str(value)
        if f.length and len(value) > f.length:
            raise RecordRefused(
                RecordError(
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {value[:40]} (max length={f.length})",
                    (f.name,),
                )
            )
        if f.type == "picklist" and f.picklist and value and value not in f.picklist:
            raise RecordRefused(
                RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {value}",
                    (f.name,),
                )
            )
        return value
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool):
            value = "x"
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise RecordRefused(
                RecordError(
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {f.type} from {value!r} for {f.name}",
                    (f.name,),
                )
            ) from None
        return number.quantize(Decimal(1).scaleb(-f.scale)) if f.scale else number
    if f.type == "date":
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise RecordRefused(
                RecordError(
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of date from {value!r} for {f.name}",
                    (f.name,),
                )
            ) from None
    if f.type == "boolean" and isinstance(value, bool):
        return value
    raise RecordRefused(
        RecordError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"The sandbox does not update {f.type} fields over the API: {f.name}",
            (f.name,),
        )
    )


def _changes(obj: ObjectDef, org: SalesforceOrg, values: Mapping[str, Any]) -> dict[str, Any]:
    """Model attribute → value for the fields sent; RecordRefused for the first bad one."""
    changes: dict[str, Any] = {}
    refused: list[str] = []
    for name, value in values.items():
        if name in {"attributes", "Id", "id"}:
            continue
        f = obj.field(name, org)
        if f is None:
            raise RecordRefused(
                RecordError(
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {obj.name}",
                    (name,),
                )
            )
        if not writable(f, org) or f.fk is not None or "__" in f.orm:
            refused.append(f.name)
            continue
        changes[f.orm] = _convert(f, value)
    if refused:
        raise RecordRefused(
            RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                tuple(refused),
            )
        )
    return changes


def _find(obj: ObjectDef, org: SalesforceOrg, record_id: Any) -> SObject:
    full = to_18(str(record_id or ""))
    found: SObject | None = (
        obj.model._default_manager.filter(org=org, sf_id=full).first() if full else None
    )
    row = found
    if row is None:
        raise RecordRefused(
            RecordError(
                "MALFORMED_ID" if not full else "NOT_FOUND",
                f"{obj.name} ID: id value of incorrect type: {record_id}"
                if not full
                else "The requested resource does not exist",
                ("Id",),
            ),
            status=404,
        )
    if row.is_deleted:
        raise RecordRefused(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
    return row


def update_record(org: SalesforceOrg, sobject: str, record_id: Any, values: Any) -> None:
    """One record's update; RecordRefused says why not (nothing is saved then)."""
    obj = get_object(sobject, org)
    if obj is None:
        raise RecordRefused(
            RecordError("NOT_FOUND", "The requested resource does not exist"), status=404
        )
    if not isinstance(values, Mapping):
        raise RecordRefused(RecordError("JSON_PARSER_ERROR", "The record must be an object."))
    with atomic():
        row = _find(obj, org, record_id)
        changes = _changes(obj, org, values)
        stage = changes.pop("stage_name", None)
        for attribute, value in changes.items():
            setattr(row, attribute, value)
        if isinstance(row, Opportunity) and stage is not None:
            services.apply_stage(row, stage, set_probability=False)
        services._touch(row)
        try:
            row.full_clean(exclude=["org"])
        except ValidationError as exc:
            raise RecordRefused(
                RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "; ".join(exc.messages))
            ) from exc
        row.save()
        if isinstance(row, Opportunity):
            outbound.notify(row)


def update_collection(org: SalesforceOrg, body: Any) -> list[dict[str, Any]]:
    """The Collections update: one answer per record, in order. With ``allOrNone`` a single
    refusal rolls every record back. RecordRefused for a request that is refused whole."""
    if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
        raise RecordRefused(
            RecordError("JSON_PARSER_ERROR", "The request must hold a list of records.")
        )
    records: list[Any] = body["records"]
    if len(records) > MAX_RECORDS:
        raise RecordRefused(
            RecordError(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_RECORDS} records into "
                "this call",
            )
        )
    all_or_none = bool(body.get("allOrNone"))
    answers: list[dict[str, Any]] = []
    failed = False
    with atomic():
        for raw in records:
            record_id = raw.get("id") if isinstance(raw, Mapping) else None
            sobject = str((raw.get("attributes") or {}).get("type") or "") if record_id else ""
            try:
                if not sobject:
                    raise RecordRefused(
                        RecordError(
                            "INVALID_FIELD",
                            "Each record needs attributes.type and an id to be updated.",
                        )
                    )
                with atomic():  # a savepoint: a refused record leaves nothing behind
                    update_record(org, sobject, record_id, raw)
                answers.append({"id": to_18(str(record_id)), "success": True, "errors": []})
            except RecordRefused as exc:
                failed = True
                answers.append(
                    {
                        **({"id": str(record_id)} if record_id else {}),
                        "success": False,
                        "errors": [exc.error.to_json()],
                    }
                )
        if all_or_none and failed:
            rolled = RecordError(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was "
                "using AllOrNone header",
            )
            answers = [
                answer
                if not answer["success"]
                else {"id": answer["id"], "success": False, "errors": [rolled.to_json()]}
                for answer in answers
            ]
            raise _RolledBack(answers)
    return answers


class _RolledBack(Exception):
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__("all or none")
        self.answers = answers


def update_collection_all_or_none(org: SalesforceOrg, body: Any) -> list[dict[str, Any]]:
    """:func:`update_collection`, answering the rolled-back results (the transaction undone)."""
    try:
        return update_collection(org, body)
    except _RolledBack as rolled:
        return rolled.answers

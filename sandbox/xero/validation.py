"""Checks Accounting API requests (and, for tests, responses) against Xero's OpenAPI spec.

The spec is loaded once per process (about 1.5 s). Its ``readOnly`` markers are dropped: the SDK
sends read-only flags (``HasAttachments``, ``HasErrors``...) in every write and real Xero ignores
read-only properties, while their types are still checked. ``validate_request`` is used rather
than ``unmarshal_request``: unmarshalling a 50-invoice batch takes about a second, validating it
about 30 ms; the handlers read the JSON themselves.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import (
    OperationNotFound,
    PathNotFound,
    ServerNotFound,
)
from openapi_core.validation.request.exceptions import (
    InvalidRequestBody,
    MissingRequestBody,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
)
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "xero_accounting.normalized.json"
SPEC_HOST = "https://api.xero.com"
SPEC_PREFIX = "/api.xro/2.0"

_lock = threading.Lock()
# jsonschema.exceptions.ValidationError (jsonschema ships no type stubs here).
SchemaError = Any


def _drop_read_only(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("readOnly", None)
        for value in node.values():
            _drop_read_only(value)
    elif isinstance(node, list):
        for value in node:
            _drop_read_only(value)


@functools.cache
def _load() -> OpenAPI:
    spec = json.loads(SPEC_PATH.read_text())
    _drop_read_only(spec)
    # Authentication is the simulator's own (oauth.authenticate), and openapi-core cannot check
    # the spec's OAuth2 scheme anyway (it warns on every call).
    spec.pop("security", None)
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    with warnings.catch_warnings():
        # The spec's OAuth2 security scheme is not one openapi-core checks; we do it ourselves.
        warnings.simplefilter("ignore", UserWarning)
        api = OpenAPI.from_dict(spec)
        api.request_validator  # noqa: B018 - built now, under the same warnings filter
        api.response_validator  # noqa: B018
    return api


def spec() -> OpenAPI:
    """The loaded spec, shared by the simulator and the tests' response checks."""
    with _lock:
        return _load()


@dataclass
class SpecRequest:
    """openapi-core's request protocol for one Accounting API call (path below ``2.0``)."""

    method: str
    subpath: str
    body: bytes | None
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    content_type: str = "application/json"
    host_url: str = SPEC_HOST
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict([(k, v) for k, vs in self.query.items() for v in vs]),
            header=Headers(list(self.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def path(self) -> str:
        return f"{SPEC_PREFIX}/{self.subpath.lstrip('/')}"


@dataclass
class SpecResponse:
    data: bytes
    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class SpecViolation(Exception):
    """A request the spec rejects. ``status`` 404 for an unknown route, else 400."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("Message", "invalid request"))
        self.status = status
        self.body = body


_TYPE_NAMES = {"number": "System.Decimal", "integer": "System.Int32", "boolean": "System.Boolean"}


def _json_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: SchemaError) -> tuple[bool, str]:
    """(is a conversion error, Xero-style message) for one schema error."""
    where = _json_path(error.absolute_path)
    if error.validator == "required":
        prop = re.findall(r"'([^']+)'", error.message)
        name = prop[0] if prop else "value"
        return False, f"{name} is required" + (f" ({where})" if where else "")
    if error.validator in ("enum", "type", "format"):
        wanted = error.validator_value
        if error.validator == "enum":
            target = "the allowed values " + ", ".join(map(str, wanted))
        elif error.validator == "type":
            target = _TYPE_NAMES.get(str(wanted), str(wanted))
        else:
            target = str(wanted)
        # Json.NET's wording, which is what Xero answers for values it cannot bind.
        return (
            True,
            f"Error converting value {json.dumps(error.instance)} to type '{target}'. "
            f"Path '{where}'.",
        )
    return False, f"{error.message} (at {where or 'body'})"


def validation_error(
    messages: list[str], elements: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    if elements is None:
        elements = [{"ValidationErrors": [{"Message": m} for m in messages]}]
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def post_data_invalid(message: str) -> dict[str, Any]:
    return {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}


def not_found_body(
    message: str = "The resource you're looking for cannot be found",
) -> dict[str, Any]:
    return {"Title": "NotFound", "Status": 404, "Detail": message}


@dataclass(frozen=True)
class Route:
    template: str
    """The spec path it matched, e.g. ``/Invoices/{InvoiceID}``."""
    variables: dict[str, str]


def check_request(request: SpecRequest) -> Route:
    """Validate ``request``; return the route it matched.

    Raises :class:`SpecViolation`.
    """
    api = spec()
    if request.body is not None:
        try:
            json.loads(request.body)
        except ValueError as exc:
            raise SpecViolation(400, post_data_invalid(f"Invalid Json data: {exc}")) from exc
    try:
        found = find_path(request)
    except (PathNotFound, OperationNotFound, ServerNotFound) as exc:
        raise SpecViolation(404, not_found_body()) from exc
    template = Route(found[3].pattern, dict(found[3].variables))
    errors = list(api.iter_request_errors(request))
    if not errors:
        return template
    conversions: list[str] = []
    messages: list[str] = []
    for error in errors:
        for schema_error in _schema_errors(error):
            is_conversion, message = _describe(schema_error)
            (conversions if is_conversion else messages).append(message)
        if isinstance(error, MissingRequiredRequestBody | MissingRequestBody):
            raise SpecViolation(400, post_data_invalid("The request body is empty"))
        if isinstance(error, ParameterValidationError):
            messages.append(f"{error}{': ' + str(error.__cause__) if error.__cause__ else ''}")
        elif not _schema_errors(error):
            messages.append(str(error))
    if conversions:
        raise SpecViolation(400, post_data_invalid(conversions[0]))
    raise SpecViolation(400, validation_error(messages))


def _schema_errors(error: Exception) -> list[SchemaError]:
    cause = error.__cause__
    found = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
    if isinstance(error, InvalidRequestBody | RequestBodyValidationError) or found:
        return list(found or [])
    return []


def find_path(request: SpecRequest) -> Any:
    """(path, operation, server, path result, server result) for ``request``.

    openapi-core has no public call for "which operation is this"; its validator's finder is
    the one place that answers it, so both the simulator and the tests use it through here.
    """
    return spec().request_validator._find_path(request)  # type: ignore[attr-defined]


def check_response(request: SpecRequest, response: SpecResponse) -> list[str]:
    """Spec errors of ``response`` to ``request`` (empty when it conforms). For tests."""
    return [
        f"{e}: {getattr(e.__cause__, 'schema_errors', '') or e.__cause__ or ''}"
        for e in spec().iter_response_errors(request, response)
    ]

"""Xero's answers that are not documents: JSON bodies and identity-layer problems."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse

from sandbox.xero import xjson


def json_response(status: int, body: dict[str, Any] | bytes) -> HttpResponse:
    raw = body if isinstance(body, bytes) else xjson.dumps(body)
    return HttpResponse(raw, status=status, content_type="application/json; charset=utf-8")


def problem(status: int, title: str, detail: str) -> HttpResponse:
    """Xero's identity-layer errors (401, 403): a problem-details object."""
    response = json_response(
        status,
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response

"""Inbound endpoints that other systems call: no login, no CSRF token — each verifies its
sender itself before storing anything, answers fast, and queues the work."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.sync.push import push_receive


@csrf_exempt
@require_POST
def salesforce_outbound(request: HttpRequest, token: str) -> HttpResponse:
    """A Salesforce Outbound Message for the integration whose push URL holds ``token``.

    Answered ``<Ack>true</Ack>`` once its opportunities are durably pending; any other answer
    makes Salesforce deliver it again later (for up to 24 hours).
    """
    limit = int(settings.PUSH_MAX_BODY_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = b""
    oversized = declared > limit
    if not oversized:
        # Read through the stream, one byte past the limit: a body longer than it declared
        # (or sent chunked) is caught without holding more than that in memory.
        body = request.read(limit + 1)
        oversized = len(body) > limit
    reply = push_receive(token=token, body=body, oversized=oversized)
    return HttpResponse(reply.body, status=reply.status, content_type="text/xml; charset=utf-8")

"""Inbound webhooks: the sender is verified by the service before anything is stored."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.sync.writeback import xero_webhook_receive


@csrf_exempt  # Xero signs the body instead; it has no session or CSRF token.
@require_POST
def xero_webhook(request: HttpRequest) -> HttpResponse:
    """Xero's webhook deliveries and its intent-to-receive check: an empty body for 200 and
    401, as Xero requires; a reason for 400 (a signed delivery that is not a payload)."""
    answer = xero_webhook_receive(
        body=request.body, signature=request.headers.get("x-xero-signature", "")
    )
    if answer.status == 400 or answer.status == 413:
        return HttpResponse(answer.reason, status=answer.status, content_type="text/plain")
    return HttpResponse(status=answer.status)

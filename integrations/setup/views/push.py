"""The wizard's "Real-time push" step: the Outbound Message URL, how to set Salesforce up, the
"Send a test message" check and the URL's rotation (owners and admins; support reads)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.steps import Step
from integrations.setup.views.common import base_context, integration_of, step_url
from integrations.sync.push import (
    push_endpoint_for,
    push_endpoint_rotate,
    push_endpoint_url,
    push_health,
    push_test_request,
)


def render_push(request: AccountRequest, integration: Integration, step: Step) -> HttpResponse:
    endpoint = push_endpoint_for(integration=integration)
    context = base_context(request, integration, step, None, problems=[])
    context.update(
        {
            "endpoint": endpoint,
            # The URL's token is a credential: CarryTheOne staff viewing as support never see it.
            "push_url": "(hidden from CarryTheOne staff)"
            if request.membership.is_staff_view
            else push_endpoint_url(endpoint),
            "health": push_health(integration=integration),
            "test_waiting": endpoint.test_requested_at is not None
            and endpoint.test_received_at is None,
        }
    )
    return render(request, "integrations/setup/push.html", context)


def _back(request: AccountRequest, integration: Integration) -> HttpResponse:
    return redirect(step_url(request, integration, steps.step("push")))


@account_view(Role.ADMIN)
@require_POST
def setup_push_test(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    push_test_request(integration=integration)
    messages.info(
        request,
        "Waiting for a message: in Salesforce, mark an opportunity won (or save one your Flow "
        "reacts to), then reload this page.",
    )
    return _back(request, integration)


@account_view(Role.ADMIN)
@require_POST
def setup_push_rotate(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    push_endpoint_rotate(integration=integration, user=request.user)
    messages.success(
        request,
        "A new push URL is ready; the old one no longer works. Paste the new one into the "
        "Outbound Message's Endpoint URL in Salesforce.",
    )
    return _back(request, integration)

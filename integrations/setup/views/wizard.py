"""The wizard's pages: the first page (resumes at the first step not done) and one page per step,
saved on its own."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.core.config import ConfigError
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.services import config_update
from integrations.setup.sources import XERO, load_sources
from integrations.setup.steps import Step
from integrations.setup.views.common import (
    base_context,
    integration_of,
    require_edit,
    step_url,
    url_kwargs,
)
from integrations.setup.views.page import render_step, step_form
from integrations.setup.views.push import render_push
from integrations.setup.views.review import render_review, review_recheck


@account_view(Role.SUPPORT)
def setup(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Resumes the wizard: the first step not done yet."""
    integration = integration_of(request, integration_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    return redirect(step_url(request, integration, steps.resume_step(integration)))


# --- steps -------------------------------------------------------------------------------------


@account_view(Role.SUPPORT)
def setup_step(request: AccountRequest, integration_id: int, step_key: str) -> HttpResponse:
    integration = integration_of(request, integration_id)
    step = steps.step(step_key)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "POST":
        require_edit(request)
    if step.kind == "connect":
        if request.method == "POST":
            return redirect(step_url(request, integration, steps.next_step(step)))
        return _render_connect(request, integration, step)
    if step.kind == "push":
        if request.method == "POST":
            steps.mark_done(integration, [step.key])
            return redirect(step_url(request, integration, steps.next_step(step)))
        return render_push(request, integration, step)
    if step.kind == "review":
        if request.method == "POST":
            return review_recheck(request, integration)
        return render_review(request, integration, step)
    if request.method == "POST":
        return _save_step(request, integration, step)
    return render_step(request, integration, step)


def _render_connect(request: AccountRequest, integration: Integration, step: Step) -> HttpResponse:
    connection = (
        integration.xero_connection if step.key == XERO else integration.salesforce_connection
    )
    context = base_context(request, integration, step, None)
    context.update(
        {
            "connection": connection,
            "provider": step.key,
            "provider_name": "Xero" if step.key == XERO else "Salesforce",
            "connect_url": reverse(f"{step.key}:connect", kwargs=url_kwargs(request, integration)),
        }
    )
    return render(request, "integrations/setup/connect.html", context)


def _save_step(request: AccountRequest, integration: Integration, step: Step) -> HttpResponse:
    sources = load_sources(integration)
    form = step_form(request, integration, step, sources, data=request.POST)
    if request.POST.get("_reload"):
        # A field changed (htmx): draw the form again for the new choice, save nothing.
        form.silence()
        return render_step(request, integration, step, form=form, sources=sources)
    if form.is_valid():
        try:
            config_update(integration=integration, data=form.config_data(), user=request.user)
        except ConfigError as exc:
            form.add_config_error(exc)
        else:
            steps.mark_done(integration, [step.key])
            messages.success(request, f"{step.title}: saved.")
            return redirect(step_url(request, integration, steps.next_step(step)))
    return render_step(request, integration, step, form=form, sources=sources)

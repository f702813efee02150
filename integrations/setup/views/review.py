"""Reading Xero's and Salesforce's settings again, the review with everything that blocks
switching on (both connections checked live), and switching on or off."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.core.behaviours import BEHAVIOUR_LABELS, ConfigProblem
from integrations.core.health import connection_check
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.forms import (
    RULE_MODELS,
    StepForm,
)
from integrations.setup.sources import SALESFORCE, XERO, Sources, load_sources
from integrations.setup.steps import STEPS, Step
from integrations.setup.validation import integration_check_configuration
from integrations.setup.views.common import (
    base_context,
    integration_of,
    is_htmx,
    problem_url,
    step_url,
    url_kwargs,
)
from integrations.setup.views.page import render_step, step_form


@account_view(Role.ADMIN)
def setup_refresh(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Reads Xero and/or Salesforce again, then shows the step it was asked from."""
    integration = integration_of(request, integration_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    provider = request.POST.get("provider", "")
    wanted = [p for p in (XERO, SALESFORCE) if provider in (p, "both")]
    step = steps.BY_KEY.get(request.POST.get("step", ""), steps.BY_KEY["opportunities"])
    sources = load_sources(integration, refresh=wanted)
    for state in sources.states:
        if state.provider not in wanted or not state.connected:
            continue
        if state.error:
            messages.error(
                request,
                f"Could not read {state.name}: {state.error} The lists show what was known before.",
            )
        else:
            messages.success(request, f"Read {state.name} again: the lists are up to date.")
    if is_htmx(request) and step.kind == "config":
        return render_step(request, integration, step, sources=sources)
    return redirect(step_url(request, integration, step))


# --- review and switching on -------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemView:
    problem: ConfigProblem
    step: Step
    url: str
    behaviour: str


@dataclass(frozen=True)
class SummaryLine:
    label: str
    value: str


@dataclass(frozen=True)
class SummaryStep:
    step: Step
    url: str
    lines: list[SummaryLine]
    rules: int | None


def _problem_views(
    request: AccountRequest, integration: Integration, problems: list[ConfigProblem]
) -> list[ProblemView]:
    views = []
    for problem in problems:
        step, url = problem_url(request, integration, problem.field)
        views.append(ProblemView(problem, step, url, BEHAVIOUR_LABELS.get(problem.behaviour, "")))
    return views


def _display(form: StepForm, name: str) -> str:
    bound = form[name]
    value = bound.value()
    if isinstance(bound.field, forms.BooleanField):
        return "Yes" if value else "No"
    choices = getattr(bound.field, "choices", None)
    if choices:
        for option, label in choices:
            if isinstance(label, list | tuple):
                for sub_option, sub_label in label:
                    if str(sub_option) == str(value or ""):
                        return str(sub_label)
            elif str(option) == str(value or ""):
                return str(label)
    if value in (None, ""):
        return "—"
    if isinstance(value, dt.date):
        return f"{value.day} {value:%b %Y}"
    return str(value)


def _summary(
    request: AccountRequest, integration: Integration, sources: Sources
) -> list[SummaryStep]:
    out = []
    for step in STEPS:
        if step.kind != "config":
            continue
        form = step_form(request, integration, step, sources)
        lines = [
            SummaryLine(str(form.fields[k].label), _display(form, k)) for k in form.summary_fields()
        ]
        rules = None
        if step.rules:
            rules = RULE_MODELS[step.rules]._default_manager.filter(integration=integration).count()
        out.append(SummaryStep(step, step_url(request, integration, step), lines, rules))
    return out


def blocking_reasons(integration: Integration, sources: Sources) -> list[str]:
    """Why the integration cannot be switched on, besides configuration problems.

    Each connection is proved to work right now by a live call (at most one a minute): cached
    settings alone would say "everything checks out" while a token refresh keeps failing.
    """
    reasons = []
    for state, connection in (
        (sources.xero_state, integration.xero_connection),
        (sources.salesforce_state, integration.salesforce_connection),
    ):
        if connection is None:
            reasons.append(f"Connect {state.name} first.")
        elif connection.status != connection.Status.ACTIVE:
            reasons.append(
                f"The {state.name} connection needs reconnecting: "
                f"{connection.last_error or connection.get_status_display()}"
            )
        elif error := connection_check(connection=connection):
            reasons.append(f"{state.name} could not be reached just now: {error}")
    if not reasons:
        if sources.xero is None:
            reasons.append(
                f"Xero could not be read, so the settings cannot be checked: "
                f"{sources.xero_state.error or 'try again.'}"
            )
        if sources.salesforce is None:
            reasons.append(
                f"Salesforce could not be read, so the settings cannot be checked: "
                f"{sources.salesforce_state.error or 'try again.'}"
            )
    return reasons


def render_review(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    *,
    refresh: bool = False,
) -> HttpResponse:
    sources = load_sources(integration, refresh=[XERO, SALESFORCE] if refresh else [])
    reasons = blocking_reasons(integration, sources)
    problems: list[ConfigProblem] = []
    if not reasons:
        problems = integration_check_configuration(integration_id=integration.pk, refresh=False)
        integration.refresh_from_db(fields=["config_problems", "config_checked_at"])
    context = base_context(
        request, integration, step, sources, problems=None if reasons else problems
    )
    context.update(
        {
            "reasons": reasons,
            "problems": _problem_views(request, integration, problems),
            "summary": _summary(request, integration, sources),
            "switch_url": reverse(
                "integrations:setup_switch", kwargs=url_kwargs(request, integration)
            ),
            "preview_url": reverse(
                "integrations:setup_preview", kwargs=url_kwargs(request, integration)
            ),
            "refresh_url": reverse(
                "integrations:setup_refresh", kwargs=url_kwargs(request, integration)
            ),
            "ready": not reasons and not problems,
        }
    )
    return render(request, "integrations/setup/review.html", context)


def review_recheck(request: AccountRequest, integration: Integration) -> HttpResponse:
    """Checks again with fresh copies of both systems' settings."""
    return render_review(request, integration, steps.BY_KEY["review"], refresh=True)


@account_view(Role.ADMIN)
def setup_switch(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Switches syncing on (only when the check against Xero and Salesforce finds nothing
    wrong) or off."""
    integration = integration_of(request, integration_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    review = steps.BY_KEY["review"]
    if request.POST.get("on") != "1":
        steps.switch_off(integration=integration, user=request.user)
        messages.success(request, "Syncing is off. Nothing more is sent to Xero until it is on.")
        # Back where it was asked for: the integration's page or the wizard's last step.
        if request.POST.get("back") == "detail":
            return redirect(reverse("integrations:detail", kwargs=url_kwargs(request, integration)))
        return redirect(step_url(request, integration, review))
    sources = load_sources(integration, refresh=[XERO, SALESFORCE])
    reasons = blocking_reasons(integration, sources)
    problems: list[ConfigProblem] = []
    if not reasons:
        problems = integration_check_configuration(integration_id=integration.pk, refresh=False)
    if reasons or problems:
        count = len(reasons) + len(problems)
        messages.error(
            request,
            f"Not switched on: {count} thing{'s' if count != 1 else ''} to fix first (listed "
            "below).",
        )
        return redirect(step_url(request, integration, review))
    steps.switch_on(integration=integration, user=request.user)
    messages.success(
        request,
        "Syncing is on: won opportunities are read within a minute and their invoices created "
        "in Xero. The sync log shows each one.",
    )
    return redirect(reverse("integrations:detail", kwargs=url_kwargs(request, integration)))

"""The rule tables' page: payment methods, tax rules and tracking rules, one row edited at a
time (in place with htmx)."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.core.behaviours import ConfigProblem
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.forms import (
    RULE_FORMS,
    RULE_MODELS,
    RuleForm,
    rule_snapshot,
)
from integrations.setup.services import rule_row_delete, rule_row_save
from integrations.setup.sources import Sources, load_sources
from integrations.setup.steps import Step
from integrations.setup.views.common import (
    can_edit,
    current_problems,
    integration_of,
    is_htmx,
    step_url,
    url_kwargs,
)
from integrations.setup.views.page import render_step, rule_form, rule_section


@account_view(Role.ADMIN)
def setup_rules(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Saves or deletes one rule row, or draws it again (a changed field, a mapping row added
    or removed). With htmx the answer is the rule table; without, the step's page."""
    integration = integration_of(request, integration_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    table = request.POST.get("table", "")
    if table not in RULE_FORMS:
        raise Http404("No such rule table.")
    step = steps.STEP_OF_TABLE[table]
    model = RULE_MODELS[table]
    row_id = request.POST.get("row", "")
    if row_id:
        try:
            instance = model._default_manager.get(integration=integration, pk=int(row_id))
        except (model.DoesNotExist, ValueError) as exc:  # type: ignore[attr-defined]
            raise Http404("No such rule.") from exc
    else:
        instance = model(integration=integration)
    action = request.POST.get("action", "save")
    sources = load_sources(integration)
    fields = list(RULE_FORMS[table]._meta.fields or ())
    before = rule_snapshot(instance, fields) if instance.pk else None

    if action == "delete" and instance.pk:
        label = rule_row_delete(
            integration=integration, user=request.user, table=table, row=instance, fields=fields
        )
        return _rules_done(request, integration, step, sources, f"Removed {label}.")

    form = rule_form(
        request, integration, table, instance, sources, data=request.POST, action=action
    )
    if action == "save":
        if form.validate_row():
            label = rule_row_save(
                integration=integration,
                user=request.user,
                table=table,
                row=form.save(commit=False),
                fields=fields,
                before=before,
            )
            return _rules_done(request, integration, step, sources, f"Saved {label}.")
    else:
        form.silence()
    if is_htmx(request):
        return _render_rules(request, integration, step, sources, override=form)
    return render_step(request, integration, step, sources=sources, rule_form=form)


def _rules_done(
    request: AccountRequest, integration: Integration, step: Step, sources: Sources, note: str
) -> HttpResponse:
    if is_htmx(request):
        return _render_rules(request, integration, step, sources, note=note)
    messages.success(request, note)
    return redirect(f"{step_url(request, integration, step)}#rules-{step.rules}")


def _render_rules(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    sources: Sources,
    *,
    override: RuleForm | None = None,
    note: str = "",
) -> HttpResponse:
    integration.refresh_from_db(fields=["config", "config_problems"])
    problems: dict[str, list[ConfigProblem]] = defaultdict(list)
    for problem in current_problems(integration, sources):
        if steps.step_for_field(problem.field) == step:
            problems[problem.field].append(problem)
    context = {
        "integration": integration,
        "rules": rule_section(request, integration, step, sources, override, problems),
        "rules_url": reverse("integrations:setup_rules", kwargs=url_kwargs(request, integration)),
        "can_edit": can_edit(request),
        "note": note,
    }
    return render(request, "integrations/setup/_rules.html", context)

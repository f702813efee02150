"""A configuration step's page as every view draws it: its form, its problems at their fields,
and its rule table when it has one."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import models
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.access import AccountRequest
from integrations.core.behaviours import ConfigProblem
from integrations.core.models import Integration
from integrations.rules.models import MAX_TRACKING_RULES
from integrations.setup.forms import (
    RULE_FORMS,
    RULE_MODELS,
    STEP_FORMS,
    RuleForm,
    StepForm,
    country_choices,
    rule_label,
)
from integrations.setup.sources import Sources, load_sources
from integrations.setup.steps import Step
from integrations.setup.views.common import (
    RuleRow,
    RuleSection,
    base_context,
    can_edit,
    config_of,
    field_views,
    step_url,
    stored_settings,
    url_kwargs,
)


def rule_form(
    request: AccountRequest,
    integration: Integration,
    table: str,
    instance: models.Model,
    sources: Sources,
    *,
    data: Any = None,
    action: str = "",
) -> RuleForm:
    stored, _error = stored_settings(integration)
    return RULE_FORMS[table](
        data,
        instance=instance,
        integration=integration,
        config=config_of(stored),
        sources=sources,
        read_only=not can_edit(request),
        rules_url=reverse("integrations:setup_rules", kwargs=url_kwargs(request, integration)),
        action=action,
    )


def rule_section(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    sources: Sources,
    override: RuleForm | None,
    problems: dict[str, list[ConfigProblem]],
) -> RuleSection:
    table = step.rules
    model = RULE_MODELS[table]
    saved = list(model._default_manager.filter(integration=integration).order_by("pk"))
    rows: list[RuleRow] = []
    for instance in saved:
        if override is not None and override.instance.pk == instance.pk:
            form = override
        else:
            form = rule_form(request, integration, table, instance, sources)
        label = rule_label(table, instance)
        row_problems = [
            p
            for key, found in problems.items()
            if key.casefold() == label.casefold()
            for p in found
        ]
        rows.append(RuleRow(form, row_problems, field_views(form, {}), is_new=False))
    limit = MAX_TRACKING_RULES if table == "tracking_rules" else None
    # A rule needs a category to tag with: an organisation without one gets the way to make
    # one instead of an empty dropdown.
    no_categories = (
        table == "tracking_rules"
        and sources.xero is not None
        and not sources.xero.tracking_categories
    )
    can_add = can_edit(request) and (limit is None or len(saved) < limit) and not no_categories
    if override is not None and override.instance.pk is None:
        # A new row as posted (with its errors), even when the table is full.
        rows.append(RuleRow(override, [], field_views(override, {}), is_new=True))
    elif can_add:
        form = rule_form(request, integration, table, model(), sources)
        rows.append(RuleRow(form, [], field_views(form, {}), is_new=True))
    table_problems = list(problems.get(table, []))
    labels = {rule_label(table, i).casefold() for i in saved}
    # Problems about rows that are not there (a value without a rule): shown above the table.
    for key, found in problems.items():
        if key.startswith(f"{table}:") and key.casefold() not in labels:
            table_problems.extend(found)
    titles = {
        "payment_methods": "Payment methods",
        "tax_rules": "Tax rules",
        "tracking_rules": "Tracking rules",
    }
    note = ""
    if limit is not None and len(saved) >= limit:
        note = "Xero allows two active tracking categories: remove a rule to add another."
    elif no_categories:
        note = (
            "This organisation has no tracking categories; create one in Xero → Settings → "
            "Tracking categories, then refresh."
        )
    return RuleSection(table, titles[table], rows, table_problems, can_add, note)


def step_form(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    sources: Sources,
    data: Any = None,
) -> StepForm:
    stored, _error = stored_settings(integration)
    return STEP_FORMS[step.key](
        data,
        stored=stored,
        integration=integration,
        sources=sources,
        read_only=not can_edit(request),
        reload_url=step_url(request, integration, step),
    )


def render_step(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    *,
    form: StepForm | None = None,
    sources: Sources | None = None,
    rule_form: RuleForm | None = None,
) -> HttpResponse:
    """A configuration step's page; ``form`` / ``rule_form`` replace the fresh ones (posted
    values with their errors)."""
    if sources is None:
        sources = load_sources(integration)
    if form is None:
        form = step_form(request, integration, step, sources)
    context = base_context(request, integration, step, sources)
    problems: dict[str, list[ConfigProblem]] = defaultdict(list)
    for problem in context["step_problems"]:
        problems[problem.field].append(problem)
    _stored_values, stored_error = stored_settings(integration)
    if stored_error is not None and stored_error.field in form.fields and not form.is_bound:
        problems[stored_error.field].append(
            ConfigProblem(stored_error.field, stored_error.message, "invoices")
        )
    context.update(
        {
            "form": form,
            "fields": field_views(form, problems),
            "stored_error": stored_error,
            "rules": rule_section(request, integration, step, sources, rule_form, problems)
            if step.rules
            else None,
            "countries": country_choices() if step.rules == "tax_rules" else [],
            "rules_url": reverse(
                "integrations:setup_rules", kwargs=url_kwargs(request, integration)
            ),
            "refresh_url": reverse(
                "integrations:setup_refresh", kwargs=url_kwargs(request, integration)
            ),
            "multi_currency": sources.salesforce.multi_currency if sources.salesforce else None,
            "base_currency": sources.xero.base_currency if sources.xero else "",
        }
    )
    return render(request, "integrations/setup/step.html", context)

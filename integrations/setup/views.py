"""The setup wizard: one page per step, the rule tables, the review, the preview, the history.

Every page goes through ``account_view``: support members see every step read-only (GET);
changing anything (every POST) needs an admin. Each step saves on its own and moves on; the
integration stays off until the review finds no problem and someone switches it on. Pages work
without JavaScript (plain POST and redirect); with htmx, rule rows, the metadata refresh and
the preview search update in place.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations.connections.providers import ProviderError
from integrations.core.behaviours import BEHAVIOUR_LABELS, ConfigProblem, stored_problems
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.health import connection_check
from integrations.core.models import ConfigChange, Integration
from integrations.rules.models import MAX_TRACKING_RULES
from integrations.setup import steps
from integrations.setup.forms import (
    RULE_FORMS,
    RULE_MODELS,
    STEP_FORMS,
    RuleForm,
    StepForm,
    country_choices,
    rule_label,
    rule_snapshot,
)
from integrations.setup.help import ALL as HELP
from integrations.setup.help import Help, help_for
from integrations.setup.services import config_history, config_update, rule_saved
from integrations.setup.sources import SALESFORCE, XERO, Sources, ago, load_sources
from integrations.setup.steps import STEPS, Step
from integrations.setup.validation import check_configuration, integration_check_configuration
from integrations.sync import preview as preview_service

HISTORY_ON_DETAIL = 10
HISTORY_PAGE = 200


# --- helpers -----------------------------------------------------------------------------------


def _integration(request: AccountRequest, integration_id: int) -> Integration:
    return get_for_account(
        Integration.objects.select_related("xero_connection", "salesforce_connection"),
        request.account,
        pk=integration_id,
    )


def _can_edit(request: AccountRequest) -> bool:
    return request.membership.has_role(Role.ADMIN)


def _require_edit(request: AccountRequest) -> None:
    if not _can_edit(request):
        raise PermissionDenied("Changing the setup needs the Admin role.")


def _is_htmx(request: AccountRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _kwargs(request: AccountRequest, integration: Integration) -> dict[str, Any]:
    return {"account_slug": request.account.slug, "integration_id": integration.pk}


def step_url(request: AccountRequest, integration: Integration, step: Step) -> str:
    return reverse(f"integrations:{step.url_name}", kwargs=_kwargs(request, integration))


def _stored(integration: Integration) -> tuple[dict[str, Any], ConfigError | None]:
    """The settings as the forms show them: parsed with defaults, or as stored when they do
    not parse (with the error, shown on the page)."""
    raw = dict(integration.config or {})
    try:
        return SyncConfig.from_json(raw).to_json(), None
    except ConfigError as exc:
        return {**SyncConfig().to_json(), **raw}, exc


def _config(stored: dict[str, Any]) -> SyncConfig:
    try:
        return SyncConfig.from_json(stored)
    except ConfigError:
        return SyncConfig()


@dataclass(frozen=True)
class NavItem:
    step: Step
    url: str
    done: bool
    current: bool
    problems: int


@dataclass
class FieldView:
    """A field of a form, with its help and the problems the last check found in it."""

    field: Any
    help: Help
    anchor: str
    problems: list[ConfigProblem] = field(default_factory=list)


@dataclass
class RuleRow:
    form: RuleForm
    problems: list[ConfigProblem]
    fields: list[FieldView]
    is_new: bool


@dataclass
class RuleSection:
    table: str
    title: str
    rows: list[RuleRow]
    problems: list[ConfigProblem]
    can_add: bool
    limit_note: str = ""


def _problems_by_step(problems: list[ConfigProblem]) -> dict[str, list[ConfigProblem]]:
    grouped: dict[str, list[ConfigProblem]] = defaultdict(list)
    for problem in problems:
        grouped[steps.step_for_field(problem.field).key].append(problem)
    return grouped


def _nav(
    request: AccountRequest,
    integration: Integration,
    current: Step,
    problems: dict[str, list[ConfigProblem]],
) -> list[NavItem]:
    done = steps.done_steps(integration)
    return [
        NavItem(
            step=s,
            url=step_url(request, integration, s),
            done=s.key in done,
            current=s == current,
            problems=len(problems.get(s.key, [])),
        )
        for s in STEPS
    ]


def _field_views(
    form: StepForm | RuleForm, problems: dict[str, list[ConfigProblem]]
) -> list[FieldView]:
    rows = form.rows() if isinstance(form, StepForm) else form.simple_rows()
    return [FieldView(r.field, r.help, r.anchor, problems.get(r.field.name, [])) for r in rows]


def current_problems(integration: Integration, sources: Sources | None) -> list[ConfigProblem]:
    """What is wrong with the settings as they are now, against the copies of both systems'
    settings the page uses; the last stored check when either cannot be read.

    The pure check: nothing is stored and nobody is emailed (the review does that).
    """
    if sources is None or sources.xero is None or sources.salesforce is None:
        return stored_problems(integration)
    return check_configuration(integration, xero=sources.xero, salesforce=sources.salesforce)


def _base_context(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    sources: Sources | None,
    *,
    problems: list[ConfigProblem] | None = None,
) -> dict[str, Any]:
    if problems is None:
        problems = current_problems(integration, sources)
    by_step = _problems_by_step(problems)
    index = STEPS.index(step)
    return {
        "integration": integration,
        "step": step,
        "step_number": index + 1,
        "step_count": len(STEPS),
        "nav": _nav(request, integration, step, by_step),
        "step_problems": by_step.get(step.key, []),
        "can_edit": _can_edit(request),
        "sources": sources,
        "step_url": step_url(request, integration, step),
        "next_url": step_url(request, integration, steps.next_step(step)),
        "previous_url": step_url(request, integration, STEPS[max(index - 1, 0)]),
        "checked_ago": ago(integration.config_checked_at),
    }


# --- the wizard's first page -------------------------------------------------------------------


@account_view(Role.SUPPORT)
def setup(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Resumes the wizard: the first step not done yet."""
    integration = _integration(request, integration_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    return redirect(step_url(request, integration, steps.resume_step(integration)))


# --- steps -------------------------------------------------------------------------------------


@account_view(Role.SUPPORT)
def setup_step(request: AccountRequest, integration_id: int, step_key: str) -> HttpResponse:
    integration = _integration(request, integration_id)
    step = steps.step(step_key)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "POST":
        _require_edit(request)
    if step.kind == "connect":
        if request.method == "POST":
            return redirect(step_url(request, integration, steps.next_step(step)))
        return _render_connect(request, integration, step)
    if step.kind == "review":
        if request.method == "POST":
            return _review_recheck(request, integration)
        return _render_review(request, integration, step)
    if request.method == "POST":
        return _save_step(request, integration, step)
    return render_step(request, integration, step)


def _render_connect(request: AccountRequest, integration: Integration, step: Step) -> HttpResponse:
    connection = (
        integration.xero_connection if step.key == XERO else integration.salesforce_connection
    )
    context = _base_context(request, integration, step, None)
    context.update(
        {
            "connection": connection,
            "provider": step.key,
            "provider_name": "Xero" if step.key == XERO else "Salesforce",
            "connect_url": reverse(f"{step.key}:connect", kwargs=_kwargs(request, integration)),
        }
    )
    return render(request, "integrations/setup/connect.html", context)


def _step_form(
    request: AccountRequest,
    integration: Integration,
    step: Step,
    sources: Sources,
    data: Any = None,
) -> StepForm:
    stored, _error = _stored(integration)
    return STEP_FORMS[step.key](
        data,
        stored=stored,
        integration=integration,
        sources=sources,
        read_only=not _can_edit(request),
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
        form = _step_form(request, integration, step, sources)
    context = _base_context(request, integration, step, sources)
    problems: dict[str, list[ConfigProblem]] = defaultdict(list)
    for problem in context["step_problems"]:
        problems[problem.field].append(problem)
    _stored_values, stored_error = _stored(integration)
    if stored_error is not None and stored_error.field in form.fields and not form.is_bound:
        problems[stored_error.field].append(
            ConfigProblem(stored_error.field, stored_error.message, "invoices")
        )
    context.update(
        {
            "form": form,
            "fields": _field_views(form, problems),
            "stored_error": stored_error,
            "rules": _rule_section(request, integration, step, sources, rule_form, problems)
            if step.rules
            else None,
            "countries": country_choices() if step.rules == "tax_rules" else [],
            "rules_url": reverse("integrations:setup_rules", kwargs=_kwargs(request, integration)),
            "refresh_url": reverse(
                "integrations:setup_refresh", kwargs=_kwargs(request, integration)
            ),
            "multi_currency": sources.salesforce.multi_currency if sources.salesforce else None,
            "base_currency": sources.xero.base_currency if sources.xero else "",
        }
    )
    return render(request, "integrations/setup/step.html", context)


def _save_step(request: AccountRequest, integration: Integration, step: Step) -> HttpResponse:
    sources = load_sources(integration)
    form = _step_form(request, integration, step, sources, data=request.POST)
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


# --- rule tables -------------------------------------------------------------------------------


def _rule_form(
    request: AccountRequest,
    integration: Integration,
    table: str,
    instance: models.Model,
    sources: Sources,
    *,
    data: Any = None,
    action: str = "",
) -> RuleForm:
    stored, _error = _stored(integration)
    return RULE_FORMS[table](
        data,
        instance=instance,
        integration=integration,
        config=_config(stored),
        sources=sources,
        read_only=not _can_edit(request),
        rules_url=reverse("integrations:setup_rules", kwargs=_kwargs(request, integration)),
        action=action,
    )


def _rule_section(
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
            form = _rule_form(request, integration, table, instance, sources)
        label = rule_label(table, instance)
        row_problems = [
            p
            for key, found in problems.items()
            if key.casefold() == label.casefold()
            for p in found
        ]
        rows.append(RuleRow(form, row_problems, _field_views(form, {}), is_new=False))
    limit = MAX_TRACKING_RULES if table == "tracking_rules" else None
    can_add = _can_edit(request) and (limit is None or len(saved) < limit)
    if override is not None and override.instance.pk is None:
        # A new row as posted (with its errors), even when the table is full.
        rows.append(RuleRow(override, [], _field_views(override, {}), is_new=True))
    elif can_add:
        form = _rule_form(request, integration, table, model(), sources)
        rows.append(RuleRow(form, [], _field_views(form, {}), is_new=True))
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
    return RuleSection(table, titles[table], rows, table_problems, can_add, note)


@account_view(Role.ADMIN)
def setup_rules(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Saves or deletes one rule row, or draws it again (a changed field, a mapping row added
    or removed). With htmx the answer is the rule table; without, the step's page."""
    integration = _integration(request, integration_id)
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
        with transaction.atomic():
            label = rule_label(table, instance).split(":", 1)[1]
            instance.delete()
            rule_saved(
                integration=integration,
                user=request.user,
                kind=table,
                label=label,
                before=before,
                after=None,
            )
        return _rules_done(request, integration, step, sources, f"Removed {label}.")

    form = _rule_form(
        request, integration, table, instance, sources, data=request.POST, action=action
    )
    if action == "save":
        if form.validate_row():
            with transaction.atomic():
                saved = form.save()
                rule_saved(
                    integration=integration,
                    user=request.user,
                    kind=table,
                    label=rule_label(table, saved).split(":", 1)[1],
                    before=before,
                    after=rule_snapshot(saved, fields),
                )
            label = rule_label(table, saved).split(":", 1)[1]
            return _rules_done(request, integration, step, sources, f"Saved {label}.")
    else:
        form.silence()
    if _is_htmx(request):
        return _render_rules(request, integration, step, sources, override=form)
    return render_step(request, integration, step, sources=sources, rule_form=form)


def _rules_done(
    request: AccountRequest, integration: Integration, step: Step, sources: Sources, note: str
) -> HttpResponse:
    if _is_htmx(request):
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
        "rules": _rule_section(request, integration, step, sources, override, problems),
        "rules_url": reverse("integrations:setup_rules", kwargs=_kwargs(request, integration)),
        "can_edit": _can_edit(request),
        "note": note,
    }
    return render(request, "integrations/setup/_rules.html", context)


# --- metadata refresh --------------------------------------------------------------------------


@account_view(Role.ADMIN)
def setup_refresh(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Reads Xero and/or Salesforce again, then shows the step it was asked from."""
    integration = _integration(request, integration_id)
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
    if _is_htmx(request) and step.kind == "config":
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
        step = steps.step_for_field(problem.field)
        url = step_url(request, integration, step)
        if problem.field in step.keys:
            url += f"#field-{problem.field}"
        elif step.rules:
            url += f"#rules-{step.rules}"
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
        form = _step_form(request, integration, step, sources)
        lines = [SummaryLine(str(form.fields[k].label), _display(form, k)) for k in step.keys]
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


def _render_review(
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
    context = _base_context(
        request, integration, step, sources, problems=None if reasons else problems
    )
    context.update(
        {
            "reasons": reasons,
            "problems": _problem_views(request, integration, problems),
            "summary": _summary(request, integration, sources),
            "switch_url": reverse(
                "integrations:setup_switch", kwargs=_kwargs(request, integration)
            ),
            "preview_url": reverse(
                "integrations:setup_preview", kwargs=_kwargs(request, integration)
            ),
            "refresh_url": reverse(
                "integrations:setup_refresh", kwargs=_kwargs(request, integration)
            ),
            "ready": not reasons and not problems,
        }
    )
    return render(request, "integrations/setup/review.html", context)


def _review_recheck(request: AccountRequest, integration: Integration) -> HttpResponse:
    """Checks again with fresh copies of both systems' settings."""
    return _render_review(request, integration, steps.BY_KEY["review"], refresh=True)


@account_view(Role.ADMIN)
def setup_switch(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Switches syncing on (only when the check against Xero and Salesforce finds nothing
    wrong) or off."""
    integration = _integration(request, integration_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    review = steps.BY_KEY["review"]
    if request.POST.get("on") != "1":
        steps.switch_off(integration=integration, user=request.user)
        messages.success(request, "Syncing is off. Nothing more is sent to Xero until it is on.")
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
    return redirect(reverse("integrations:detail", kwargs=_kwargs(request, integration)))


# --- preview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    line: Any
    amount: Decimal
    tax: Decimal
    tax_label: str


@account_view(Role.SUPPORT)
def setup_preview(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Search an opportunity and see what would be sent to Xero for it; nothing is written."""
    integration = _integration(request, integration_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    query = request.GET.get("q", "").strip()[:80]
    opportunity_id = request.GET.get("opportunity", "").strip()[:18]
    context: dict[str, Any] = {
        "integration": integration,
        "query": query,
        "matches": None,
        "search_error": "",
        "result": None,
        "lines": [],
        "document_error": "",
        "opportunity_id": opportunity_id,
        "preview_url": reverse("integrations:setup_preview", kwargs=_kwargs(request, integration)),
        "setup_url": reverse("integrations:setup", kwargs=_kwargs(request, integration)),
    }
    connected = integration.xero_connection is not None and integration.salesforce_connection
    if connected:
        if query:
            try:
                context["matches"] = preview_service.preview_opportunity(
                    integration_id=integration.pk, query=query
                )
            except ProviderError as exc:
                context["search_error"] = exc.message
        if opportunity_id:
            _preview_document(integration, opportunity_id, context, preview_service)
    htmx_target = request.headers.get("HX-Target", "")
    if _is_htmx(request) and htmx_target == "preview-matches":
        return render(request, "integrations/setup/_preview_matches.html", context)
    if _is_htmx(request) and htmx_target == "preview-document":
        return render(request, "integrations/setup/_preview_document.html", context)
    return render(request, "integrations/setup/preview.html", context)


def _preview_document(
    integration: Integration, opportunity_id: str, context: dict[str, Any], service: Any
) -> None:
    try:
        result = service.preview_document(
            integration_id=integration.pk, salesforce_id=opportunity_id
        )
    except LookupError as exc:
        context["document_error"] = str(exc.args[0] if exc.args else exc)
        return
    except ConfigError as exc:
        context["document_error"] = f"The settings cannot be used: {exc}"
        return
    except ProviderError as exc:
        context["document_error"] = exc.message
        return
    context["result"] = result
    if result.invoice is not None and result.totals is not None:
        sources = load_sources(integration)
        rates = sources.xero.tax_rates if sources.xero else {}
        lines = []
        for line, amount, tax in zip(
            result.invoice.lines,
            result.totals.line_amounts,
            result.totals.tax_amounts,
            strict=False,
        ):
            info = rates.get(line.tax_type) if line.tax_type else None
            label = f"{info.name} ({info.effective_rate.normalize():f}%)" if info else line.tax_type
            lines.append(PreviewLine(line, amount, tax, label or "Xero's default"))
        context["lines"] = lines
        theme = result.invoice.branding_theme_id
        if theme and sources.xero:
            context["theme_name"] = sources.xero.branding_themes.get(theme, theme)


# --- history -----------------------------------------------------------------------------------


TABLE_NAMES = {
    "payment_methods": "Payment method",
    "tax_rules": "Tax rule",
    "tracking_rules": "Tracking rule",
}


@dataclass(frozen=True)
class ChangeView:
    change: ConfigChange
    label: str


def change_label(what: str) -> str:
    """A history row's subject for people: "Invoice status", "Tax rule US/NY: Tax rate"."""
    if what.startswith("config."):
        key = what.removeprefix("config.")
        return help_for(key).label if key in HELP else key
    table, _, rest = what.partition(":")
    if table not in TABLE_NAMES:
        return what
    row, dot, column = rest.rpartition(".")
    columns = RULE_FORMS[table]._meta.fields or ()
    if dot and column in columns:
        key = f"{table}.{column}"
        return f"{TABLE_NAMES[table]} {row}: {help_for(key).label if key in HELP else column}"
    return f"{TABLE_NAMES[table]} {rest}"


@account_view(Role.SUPPORT)
def setup_history(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Who changed which setting, when, from what to what. The integration's page loads the
    latest few with htmx; the full page lists more."""
    integration = _integration(request, integration_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    fragment = _is_htmx(request)
    changes = config_history(integration, limit=HISTORY_ON_DETAIL if fragment else HISTORY_PAGE)
    context = {
        "integration": integration,
        "changes": [ChangeView(c, change_label(c.what)) for c in changes],
        "fragment": fragment,
        "history_url": reverse("integrations:setup_history", kwargs=_kwargs(request, integration)),
        "now": timezone.now(),
    }
    template = "integrations/setup/_history.html" if fragment else "integrations/setup/history.html"
    return render(request, template, context)

"""What every wizard page shares: the integration by the one access helper, who may edit, the
step navigation with each step's problems, and the base context."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.access import AccountRequest, get_for_account
from accounts.models import Role
from integrations.core.behaviours import ConfigProblem, stored_problems
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.setup.forms import (
    RuleForm,
    StepForm,
)
from integrations.setup.help import Help
from integrations.setup.sources import Sources, ago
from integrations.setup.steps import STEPS, Step
from integrations.setup.validation import check_configuration


def integration_of(request: AccountRequest, integration_id: int) -> Integration:
    return get_for_account(
        Integration.objects.select_related("xero_connection", "salesforce_connection"),
        request.account,
        pk=integration_id,
    )


def can_edit(request: AccountRequest) -> bool:
    return request.membership.has_role(Role.ADMIN)


def require_edit(request: AccountRequest) -> None:
    if not can_edit(request):
        raise PermissionDenied("Changing the setup needs the Admin role.")


def is_htmx(request: AccountRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def url_kwargs(request: AccountRequest, integration: Integration) -> dict[str, Any]:
    return {"account_slug": request.account.slug, "integration_id": integration.pk}


def step_url(request: AccountRequest, integration: Integration, step: Step) -> str:
    return reverse(f"integrations:{step.url_name}", kwargs=url_kwargs(request, integration))


def problem_url(request: AccountRequest, integration: Integration, field: str) -> tuple[Step, str]:
    """The step where a problem naming ``field`` is fixed, and a link to it that lands on the
    field or on the rule table."""
    step = steps.step_for_field(field)
    url = step_url(request, integration, step)
    if field in step.keys:
        url += f"#field-{field}"
    elif step.rules:
        url += f"#rules-{step.rules}"
    return step, url


def stored_settings(integration: Integration) -> tuple[dict[str, Any], ConfigError | None]:
    """The settings as the forms show them: parsed with defaults, or as stored when they do
    not parse (with the error, shown on the page)."""
    raw = dict(integration.config or {})
    try:
        return SyncConfig.from_json(raw).to_json(), None
    except ConfigError as exc:
        return {**SyncConfig().to_json(), **raw}, exc


def config_of(stored: dict[str, Any]) -> SyncConfig:
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


def field_views(
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


def base_context(
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
        "can_edit": can_edit(request),
        "sources": sources,
        "step_url": step_url(request, integration, step),
        "next_url": step_url(request, integration, steps.next_step(step)),
        "previous_url": step_url(request, integration, STEPS[max(index - 1, 0)]),
        "checked_ago": ago(integration.config_checked_at),
    }

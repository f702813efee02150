"""The sync log: search, keyset pages, causes grouped, "retry all" and CSV export."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations.core.models import Integration
from integrations.setup.steps import Step
from integrations.setup.views.common import problem_url
from integrations.sync import actions
from integrations.sync.export import csv_lines
from integrations.sync.lookup import SEARCH_LIMIT, ledger_search
from integrations.sync.models import SyncRun
from integrations.sync.search import CauseGroup, iter_log_entries, log_page, open_causes
from integrations.web.log_forms import LogSearchForm

SHOW_FILTERS = {"open": "Needs attention", "all": "Everything"}


@dataclass(frozen=True)
class GroupView:
    group: CauseGroup
    fix_step: Step
    fix_url: str
    filter_qs: str
    """The search of this cause alone ("and N more")."""


def _integration(request: AccountRequest, integration_id: int) -> Integration:
    return get_for_account(
        Integration.objects.select_related("account", "xero_connection", "salesforce_connection"),
        request.account,
        pk=integration_id,
    )


def _filter_qs(params: QueryDict) -> str:
    """The search's parameters without the page's cursor: what links and actions carry on."""
    kept = QueryDict(mutable=True)
    for name in LogSearchForm.FILTER_FIELDS:
        values = [v for v in params.getlist(name) if v]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()


def _group_views(
    request: AccountRequest, integration: Integration, groups: list[CauseGroup]
) -> list[GroupView]:
    views = []
    for group in groups:
        # A cause that names no setting (a refusal by Xero) is looked at on the review, which
        # checks every setting against Xero and Salesforce.
        step, url = problem_url(request, integration, group.problem_field or "review")
        cause = QueryDict(mutable=True)
        cause.update({"show": "open", "cause": group.key})
        views.append(GroupView(group, step, url, cause.urlencode()))
    return views


@account_view(Role.SUPPORT)
@require_GET
def sync_log(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Runs and per-record outcomes, searchable; failures stay listed until fixed or dismissed;
    identical open failures are one row per cause."""
    integration = _integration(request, integration_id)
    form = LogSearchForm(request.GET)
    query = form.query()
    position = form.position()
    groups: list[CauseGroup] = []
    if query.open_only and query.is_plain:
        groups = open_causes(integration=integration)
    page = log_page(
        integration=integration,
        query=query,
        position=position,
        exclude_causes=[g.key for g in groups],
    )
    context = {
        "integration": integration,
        "form": form,
        "query": query,
        "search": query.text,
        "results": ledger_search(integration=integration, query=query.text) if query.text else None,
        "search_limit": SEARCH_LIMIT,
        "runs": SyncRun.objects.filter(integration=integration)[:10],
        "page": page,
        "first_page": position is None,
        "groups": _group_views(request, integration, groups) if position is None else [],
        "show": "open" if query.open_only else "all",
        "filters": SHOW_FILTERS.items(),
        "filter_qs": _filter_qs(request.GET),
        "now": timezone.now(),
    }
    return render(request, "integrations/log.html", context)


@account_view(Role.SUPPORT)
@require_GET
def log_export(request: AccountRequest, integration_id: int) -> HttpResponseBase:
    """Every entry the search finds, as CSV, streamed (read a batch at a time)."""
    integration = _integration(request, integration_id)
    form = LogSearchForm(request.GET)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(_log_url(request, integration, _filter_qs(request.GET)))
    response = StreamingHttpResponse(
        csv_lines(iter_log_entries(integration=integration, query=form.query())),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="sync-log-{integration.pk}-{stamp}.csv"'
    )
    return response


@account_view(Role.SUPPORT)
@require_POST
def log_retry_search(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Sends again every record with an open failure that the posted search finds (a group's
    cause is a search too)."""
    integration = _integration(request, integration_id)
    filter_qs = _filter_qs(QueryDict(request.POST.get("filter", "")))
    form = LogSearchForm(QueryDict(filter_qs))
    if not form.is_valid():
        messages.error(request, "This search is not valid any more: nothing was retried.")
    else:
        result = actions.retry_search(
            integration=integration, query=form.query(), user=request.user
        )
        _tell(request, result)
    return redirect(_log_url(request, integration, filter_qs))


@account_view(Role.SUPPORT)
@require_POST
def log_retry_run(request: AccountRequest, integration_id: int, run_id: int) -> HttpResponse:
    """Sends again every record of one run that failed or needs a person."""
    integration = _integration(request, integration_id)
    run = get_object_or_404(SyncRun, pk=run_id, integration=integration)
    _tell(request, actions.retry_run(integration=integration, run=run, user=request.user))
    return redirect(_log_url(request, integration, ""))


def _tell(request: AccountRequest, result: actions.BulkRetry) -> None:
    if result.retried:
        messages.success(request, result.summary() + " Their outcomes appear in this log.")
    else:
        messages.warning(request, "Nothing to retry: " + result.summary())


def _log_url(request: AccountRequest, integration: Integration, filter_qs: str) -> str:
    url = reverse(
        "integrations:log",
        kwargs={"account_slug": request.account.slug, "integration_id": integration.pk},
    )
    return f"{url}?{filter_qs}" if filter_qs else url

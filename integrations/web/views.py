"""Integration pages: list, create (then the provider connect steps), detail, disconnect."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations.connections.models import Connection
from integrations.core import services as core_services
from integrations.core.models import Integration
from integrations.setup.views.common import problem_url
from integrations.sync import services as sync_services
from integrations.sync.lookup import record_story, resync_blocked
from integrations.sync.models import OPEN_OUTCOMES, SyncLogEntry, SyncRun
from integrations.sync.progress import live_progress
from integrations.sync.push import push_health
from integrations.sync.stats import integration_dashboard
from integrations.web.forms import BackfillForm, IntegrationCreateForm
from integrations.web.record_views import load_record


@account_view(Role.SUPPORT)
def integration_list(request: AccountRequest) -> HttpResponse:
    # Each row's health reads its pauses: fetched for all rows at once, not one query a row.
    integrations = (
        Integration.objects.filter(account=request.account)
        .select_related("account", "xero_connection", "salesforce_connection", "switched_off_by")
        .prefetch_related("pauses")
    )
    return render(request, "integrations/list.html", {"integrations": integrations})


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def integration_create(request: AccountRequest) -> HttpResponse:
    form = IntegrationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        integration = Integration.objects.create(
            account=request.account, name=form.cleaned_data["name"], created_by=request.user
        )
        # First step: Xero, the target; its callback then leads on to Salesforce.
        return redirect(
            "xero:connect", account_slug=request.account.slug, integration_id=integration.pk
        )
    return render(request, "integrations/create.html", {"form": form})


@account_view(Role.SUPPORT)
def integration_detail(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(
        Integration.objects.select_related(
            "account",
            "xero_connection__connected_by",
            "salesforce_connection__connected_by",
            "switched_off_by",
        ),
        request.account,
        pk=integration_id,
    )
    steps = [
        ("xero", "Xero", "target: where invoices are created", integration.xero_connection),
        (
            "salesforce",
            "Salesforce",
            "source: where won opportunities are read",
            integration.salesforce_connection,
        ),
    ]
    context = {
        "integration": integration,
        "steps": steps,
        # The last sync: a write-back to Salesforce is not one (it is listed with the runs).
        "last_run": SyncRun.objects.filter(integration=integration)
        .exclude(trigger=SyncRun.Trigger.WRITEBACK)
        .first(),
        "open_failures": _open_failures(integration).count(),
        "backfill": integration.backfills.first(),
        "backfill_form": BackfillForm(),
        "health": push_health(integration=integration),
        "progress": live_progress(integration=integration),
        "dashboard": integration_dashboard(integration=integration),
    }
    return render(request, "integrations/detail.html", context)


@account_view(Role.ADMIN)
@require_POST
def backfill_start(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Imports won opportunities closed since a date: history only when a person asks."""
    integration = get_for_account(Integration, request.account, pk=integration_id)
    form = BackfillForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    else:
        try:
            sync_services.backfill_start(
                integration=integration, since=form.cleaned_data["since"], user=request.user
            )
        except sync_services.BackfillError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                "Back-fill started: progress shows below. Invoices already in Xero are not "
                "created again.",
            )
    return redirect(
        "integrations:detail", account_slug=request.account.slug, integration_id=integration.pk
    )


@account_view(Role.ADMIN)
@require_POST
def backfill_cancel(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    if sync_services.backfill_cancel(integration=integration):
        messages.success(request, "Back-fill cancelled; what it imported stays in Xero.")
    return redirect(
        "integrations:detail", account_slug=request.account.slug, integration_id=integration.pk
    )


@account_view(Role.SUPPORT)
def backfill_progress(request: AccountRequest, integration_id: int) -> HttpResponse:
    """The progress card alone, polled by htmx while a first sync or a back-fill runs (the
    card it returns once the work is done polls no more)."""
    integration = get_for_account(Integration, request.account, pk=integration_id)
    return render(
        request,
        "integrations/_backfill.html",
        {
            "integration": integration,
            "backfill": integration.backfills.first(),
            "backfill_form": BackfillForm(),
            "progress": live_progress(integration=integration),
        },
    )


def _open_failures(integration: Integration) -> QuerySet[SyncLogEntry]:
    return SyncLogEntry.objects.filter(
        integration=integration, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
    )


@account_view(Role.SUPPORT)
def record_detail(request: AccountRequest, integration_id: int, ledger_id: int) -> HttpResponse:
    """One opportunity's whole story: its state, every log entry, what was written to Xero."""
    integration, ledger = load_record(request, integration_id, ledger_id)
    story = record_story(
        ledger=ledger,
        xero_invoice_template=settings.XERO_INVOICE_URL,
        xero_contact_template=settings.XERO_CONTACT_URL,
    )
    context = {
        "integration": integration,
        "story": story,
        "can_resync": request.membership.has_role(Role.ADMIN) and not resync_blocked(ledger),
    }
    if story.open_entry is not None:
        # Where the cause is fixed: the setting the problem names, else the review, which
        # checks every setting against Xero and Salesforce (as the log's groups link).
        context["fix_step"], context["fix_url"] = problem_url(
            request, integration, story.open_entry.problem_field or "review"
        )
    return render(request, "integrations/record.html", context)


def _after_action(request: AccountRequest, integration: Integration, entry: SyncLogEntry) -> str:
    """Back to the record's page when the action was taken there, else to the log."""
    if request.POST.get("back") == "record" and entry.ledger_id is not None:
        return reverse(
            "integrations:record",
            kwargs={
                "account_slug": request.account.slug,
                "integration_id": integration.pk,
                "ledger_id": entry.ledger_id,
            },
        )
    return reverse(
        "integrations:log",
        kwargs={"account_slug": request.account.slug, "integration_id": integration.pk},
    )


@account_view(Role.SUPPORT)
@require_POST
def log_dismiss(request: AccountRequest, integration_id: int, entry_id: int) -> HttpResponse:
    integration = get_for_account(Integration, request.account, pk=integration_id)
    # The integration is already this account's; the entry must be that integration's.
    entry = get_object_or_404(SyncLogEntry, pk=entry_id, integration=integration)
    if sync_services.log_entry_dismiss(
        entry=entry, user=request.user, note=request.POST.get("note", "")
    ):
        messages.success(request, "Dismissed. It no longer counts as needing attention.")
    return redirect(_after_action(request, integration, entry))


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_disconnect(
    request: AccountRequest, integration_id: int, connection_id: int
) -> HttpResponse:
    """GET: what disconnecting stops and what it keeps; POST: disconnects."""
    integration = get_for_account(Integration, request.account, pk=integration_id)
    connection = get_for_account(Connection, request.account, pk=connection_id)
    if connection.pk not in (integration.xero_connection_id, integration.salesforce_connection_id):
        raise Http404
    name = connection.get_provider_display_name()
    if request.method == "GET":
        return render(
            request,
            "integrations/disconnect.html",
            {"integration": integration, "connection": connection, "provider_name": name},
        )
    core_services.connection_disconnect(connection=connection, user=request.user)
    messages.success(
        request,
        f"Disconnected {name} ({connection.display_name}). Syncing through it has stopped; "
        "connect it again to resume.",
    )
    return redirect(
        "integrations:detail", account_slug=request.account.slug, integration_id=integration.pk
    )


@account_view(Role.SUPPORT)
@require_POST
def integration_sync_now(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Starts a sync now. Support may: it sends only what is due, as the next poll would."""
    integration = get_for_account(Integration, request.account, pk=integration_id)
    try:
        sync_services.integration_sync_now(integration=integration)
    except sync_services.SyncNowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Sync started: won opportunities that are due are sent to Xero within a minute. "
            "The sync log shows each one.",
        )
    return redirect(
        "integrations:detail", account_slug=request.account.slug, integration_id=integration.pk
    )


@account_view(Role.SUPPORT)
@require_POST
def log_retry(request: AccountRequest, integration_id: int, entry_id: int) -> HttpResponse:
    """Sends a failed record again on a sync started now (after its cause was fixed)."""
    integration = get_for_account(Integration, request.account, pk=integration_id)
    entry = get_object_or_404(SyncLogEntry, pk=entry_id, integration=integration)
    if sync_services.log_entry_retry(entry=entry, user=request.user):
        messages.success(
            request, "Queued: the record is sent again now; its outcome appears in this log."
        )
    else:
        messages.error(request, "This entry is not about a record that can be sent again.")
    return redirect(_after_action(request, integration, entry))

"""A record's actions that change Xero data: re-sync from scratch, confirmed first."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations.core.models import Integration
from integrations.sync import services as sync_services
from integrations.sync.lookup import resync_preview
from integrations.sync.models import LedgerEntry


def load_record(
    request: AccountRequest, integration_id: int, ledger_id: int
) -> tuple[Integration, LedgerEntry]:
    """The account's integration and one of its records (404 otherwise), with what the
    record's page and actions read of both."""
    integration = get_for_account(
        Integration.objects.select_related("account", "salesforce_connection", "xero_connection"),
        request.account,
        pk=integration_id,
    )
    ledger = get_object_or_404(LedgerEntry, pk=ledger_id, integration=integration)
    ledger.integration = integration
    return integration, ledger


@account_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def record_resync(request: AccountRequest, integration_id: int, ledger_id: int) -> HttpResponse:
    """GET: what a re-sync from scratch would do to the invoice already in Xero (read from
    Xero now); POST: does it, if it still would. Admins only: it rewrites data in Xero."""
    integration, ledger = load_record(request, integration_id, ledger_id)
    record = redirect(
        "integrations:record",
        account_slug=request.account.slug,
        integration_id=integration.pk,
        ledger_id=ledger.pk,
    )
    # Asked again on POST: the invoice may have been paid since the page was shown.
    plan = resync_preview(ledger=ledger)
    if request.method == "POST":
        if not plan.allowed:
            messages.error(request, plan.what_happens)
            return record
        try:
            sync_services.ledger_resync(ledger=ledger, user=request.user, told=plan.what_happens)
        except sync_services.ResyncError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, "Re-sync queued: a sync starts now; its outcome appears on this page."
            )
        return record
    return render(
        request,
        "integrations/record_resync.html",
        {"integration": integration, "ledger": ledger, "plan": plan},
    )

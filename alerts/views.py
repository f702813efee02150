"""The account's alerts page: open incidents with their fixes, the settings, the history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from alerts import selectors, services
from alerts.delivery import DeliveryError, alert_delivery_send
from alerts.forms import AlertSettingsForm
from alerts.models import AlertSettings


def _initial(row: AlertSettings) -> dict[str, object]:
    return {
        "daily_digest": row.daily_digest,
        "failure_threshold": row.failure_threshold,
        "stalled_after_minutes": row.stalled_after_minutes,
    }


@account_view(Role.SUPPORT)
@require_http_methods(["GET", "POST"])
def alerts_page(request: AccountRequest) -> HttpResponse:
    """Support staff read it; saving the settings needs an admin."""
    row = services.alert_settings_for(account_id=request.account.pk)
    form = AlertSettingsForm(request.POST or None, initial=_initial(row))
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Changing alert settings needs the Admin role.")
        if form.is_valid():
            services.alert_settings_update(
                account=request.account,
                user=request.user,
                daily_digest=form.cleaned_data["daily_digest"],
                failure_threshold=form.cleaned_data["failure_threshold"],
                stalled_after_minutes=form.cleaned_data["stalled_after_minutes"],
                slack_url=form.slack_change(),
            )
            messages.success(request, "Alert settings saved.")
            return redirect("alerts:page", account_slug=request.account.slug)
    context = {
        "settings_row": row,
        "form": form,
        "open_incidents": list(selectors.incidents_open(account=request.account)),
        "cleared": selectors.incidents_recent(account=request.account),
        "deliveries": selectors.deliveries_recent(account=request.account),
    }
    return render(request, "alerts/page.html", context)


@account_view(Role.ADMIN)
@require_POST
def alerts_test(request: AccountRequest) -> HttpResponse:
    """Sends a test message to the Slack webhook now, so the answer shows at once."""
    delivery = services.alerts_send_test(account=request.account, user=request.user)
    if delivery is None:
        messages.error(request, "Set a Slack webhook URL first.")
    else:
        try:
            alert_delivery_send(delivery_id=delivery.pk)
        except DeliveryError as exc:
            messages.error(request, f"The test message did not arrive: {exc}")
        else:
            messages.success(request, "Test message sent: check the channel.")
    return redirect("alerts:page", account_slug=request.account.slug)

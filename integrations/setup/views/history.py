"""The configuration's history: every change, who made it, and what it was before."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.core.models import ConfigChange
from integrations.setup.forms import (
    RULE_FORMS,
)
from integrations.setup.help import ALL as HELP
from integrations.setup.help import help_for
from integrations.setup.services import config_history
from integrations.setup.views.common import integration_of, is_htmx, url_kwargs

HISTORY_ON_DETAIL = 10
HISTORY_PAGE = 200

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
    integration = integration_of(request, integration_id)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    fragment = is_htmx(request)
    changes = config_history(integration, limit=HISTORY_ON_DETAIL if fragment else HISTORY_PAGE)
    context = {
        "integration": integration,
        "changes": [ChangeView(c, change_label(c.what)) for c in changes],
        "fragment": fragment,
        "history_url": reverse(
            "integrations:setup_history", kwargs=url_kwargs(request, integration)
        ),
        "now": timezone.now(),
    }
    template = "integrations/setup/_history.html" if fragment else "integrations/setup/history.html"
    return render(request, template, context)

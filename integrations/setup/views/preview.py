"""The preview: what the sync would send for one opportunity, decided as the sync decides."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import reverse

from accounts.access import AccountRequest, account_view
from accounts.models import Role
from integrations.connections.providers import ProviderError
from integrations.core.config import ConfigError
from integrations.core.models import Integration
from integrations.setup.sources import load_sources
from integrations.setup.views.common import integration_of, is_htmx, url_kwargs
from integrations.sync import preview as preview_service


@dataclass(frozen=True)
class PreviewLine:
    line: Any
    amount: Decimal
    tax: Decimal
    tax_label: str


@account_view(Role.SUPPORT)
def setup_preview(request: AccountRequest, integration_id: int) -> HttpResponse:
    """Search an opportunity and see what would be sent to Xero for it; nothing is written."""
    integration = integration_of(request, integration_id)
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
        "preview_url": reverse(
            "integrations:setup_preview", kwargs=url_kwargs(request, integration)
        ),
        "setup_url": reverse("integrations:setup", kwargs=url_kwargs(request, integration)),
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
    if is_htmx(request) and htmx_target == "preview-matches":
        return render(request, "integrations/setup/_preview_matches.html", context)
    if is_htmx(request) and htmx_target == "preview-document":
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

"""The customer's side of support: ask (from an integration's page), follow, reply, close.

Any member may ask and reply, Support members included: asking changes no configuration.
Granting our staff access to the account is for owners and admins (it lets someone outside
the team in). Staff viewing the account as support read these pages but cannot post
(``accounts.access``); they answer in the operator admin.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AccountRequest, account_view, get_for_account
from accounts.models import Role
from integrations.core.models import Integration
from support import selectors, services
from support.forms import SupportReplyForm, SupportRequestForm
from support.models import SupportRequest


def _can_grant(request: AccountRequest) -> bool:
    return request.membership.has_role(Role.ADMIN) and not request.membership.is_staff_view


@account_view(Role.SUPPORT)
@require_http_methods(["GET", "POST"])
def request_new(request: AccountRequest, integration_id: int) -> HttpResponse:
    integration = get_for_account(
        Integration.objects.select_related("account"), request.account, pk=integration_id
    )
    entries = selectors.open_failures_to_report(integration=integration)
    form = SupportRequestForm(request.POST or None, entries=entries, can_grant=_can_grant(request))
    if request.method == "POST" and form.is_valid():
        try:
            support_request = services.support_request_open(
                account=request.account,
                integration=integration,
                user=request.user,
                subject=form.cleaned_data["subject"],
                message=form.cleaned_data["message"],
                entries=form.chosen_entries(),
                grant_hours=form.cleaned_data.get("grant_hours"),
            )
        except services.SupportError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, "Sent to CarryTheOne support. Answers appear here and by email."
            )
            return redirect(support_request)
    context = {"integration": integration, "form": form, "record_count": len(entries)}
    return render(request, "support/request_new.html", context)


@account_view(Role.SUPPORT)
def request_list(request: AccountRequest) -> HttpResponse:
    page = Paginator(selectors.account_support_requests(account=request.account), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "support/request_list.html", {"page": page})


def _support_request(request: AccountRequest, request_id: int) -> SupportRequest:
    return get_for_account(
        SupportRequest.objects.select_related("account", "integration", "opened_by", "grant"),
        request.account,
        pk=request_id,
    )


@account_view(Role.SUPPORT)
@require_http_methods(["GET", "POST"])
def request_detail(request: AccountRequest, request_id: int) -> HttpResponse:
    support_request = _support_request(request, request_id)
    form = SupportReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.support_reply(
                support_request=support_request,
                author=request.user,
                body=form.cleaned_data["body"],
                from_staff=False,
            )
        except services.SupportError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Sent. CarryTheOne support is told by email.")
            return redirect(support_request)
    context = {
        "support_request": support_request,
        "conversation": support_request.messages.select_related("author"),
        "records": support_request.records.all(),
        "form": form,
    }
    return render(request, "support/request_detail.html", context)


@account_view(Role.SUPPORT)
@require_POST
def request_close(request: AccountRequest, request_id: int) -> HttpResponse:
    support_request = _support_request(request, request_id)
    if services.support_request_close(support_request=support_request):
        messages.success(request, "Closed. For more help, open a new request.")
    return redirect(support_request)

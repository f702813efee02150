"""The banner shown on every page while a staff member views an account as support."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.staff_access import staff_view_current

register = template.Library()


@register.inclusion_tag("accounts/_staff_view_banner_body.html", takes_context=True)
def staff_view_banner(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_staff", False):
        return {"view": None}
    return {"view": staff_view_current(request.session), "csrf_token": context.get("csrf_token")}

"""``{% alerts_open_incidents current_account %}``: the open incidents count on any page
(the dashboard places it), in one query, without the accounts app importing the alerts."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import Account
from alerts.selectors import incidents_open_count

register = template.Library()


@register.inclusion_tag("alerts/_open_incidents_badge.html")
def alerts_open_incidents(account: Account) -> dict[str, Any]:
    return {"account": account, "count": incidents_open_count(account_id=account.pk)}

"""Support staff (the SUPPORT role) cannot change configuration: over every tenant URL pattern.

Each pattern is POSTed by a SUPPORT member of the account, with the account's own objects in
the URL. Everything must be refused (403, or 405 for a page that takes no POST) except the
actions listed in ``SUPPORT_MAY_POST``, which change no configuration, and the read pages in
``READ_PAGES``, which ignore the method. Whatever the answer, the configuration, the
connections, the team and the grants are unchanged. A new URL is covered without anyone
remembering it: one that lets SUPPORT post fails here until it is listed.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Role
from integrations.connections.models import Connection
from integrations.core.models import ConfigChange, Integration
from integrations.sync.models import PushEndpoint
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.test_isolation import Route, _fill, _victim_kwargs, tenant_routes

# What a Support member may do: handle records (retry, dismiss — the role's purpose), talk to
# CarryTheOne support, and leave the account themselves.
SUPPORT_MAY_POST = {
    "integrations:log_dismiss",
    "integrations:log_retry",
    "integrations:sync_now",
    "support:new",
    "support:detail",
    "support:close",
    "accounts:leave",
}

# Pages that only read, whatever the method (nothing may change: checked below).
READ_PAGES = {
    "accounts:dashboard",
    "integrations:list",
    "integrations:detail",
    "integrations:backfill_progress",
    "integrations:log",
    "integrations:record",
    "support:list",
}

# A body that would change something if any view accepted it.
BODY = {
    "name": "Renamed by support",
    "role": "owner",
    "email": "intruder@example.com",
    "is_enabled": "on",
    "on": "1",
    "hours": "168",
    "since": "2020-01-01",
    "invoice_status": "AUTHORISED",
}


def _state(account, acting_user) -> dict[str, object]:
    """Everything a Support member must not change (their own membership aside: they may
    leave)."""
    integration = Integration.objects.get(account=account)
    return {
        "account_name": account.__class__.objects.get(pk=account.pk).name,
        "integration": (integration.name, integration.is_enabled, integration.config),
        "config_changes": ConfigChange.objects.filter(integration__account=account).count(),
        "connections": list(Connection.objects.filter(account=account).values_list("pk", "status")),
        "memberships": sorted(
            Membership.objects.filter(account=account)
            .exclude(user=acting_user)
            .values_list("user_id", "role")
        ),
        "push": list(PushEndpoint.objects.values_list("token_digest", flat=True)),
        "grants": account.support_grants.count(),
        "invitations": list(account.invitations.values_list("email", "revoked_at")),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("route", tenant_routes(), ids=lambda r: r.name)
def test_a_support_member_cannot_post_a_change(route: Route):
    account = AccountFactory.create()
    MembershipFactory.create(account=account, role=Role.OWNER)
    kwargs = _victim_kwargs(account)
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=Role.SUPPORT)
    client = Client()
    client.force_login(user)
    before = _state(account, user)

    status = client.post(_fill(route, {k: kwargs[k] for k in route.kwargs}), BODY).status_code

    if route.name in SUPPORT_MAY_POST:
        assert status != 403, f"{route.name} should let a Support member do this"
    elif route.name in READ_PAGES:
        assert status in {200, 403, 405}, route.route
    else:
        assert status in {403, 405}, f"{route.route} answered a Support member's POST with {status}"
    assert _state(account, user) == before

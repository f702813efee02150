"""Tenant isolation, over every URL pattern of the project.

Every pattern is either tenant-scoped (it takes ``account_slug``) or listed in ``NOT_TENANT``.
For each tenant-scoped pattern a logged-in owner of another account must get 404 on GET and
POST — both for the victim's URL and for their own account's URL with the victim's object ids.
A new URL is covered without anyone remembering to add it: an unknown URL kwarg fails the test
until a victim object for it is added to ``_victim_kwargs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import Role
from tests.factories import AccountFactory, InvitationFactory, MembershipFactory

# Patterns that are not tenant-scoped, by their view's module (third-party) or their name.
NOT_TENANT_MODULE_PREFIXES = ("allauth.", "django.contrib.admin.", "django.views.", "sandbox.")
# The operator admin (staff with TOTP only; not a tenant surface), wherever ADMIN_URL puts it.
NOT_TENANT_ROUTE_PREFIXES = (settings.ADMIN_URL,)
NOT_TENANT_NAMES = {
    "home",
    # OAuth redirect URIs are fixed; the flow's account comes from the session and is checked.
    "xero:callback",
    "salesforce:callback",
    "healthz",
    "favicon",
    # Staff only (404 for everyone else), tested in tests/carrytheone/test_healthz.py.
    "healthz_detail",
    "accounts:account_list",
    "accounts:account_create",
    "accounts:invitation_accept",
    # The one-time link of a lock-out notice (accounts.login_throttle).
    "accounts:login_unlock",
    # Salesforce Outbound Messages: the URL's token is the credential (tests/integrations/web/
    # test_push_views.py: an unknown or rotated token gets 404).
    "push_salesforce_outbound",
    # Xero's webhook: signed with the app's key; its events name their organisation.
    "integrations:xero_webhook",
    # Public pages, before signup (tests/billing/test_pages.py).
    "billing:pricing",
    "billing:how_it_works",
    "billing:faq",
    # Stripe's webhooks: signed by Stripe, verified first (tests/billing/test_webhooks.py).
    "billing:stripe_webhook",
    # Ends the session's own view as support (accounts.staff_access); reads no account.
    "accounts:staff_view_stop",
}


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    module: str
    kwargs: tuple[str, ...]


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", ns: str = ""
) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{ns}{entry.namespace}:" if entry.namespace else ns
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), namespace)
        else:
            converters = getattr(entry.pattern, "converters", {})
            module = getattr(entry.callback, "__module__", "")
            yield Route(
                name=f"{ns}{entry.name}" if entry.name else "",
                route=prefix + str(entry.pattern),
                module=module,
                kwargs=tuple(converters) if converters else (),
            )


def _all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def tenant_routes() -> list[Route]:
    return [r for r in _all_routes() if "account_slug" in r.kwargs]


def test_every_url_pattern_is_tenant_scoped_or_listed():
    """A new view must either take account_slug (and go through accounts.access) or be listed."""
    unlisted = [
        r.route
        for r in _all_routes()
        if "account_slug" not in r.kwargs
        and r.name not in NOT_TENANT_NAMES
        and not r.module.startswith(NOT_TENANT_MODULE_PREFIXES)
        and not r.route.startswith(NOT_TENANT_ROUTE_PREFIXES)
    ]
    assert unlisted == [], f"classify these URL patterns in test_isolation.py: {unlisted}"


def test_there_are_tenant_routes_to_check():
    assert len(tenant_routes()) >= 9


def test_every_tenant_view_goes_through_account_view():
    """The access helper marks each view it wraps; a hand-rolled check would be missed here."""
    resolver = get_resolver()
    for route in tenant_routes():
        match = resolver.resolve(_fill(route, _dummy_kwargs(route)))
        assert hasattr(match.func, "required_role"), f"{route.route} bypasses account_view"


def _dummy_kwargs(route: Route) -> dict[str, object]:
    return {k: ("some-account" if k == "account_slug" else 1) for k in route.kwargs}


def _fill(route: Route, kwargs: dict[str, object]) -> str:
    from django.urls import reverse

    return reverse(route.name, kwargs=kwargs)


def _victim_kwargs(victim) -> dict[str, object]:
    """One object of each kind in the victim account, by the URL kwarg that names it."""
    from integrations.connections.models import Connection
    from integrations.core.models import Integration

    membership = MembershipFactory.create(account=victim, role=Role.SUPPORT)
    invitation = InvitationFactory.create(account=victim)
    connection = Connection.objects.create(
        account=victim,
        provider="xero",
        external_id="victim-tenant",
        display_name="Victim Org",
        credentials={
            "access_token": "a",
            "refresh_token": "r",
            "expires_at": "2099-01-01T00:00:00+00:00",
        },
    )
    integration = Integration.objects.create(
        account=victim, name="Victim integration", xero_connection=connection
    )
    from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun

    run = SyncRun.objects.create(integration=integration)
    ledger = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id="006000000000001AAA",
        opportunity_name="Victim deal",
        state=LedgerEntry.State.FAILED,
    )
    entry = SyncLogEntry.objects.create(
        run=run,
        integration=integration,
        ledger=ledger,
        outcome=SyncLogEntry.Outcome.FAILED,
        message="boom",
    )
    from accounts.models import SupportAccessGrant
    from support.models import SupportRequest

    grant = SupportAccessGrant.objects.create(
        account=victim, expires_at=timezone.now() + timedelta(hours=24)
    )
    support_request = SupportRequest.objects.create(
        account=victim, integration=integration, subject="Victim question"
    )
    return {
        "grant_id": grant.pk,
        "request_id": support_request.pk,
        "entry_id": entry.pk,
        "ledger_id": ledger.pk,
        "account_slug": victim.slug,
        "membership_id": membership.pk,
        "invitation_id": invitation.pk,
        "integration_id": integration.pk,
        "connection_id": connection.pk,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("route", tenant_routes(), ids=lambda r: r.name)
def test_other_account_gets_404(route: Route, outsider_client):
    victim = AccountFactory.create()
    MembershipFactory.create(account=victim, role=Role.OWNER)
    victim_kwargs = _victim_kwargs(victim)
    missing = set(route.kwargs) - set(victim_kwargs)
    assert not missing, f"add a victim object for {missing} to _victim_kwargs"
    kwargs = {k: victim_kwargs[k] for k in route.kwargs}

    # The victim's own URL.
    url = _fill(route, kwargs)
    assert outsider_client.get(url).status_code == 404, url
    assert (
        outsider_client.post(url, {"role": "owner", "name": "x", "email": "x@x.io"}).status_code
        == 404
    ), url

    # The outsider's own account with the victim's object ids.
    if len(route.kwargs) > 1:
        own = dict(kwargs, account_slug=outsider_client.own_account.slug)
        url = _fill(route, own)
        assert outsider_client.get(url).status_code in {404, 405}, url
        assert outsider_client.post(url, {"role": "owner"}).status_code == 404, url

    # Nothing changed in the victim account.
    assert victim.memberships.count() == 2
    assert victim.memberships.filter(role=Role.OWNER).count() == 1
    victim.refresh_from_db()
    assert victim.name.startswith("Company")
    assert victim.invitations.get().revoked_at is None
    from integrations.connections.models import Connection
    from integrations.core.models import Integration

    assert Connection.objects.filter(account=victim).count() == 1
    assert Integration.objects.get(account=victim).name == "Victim integration"
    from integrations.sync.models import LedgerEntry, SyncLogEntry

    assert SyncLogEntry.objects.get(integration__account=victim).dismissed_at is None
    # Not queued again by a retry through someone else's account.
    assert LedgerEntry.objects.get(integration__account=victim).state == LedgerEntry.State.FAILED
    from support.models import SupportRequest

    assert SupportRequest.objects.get(account=victim).status == SupportRequest.Status.OPEN
    assert victim.support_grants.get().revoked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("route", tenant_routes(), ids=lambda r: r.name)
def test_anonymous_is_sent_to_login(route: Route, client):
    victim = AccountFactory.create()
    url = _fill(route, {k: v for k, v in _victim_kwargs(victim).items() if k in route.kwargs})
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

"""Who may open what: every URL pattern of the project, classified, and each tenant URL checked
for every kind of visitor.

A meta-test walks the resolver and fails on any pattern that is neither tenant-scoped (it takes
``account_slug``) nor classified in ``ROUTE_CLASSES``, so a new URL cannot be forgotten. Each
tenant URL is then requested, GET and POST, with the account's own object ids, by:

- anonymous: sent to the login page;
- an owner of another account: 404, both on the victim's URL and on their own account's URL
  with the victim's ids;
- CarryTheOne staff (staff with TOTP) who are no member: 404, like anyone outside;
- staff viewing the account as support (``accounts.staff_access``): what a SUPPORT member may
  read, and 403 on every POST;
- SUPPORT, ADMIN and OWNER members: 403 below the view's declared role
  (``required_role``, set by ``accounts.access.account_view``), an answer above it; a SUPPORT
  member's POST is refused except for the actions in ``SUPPORT_MAY_POST`` (handling records,
  talking to support, leaving) and the read pages in ``READ_PAGES``.

Whatever the refused visitors sent, the account's configuration, team, connections, grants and
records are unchanged. The data is built once for the module; each test rolls its changes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from tests.admin_login import admin_client
from tests.factories import (
    PASSWORD,
    AccountFactory,
    InvitationFactory,
    MembershipFactory,
    UserFactory,
)

# --- Every URL pattern, classified -----------------------------------------------------------


class Kind(StrEnum):
    PUBLIC = "public"  # anyone, before signup
    LOGIN = "login"  # signed-in pages outside any account
    TOKEN = "token"  # the one-time token in the URL is the credential
    OAUTH_CALLBACK = "oauth_callback"  # fixed redirect URIs: the flow's account is the session's
    INBOUND = "inbound"  # called by Salesforce, Xero, Stripe: verified before anything is stored
    STAFF = "staff"  # CarryTheOne staff only: 404 for everyone else
    ADMIN = "admin"  # the operator admin: staff with TOTP, others to its login
    ALLAUTH = "allauth"  # sign-up, login, password and 2FA pages (django-allauth)
    SANDBOX = "sandbox"  # the simulators: only mounted with SANDBOX_ENABLED, never in production


ROUTE_CLASSES: dict[str, Kind] = {
    "home": Kind.PUBLIC,
    "favicon": Kind.PUBLIC,
    "healthz": Kind.PUBLIC,
    "billing:pricing": Kind.PUBLIC,
    "billing:how_it_works": Kind.PUBLIC,
    "billing:faq": Kind.PUBLIC,
    "accounts:account_list": Kind.LOGIN,
    "accounts:account_create": Kind.LOGIN,
    # Ends the session's own view as support; reads no account.
    "accounts:staff_view_stop": Kind.LOGIN,
    # tests/accounts/test_invitations.py, test_login_throttle.py: unknown or used tokens fail.
    "accounts:invitation_accept": Kind.TOKEN,
    "accounts:login_unlock": Kind.TOKEN,
    # tests/integrations/web/connect/: a callback of someone else's flow is refused.
    "xero:callback": Kind.OAUTH_CALLBACK,
    "salesforce:callback": Kind.OAUTH_CALLBACK,
    # tests/integrations/web/test_push_views.py, test_webhooks.py, tests/billing/test_webhooks.py.
    "push_salesforce_outbound": Kind.INBOUND,
    "integrations:xero_webhook": Kind.INBOUND,
    "billing:stripe_webhook": Kind.INBOUND,
    # tests/carrytheone/test_healthz.py.
    "healthz_detail": Kind.STAFF,
}

# Third-party and simulator patterns, by their view's module.
MODULE_CLASSES: dict[str, Kind] = {
    "allauth.": Kind.ALLAUTH,
    "sandbox.": Kind.SANDBOX,
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
            converters = getattr(entry.pattern, "converters", {}) or {}
            regex_groups = tuple(entry.pattern.regex.groupindex)
            yield Route(
                name=f"{ns}{entry.name}" if entry.name else "",
                route=prefix + str(entry.pattern),
                module=getattr(entry.callback, "__module__", ""),
                kwargs=tuple(converters) or regex_groups,
            )


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def tenant_routes() -> list[Route]:
    return [r for r in all_routes() if "account_slug" in r.kwargs]


def classify(route: Route) -> Kind | None:
    """The route's kind; None for a tenant route (checked role by role below) or an unknown."""
    if "account_slug" in route.kwargs:
        return None
    if route.route.startswith(settings.ADMIN_URL):
        return Kind.ADMIN
    for prefix, kind in MODULE_CLASSES.items():
        if route.module.startswith(prefix):
            return kind
    return ROUTE_CLASSES.get(route.name)


def routes_of(kind: Kind) -> list[Route]:
    return [r for r in all_routes() if r.name and classify(r) is kind]


def test_every_url_pattern_is_tenant_scoped_or_classified():
    """A new view takes account_slug (and goes through accounts.access) or is classified."""
    unclassified = [
        r.route for r in all_routes() if "account_slug" not in r.kwargs and classify(r) is None
    ]
    assert unclassified == [], f"classify these URL patterns in ROUTE_CLASSES: {unclassified}"


def test_the_tables_name_only_existing_patterns():
    names = {r.name for r in all_routes()}
    stale = (
        set(ROUTE_CLASSES) | SUPPORT_MAY_POST | READ_PAGES | set(NOT_FOUND_WITHOUT_CONTEXT)
    ) - names
    assert stale == set(), f"no such URL names any more: {stale}"


def test_every_kind_and_enough_tenant_routes_are_there():
    kinds = {classify(r) for r in all_routes()}
    assert set(Kind) <= kinds
    assert len(tenant_routes()) >= 60


def test_every_tenant_view_goes_through_account_view():
    """The access helper marks each view it wraps; a hand-rolled check would be missed here."""
    resolver = get_resolver()
    for route in tenant_routes():
        kwargs = {k: ("some-account" if k == "account_slug" else 1) for k in route.kwargs}
        match = resolver.resolve(reverse(route.name, kwargs=kwargs))
        assert isinstance(getattr(match.func, "required_role", None), Role), (
            f"{route.route} bypasses account_view"
        )


# --- The people and the account ---------------------------------------------------------------


class Who(StrEnum):
    ANONYMOUS = "anonymous"
    OUTSIDER = "owner of another account"
    STAFF = "platform staff"
    STAFF_VIEW = "platform staff viewing as support"
    SUPPORT = Role.SUPPORT.value
    ADMIN = Role.ADMIN.value
    OWNER = Role.OWNER.value


# What a Support member may POST: handle records (retry, dismiss — the role's purpose), talk to
# CarryTheOne support, and leave the account themselves. None of it changes configuration.
SUPPORT_MAY_POST = {
    "integrations:log_dismiss",
    "integrations:log_retry",
    "integrations:sync_now",
    "integrations:log_retry_search",
    "integrations:log_retry_run",
    "support:new",
    "support:detail",
    "support:close",
    "accounts:leave",
}

# Pages that only read, whatever the method.
READ_PAGES = {
    "accounts:dashboard",
    "integrations:list",
    "integrations:detail",
    "integrations:backfill_progress",
    "integrations:log",
    "integrations:record",
    "support:list",
}

# A body that would change something if any view accepted it from the wrong person.
BODY = {
    "name": "Renamed by an intruder",
    "role": "owner",
    "email": "intruder@example.com",
    "is_enabled": "on",
    "on": "1",
    "hours": "168",
    "since": "2020-01-01",
    "invoice_status": "AUTHORISED",
}

LOGIN = "login"  # the expected answer "redirected to the login page"
# A view that let the visitor in: a page, a redirect after the action, or a method it never
# takes (405 comes after the access checks, so it says nothing about other accounts).
ANSWERED = frozenset({200, 302, 405})

# Views that answer an allowed visitor's bare request with 404, and why: what they act on is
# not in this request (it is in the body or the session of a flow), not another account's.
NOT_FOUND_WITHOUT_CONTEXT = {
    "integrations:setup_rules": "the body names no rule table of the integration",
    "xero:organisation": "no organisation choice is pending in the session",
}


@dataclass
class World:
    account: Account
    outsider_account: Account
    kwargs: dict[str, Any]
    users: dict[Who, User]
    clients: dict[Who, Client]


def _account_objects(account: Account) -> dict[str, Any]:
    """One object of each kind in the account, by the URL kwarg that names it."""
    from accounts.models import SupportAccessGrant
    from integrations.connections.models import Connection
    from integrations.core.models import Integration
    from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun
    from integrations.sync.push import push_endpoint_for
    from support.models import SupportRequest

    membership = MembershipFactory.create(account=account, role=Role.SUPPORT)
    invitation = InvitationFactory.create(account=account)
    connection = Connection.objects.create(
        account=account,
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
        account=account, name="Victim integration", xero_connection=connection
    )
    # There from the start, so that a rotation shows (the first visit would create it).
    push_endpoint_for(integration=integration)
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
    # Also what lets staff view the account as support.
    grant = SupportAccessGrant.objects.create(
        account=account, expires_at=timezone.now() + timedelta(hours=24)
    )
    support_request = SupportRequest.objects.create(
        account=account, integration=integration, subject="Victim question"
    )
    return {
        "account_slug": account.slug,
        "membership_id": membership.pk,
        "invitation_id": invitation.pk,
        "connection_id": connection.pk,
        "integration_id": integration.pk,
        "run_id": run.pk,
        "ledger_id": ledger.pk,
        "entry_id": entry.pk,
        "grant_id": grant.pk,
        "request_id": support_request.pk,
    }


def _build_world() -> World:
    account = AccountFactory.create()
    kwargs = _account_objects(account)
    users: dict[Who, User] = {}
    clients: dict[Who, Client] = {Who.ANONYMOUS: Client()}
    for who in (Who.SUPPORT, Who.ADMIN, Who.OWNER):
        users[who] = UserFactory.create()
        MembershipFactory.create(user=users[who], account=account, role=Role(who.value))
    outsider_account = AccountFactory.create()
    users[Who.OUTSIDER] = UserFactory.create()
    MembershipFactory.create(user=users[Who.OUTSIDER], account=outsider_account, role=Role.OWNER)
    for who in (Who.SUPPORT, Who.ADMIN, Who.OWNER, Who.OUTSIDER):
        clients[who] = Client()
        clients[who].force_login(users[who])
    # Staff sign in as the admin demands (password, then TOTP); one of them then starts viewing
    # the account as support from the admin, under the account's grant.
    for who in (Who.STAFF, Who.STAFF_VIEW):
        users[who] = UserFactory.create(is_staff=True)
        users[who].user_permissions.add(
            Permission.objects.get(content_type__app_label="accounts", codename="view_account")
        )
        clients[who] = admin_client(users[who], PASSWORD)
    started = clients[Who.STAFF_VIEW].post(
        reverse("admin:accounts_account_view_as", args=[account.pk]), {"reason": ""}
    )
    assert started.status_code == 302, "the staff view did not start"
    return World(account, outsider_account, kwargs, users, clients)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Built once, in a transaction rolled back after the module; each test nests its own."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def _state(account: Account, *, records: bool, except_user: User | None = None) -> dict[str, Any]:
    """What the refused visitors must not change; ``records`` adds what a Support member may
    change by their role (retries, dismissals, support requests)."""
    from integrations.connections.models import Connection
    from integrations.core.models import ConfigChange, Integration
    from integrations.sync.models import LedgerEntry, PushEndpoint, SyncLogEntry
    from support.models import SupportRequest

    integration = Integration.objects.get(account=account)
    state: dict[str, Any] = {
        "account": Account.objects.filter(pk=account.pk).values_list("name", "closed_at").get(),
        "integration": (integration.name, integration.is_enabled, integration.config),
        "config_changes": ConfigChange.objects.filter(integration__account=account).count(),
        "connections": list(Connection.objects.filter(account=account).values_list("pk", "status")),
        "memberships": sorted(
            Membership.objects.filter(account=account)
            .exclude(user=except_user)
            .values_list("user_id", "role")
        ),
        "push": list(PushEndpoint.objects.values_list("token_digest", flat=True)),
        "grants": list(account.support_grants.values_list("pk", "revoked_at")),
        "invitations": list(account.invitations.values_list("email", "revoked_at")),
    }
    if records:
        state["records"] = (
            list(LedgerEntry.objects.filter(integration__account=account).values_list("state")),
            list(
                SyncLogEntry.objects.filter(integration__account=account).values_list(
                    "dismissed_at"
                )
            ),
            list(SupportRequest.objects.filter(account=account).values_list("status")),
        )
    return state


def _expected(route: Route, who: Who, method: str) -> str | frozenset[int]:
    """What ``who`` must be answered, derived from the view's declared role and the tables."""
    if who is Who.ANONYMOUS:
        return LOGIN
    if who in (Who.OUTSIDER, Who.STAFF):
        return frozenset({404})
    required: Role = _view(route).required_role
    if who is Who.STAFF_VIEW:
        if method == "POST":
            return frozenset({403})
        acting = Role.SUPPORT
    else:
        acting = Role(who.value)
    if not acting.includes(required):
        return frozenset({403})
    if method == "POST" and acting is Role.SUPPORT:
        if route.name in SUPPORT_MAY_POST:
            return ANSWERED - {405}
        if route.name in READ_PAGES:
            return frozenset({200, 405})
        return frozenset({403, 405})
    if route.name in NOT_FOUND_WITHOUT_CONTEXT:
        return ANSWERED | {404}
    return ANSWERED


def _view(route: Route) -> Any:
    kwargs = {k: ("some-account" if k == "account_slug" else 1) for k in route.kwargs}
    return get_resolver().resolve(reverse(route.name, kwargs=kwargs)).func


def _answer(client: Client, method: str, url: str) -> str | int:
    response = client.get(url) if method == "GET" else client.post(url, BODY)
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return LOGIN
    return response.status_code


def _matches(answer: str | int, expected: str | frozenset[int]) -> bool:
    return answer == expected if isinstance(expected, str) else answer in expected


@pytest.mark.django_db
@pytest.mark.parametrize("route", tenant_routes(), ids=lambda r: r.name)
def test_access_matrix(route: Route, world: World):
    missing = set(route.kwargs) - set(world.kwargs)
    assert not missing, f"add an object for {missing} to _account_objects"
    url = reverse(route.name, kwargs={k: world.kwargs[k] for k in route.kwargs})
    # The outsider's own account with this account's object ids.
    own_url = reverse(
        route.name,
        kwargs={k: world.kwargs[k] for k in route.kwargs}
        | {"account_slug": world.outsider_account.slug},
    )
    support = world.users[Who.SUPPORT]
    wrong: list[str] = []

    def check(who: Who, method: str, expected: str | frozenset[int], at: str = url) -> None:
        """One request, rolled back after it: each visitor finds the account as it was built."""
        with transaction.atomic():
            # What each may change: nothing; a Support member their records and their own
            # membership (they may leave); members of a high enough role, anything.
            guarded = who not in (Who.ADMIN, Who.OWNER)
            records = who is not Who.SUPPORT
            except_user = support if who is Who.SUPPORT else None
            if guarded:
                before = _state(world.account, records=records, except_user=except_user)
            answer = _answer(world.clients[who], method, at)
            if not _matches(answer, expected):
                shown = expected if isinstance(expected, str) else sorted(expected)
                wrong.append(f"{who} {method} {at}: {answer}, expected {shown}")
            if (
                guarded
                and _state(world.account, records=records, except_user=except_user) != before
            ):
                wrong.append(f"{who} {method} {at} changed the account")
            transaction.set_rollback(True)

    for who in Who:
        for method in ("GET", "POST"):
            check(who, method, _expected(route, who, method))
    if len(route.kwargs) > 1:
        for method in ("GET", "POST"):
            check(Who.OUTSIDER, method, frozenset({404, 405}), at=own_url)
    assert wrong == [], "\n".join(wrong)


# --- The patterns outside any account ---------------------------------------------------------


def _url(route: Route) -> str:
    return reverse(
        route.name, kwargs={k: ("accounts" if k == "app_label" else "1") for k in route.kwargs}
    )


@pytest.mark.django_db
def test_anonymous_visitors_reach_the_public_pages_without_signing_in(world: World):
    client = world.clients[Who.ANONYMOUS]
    for route in routes_of(Kind.PUBLIC):
        answer = _answer(client, "GET", _url(route))
        assert answer in {200, 301, 302, 503}, (route.name, answer)


@pytest.mark.django_db
def test_the_signed_in_pages_outside_an_account_send_anonymous_visitors_to_login(world: World):
    client = world.clients[Who.ANONYMOUS]
    for route in routes_of(Kind.LOGIN):
        for method in ("GET", "POST"):
            assert _answer(client, method, _url(route)) == LOGIN, (route.name, method)


@pytest.mark.django_db
def test_inbound_endpoints_refuse_an_unsigned_delivery(world: World):
    """Unauthenticated by design: what proves the sender is checked before anything is read."""
    from billing.models import StripeEvent
    from integrations.sync.models import PushEndpoint

    client = world.clients[Who.ANONYMOUS]
    for route in routes_of(Kind.INBOUND):
        kwargs = dict.fromkeys(route.kwargs, "not-a-real-token")
        response = client.post(
            reverse(route.name, kwargs=kwargs), b"{}", content_type="application/json"
        )
        assert response.status_code in {400, 401, 403, 404}, (route.name, response.status_code)
    assert not StripeEvent.objects.exists()
    assert not PushEndpoint.objects.filter(last_message_at__isnull=False).exists()


@pytest.mark.django_db
def test_staff_pages_are_404_for_everyone_else(world: World):
    for route in routes_of(Kind.STAFF):
        for who in (Who.ANONYMOUS, Who.OWNER):
            assert world.clients[who].get(_url(route)).status_code == 404, (route.name, who)
        assert world.clients[Who.STAFF].get(_url(route)).status_code == 200, route.name


@pytest.mark.django_db
def test_the_operator_admin_sends_everyone_but_staff_with_totp_to_its_login(world: World):
    """Anonymous visitors and customers (even owners) never get an admin page; a staff member
    who skipped the second factor neither."""
    admin_login = reverse("admin:login")
    staff_without_totp = UserFactory.create(is_staff=True)
    skipped = Client()
    skipped.force_login(staff_without_totp)
    clients = {
        Who.ANONYMOUS: world.clients[Who.ANONYMOUS],
        Who.OWNER: world.clients[Who.OWNER],
        "staff without TOTP": skipped,
    }
    wrong = []
    for route in routes_of(Kind.ADMIN):
        if route.name in {"admin:login", "admin:logout"}:
            continue
        for who, client in clients.items():
            response = client.get(_url(route))
            if response.status_code != 302 or not response["Location"].startswith(admin_login):
                wrong.append(f"{who} {route.name}: {response.status_code}")
    assert wrong == []
    assert world.clients[Who.STAFF].get(reverse("admin:index")).status_code == 200

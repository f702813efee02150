"""CarryTheOne staff viewing a customer account as support: only with the customer's grant or
the permission to view any account (with a reason), read-only, audited for the owners, and
over when the grant or the hour ends."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountAuditEntry, Role, SupportAccessGrant, User
from accounts.staff_access import (
    SESSION_KEY,
    StaffAccessError,
    staff_view_start,
    support_grant_create,
)
from integrations.sync.models import LedgerEntry
from integrations.sync.push import push_endpoint_for, push_endpoint_url
from tests.admin_login import admin_client
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.support.records import failing_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(account):
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=Role.OWNER)
    return user


@pytest.fixture
def failing(account):
    return failing_integration(account)


def _staff(*codenames: str):
    """A staff member who may read accounts in the admin (and any extra permission)."""
    user = UserFactory.create(is_staff=True)
    for codename in ("view_account", *codenames):
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="accounts", codename=codename)
        )
    return user


def _start_url(account) -> str:
    return reverse("admin:accounts_account_view_as", args=[account.pk])


def _dashboard(account) -> str:
    return reverse("accounts:dashboard", kwargs={"account_slug": account.slug})


def _detail(account, integration) -> str:
    return reverse(
        "integrations:detail",
        kwargs={"account_slug": account.slug, "integration_id": integration.pk},
    )


def _grant(account, owner, hours: int = 24) -> SupportAccessGrant:
    return support_grant_create(account=account, user=owner, hours=hours)


def _viewing(account, owner, *, staff=None) -> tuple[Client, User]:
    """A staff member's admin session that started viewing ``account`` under a grant."""
    staff = staff or _staff()
    _grant(account, owner)
    client = admin_client(staff, PASSWORD)
    response = client.post(_start_url(account), {"reason": ""})
    assert response.status_code == 302
    assert response["Location"] == _dashboard(account)
    return client, staff


def test_a_customer_member_who_is_not_staff_cannot_start(account, owner):
    _grant(account, owner)
    client = Client()
    client.force_login(owner)
    response = client.post(_start_url(account), {"reason": "curious"})
    assert response.status_code in {302, 403}
    assert SESSION_KEY not in client.session
    with pytest.raises(StaffAccessError):
        staff_view_start(session=client.session, user=owner, account=account)
    assert not AccountAuditEntry.objects.filter(kind=AccountAuditEntry.Kind.STAFF_VIEW).exists()


def test_staff_without_grant_or_permission_cannot_view(account, failing):
    staff = _staff()
    client = admin_client(staff, PASSWORD)
    page = client.get(_start_url(account)).content.decode()
    assert "has not granted access" in page
    client.post(_start_url(account), {"reason": "I want to"})
    assert SESSION_KEY not in client.session
    assert client.get(_dashboard(account)).status_code == 404
    assert client.get(_detail(account, failing.integration)).status_code == 404
    assert not AccountAuditEntry.objects.exists()


def test_with_the_grant_staff_read_the_pages_and_the_owner_sees_it(
    account, owner, failing, django_assert_max_num_queries
):
    client, staff = _viewing(account, owner)

    dashboard = client.get(_dashboard(account))
    assert dashboard.status_code == 200
    body = dashboard.content.decode()
    assert f'Viewing <a href="{_dashboard(account)}">{account.name}</a> as CarryTheOne support' in (
        body
    )
    assert "(read-only)" in body
    with django_assert_max_num_queries(40):
        assert client.get(_detail(account, failing.integration)).status_code == 200
    log = reverse(
        "integrations:log",
        kwargs={"account_slug": account.slug, "integration_id": failing.integration.pk},
    )
    assert "Globex renewal 0" in client.get(log).content.decode()
    # Pages of a higher role stay closed: the view is a Support member's.
    members = reverse("accounts:members", kwargs={"account_slug": account.slug})
    assert client.get(members).status_code == 403

    entry = AccountAuditEntry.objects.get(kind=AccountAuditEntry.Kind.STAFF_VIEW)
    assert entry.account == account
    assert entry.actor == staff
    assert entry.grant == SupportAccessGrant.objects.get()
    assert owner.email in entry.detail  # who granted what it relied on
    assert entry.page_views == 4

    owner_client = Client()
    owner_client.force_login(owner)
    with django_assert_max_num_queries(12):
        audit = owner_client.get(reverse("accounts:audit", kwargs={"account_slug": account.slug}))
    assert audit.status_code == 200
    text = audit.content.decode()
    assert staff.email in text
    assert "CarryTheOne staff viewed the account" in text
    assert "4 pages viewed" in text


def test_every_post_is_refused_while_viewing(account, owner, failing):
    """Even what the SUPPORT role may do (retry, dismiss, write to support) is refused."""
    client, _ = _viewing(account, owner)
    entry = failing.entries[0]
    kwargs = {"account_slug": account.slug, "integration_id": failing.integration.pk}
    for url, data in (
        (reverse("integrations:log_retry", kwargs={**kwargs, "entry_id": entry.pk}), {}),
        (reverse("integrations:log_dismiss", kwargs={**kwargs, "entry_id": entry.pk}), {}),
        (reverse("support:new", kwargs=kwargs), {"subject": "x", "message": "y"}),
        (reverse("integrations:setup_switch", kwargs=kwargs), {"on": "1"}),
        (reverse("integrations:setup_invoices", kwargs=kwargs), {"invoice_status": "DRAFT"}),
        (reverse("accounts:settings", kwargs={"account_slug": account.slug}), {"name": "x"}),
    ):
        assert client.post(url, data).status_code == 403, url
    entry.refresh_from_db()
    assert entry.dismissed_at is None
    assert entry.ledger.state == LedgerEntry.State.FAILED
    account.refresh_from_db()
    assert account.name != "x"
    assert not account.support_requests.exists()


def test_the_push_url_secret_is_hidden_from_staff(account, owner, failing):
    push_url = push_endpoint_url(push_endpoint_for(integration=failing.integration))
    client, _ = _viewing(account, owner)
    page = client.get(
        reverse(
            "integrations:setup_push",
            kwargs={"account_slug": account.slug, "integration_id": failing.integration.pk},
        )
    )
    assert page.status_code == 200
    assert push_url.rstrip("/").rsplit("/", 1)[-1] not in page.content.decode()


def test_the_view_is_of_one_account_only(account, owner):
    other_owner = MembershipFactory.create(role=Role.OWNER)
    _grant(other_owner.account, other_owner.user)
    client, _ = _viewing(account, owner)
    assert client.get(_dashboard(other_owner.account)).status_code == 404


def test_revoking_the_grant_ends_the_view(account, owner):
    client, _ = _viewing(account, owner)
    grant = SupportAccessGrant.objects.get()
    owner_client = Client()
    owner_client.force_login(owner)
    revoke = reverse(
        "accounts:support_grant_revoke",
        kwargs={"account_slug": account.slug, "grant_id": grant.pk},
    )
    assert owner_client.post(revoke).status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.revoked_by == owner
    assert client.get(_dashboard(account)).status_code == 404
    assert SESSION_KEY not in client.session
    kinds = list(AccountAuditEntry.objects.values_list("kind", flat=True))
    assert AccountAuditEntry.Kind.GRANT_REVOKED in kinds
    # And a new start is refused without a new grant.
    client.post(_start_url(account))
    assert SESSION_KEY not in client.session


def test_the_grant_expiring_ends_the_view(account, owner):
    client, _ = _viewing(account, owner)
    SupportAccessGrant.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(_dashboard(account)).status_code == 404
    assert SESSION_KEY not in client.session


def test_the_view_ends_after_view_as_max_seconds(account, owner, settings):
    settings.VIEW_AS_MAX_SECONDS = 600
    client, _ = _viewing(account, owner)
    view = client.session[SESSION_KEY]
    started = dt.datetime.fromisoformat(view["started_at"])
    assert dt.datetime.fromisoformat(view["expires_at"]) == started + dt.timedelta(seconds=600)
    session = client.session
    session[SESSION_KEY] = {
        **view,
        "expires_at": (timezone.now() - dt.timedelta(seconds=1)).isoformat(),
    }
    session.save()
    assert client.get(_dashboard(account)).status_code == 404
    assert SESSION_KEY not in client.session


def test_a_view_never_outlasts_the_grant(account, owner, settings):
    settings.VIEW_AS_MAX_SECONDS = 7 * 24 * 3600
    client, _ = _viewing(account, owner)
    grant = SupportAccessGrant.objects.get()
    assert dt.datetime.fromisoformat(client.session[SESSION_KEY]["expires_at"]) == grant.expires_at


def test_losing_the_staff_flag_ends_the_view(account, owner):
    client, staff = _viewing(account, owner)
    staff.is_staff = False
    staff.save(update_fields=["is_staff"])
    assert client.get(_dashboard(account)).status_code == 404


def test_stop_ends_the_view(account, owner):
    client, _ = _viewing(account, owner)
    response = client.post(reverse("accounts:staff_view_stop"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_account_change", args=[account.pk])
    assert SESSION_KEY not in client.session
    assert client.get(_dashboard(account)).status_code == 404


def test_permission_to_view_any_account_needs_a_reason_shown_to_the_owner(account, owner):
    staff = _staff("view_any_account")
    client = admin_client(staff, PASSWORD)
    client.post(_start_url(account), {"reason": ""})
    assert SESSION_KEY not in client.session

    client.post(_start_url(account), {"reason": "Ticket 4411: invoices missing since Monday"})
    assert client.get(_dashboard(account)).status_code == 200
    entry = AccountAuditEntry.objects.get(kind=AccountAuditEntry.Kind.STAFF_VIEW)
    assert entry.grant is None
    assert "Ticket 4411: invoices missing since Monday" in entry.detail
    owner_client = Client()
    owner_client.force_login(owner)
    audit = owner_client.get(reverse("accounts:audit", kwargs={"account_slug": account.slug}))
    assert "Ticket 4411" in audit.content.decode()


def test_only_owners_and_admins_read_the_audit_log_and_manage_grants(account, owner):
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    client = Client()
    client.force_login(member.user)
    audit = reverse("accounts:audit", kwargs={"account_slug": account.slug})
    new = reverse("accounts:support_grant_new", kwargs={"account_slug": account.slug})
    assert client.get(audit).status_code == 403
    assert client.post(new, {"hours": "24"}).status_code == 403
    assert not SupportAccessGrant.objects.exists()

    owner_client = Client()
    owner_client.force_login(owner)
    assert owner_client.post(new, {"hours": "168"}).status_code == 302
    grant = SupportAccessGrant.objects.get()
    assert grant.is_active
    assert (grant.expires_at - grant.created_at) == dt.timedelta(days=7)
    assert owner_client.post(new, {"hours": "5"}).status_code == 302
    assert SupportAccessGrant.objects.count() == 1


def test_the_staff_admin_lists_grants_and_audit_rows_read_only(account, owner):
    _grant(account, owner)
    superuser = UserFactory.create(is_staff=True, is_superuser=True)
    client = admin_client(superuser, PASSWORD)
    assert client.get(reverse("admin:accounts_supportaccessgrant_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_supportaccessgrant_add")).status_code == 403
    grant = SupportAccessGrant.objects.get()
    client.post(
        reverse("admin:accounts_supportaccessgrant_change", args=[grant.pk]),
        {"expires_at": "2099-01-01"},
    )
    grant.refresh_from_db()
    assert grant.expires_at.year != 2099

"""Changing roles, removing members, leaving; an account always keeps an owner."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role
from tests.factories import AccountFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _logged_in(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _url(name: str, membership: Membership) -> str:
    return reverse(
        name, kwargs={"account_slug": membership.account.slug, "membership_id": membership.pk}
    )


def test_owner_changes_a_role(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER)
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    _logged_in(owner).post(_url("accounts:member_role", member), {"role": "admin"})
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_unknown_role_is_refused(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER)
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    response = _logged_in(owner).post(
        _url("accounts:member_role", member), {"role": "god"}, follow=True
    )
    assert b"Choose one of the roles offered" in response.content
    member.refresh_from_db()
    assert member.role == Role.SUPPORT


def test_the_last_owner_cannot_be_demoted_or_removed(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER)
    client = _logged_in(owner)
    response = client.post(_url("accounts:member_role", owner), {"role": "support"}, follow=True)
    assert b"needs at least one owner" in response.content
    client.post(_url("accounts:member_remove", owner))
    client.post(reverse("accounts:leave", kwargs={"account_slug": account.slug}))
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_owner_may_step_down_when_another_owner_exists(account):
    first = MembershipFactory.create(account=account, role=Role.OWNER)
    MembershipFactory.create(account=account, role=Role.OWNER)
    _logged_in(first).post(_url("accounts:member_role", first), {"role": "admin"})
    first.refresh_from_db()
    assert first.role == Role.ADMIN


def test_owner_removes_a_member(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER)
    member = MembershipFactory.create(account=account, role=Role.ADMIN)
    client = _logged_in(owner)
    client.post(_url("accounts:member_remove", member))
    assert not Membership.objects.filter(pk=member.pk).exists()
    # Gone means gone: the removed user now gets 404 for the account.
    dashboard = reverse("accounts:dashboard", kwargs={"account_slug": account.slug})
    assert _logged_in(member).get(dashboard).status_code == 404


def test_support_leaves_an_account(account):
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    client = _logged_in(member)
    response = client.post(reverse("accounts:leave", kwargs={"account_slug": account.slug}))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_user_switches_between_accounts(account):
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    other = AccountFactory.create(name="Zeta Trading")
    MembershipFactory.create(user=member.user, account=other, role=Role.ADMIN)
    client = _logged_in(member)

    page = client.get(reverse("accounts:dashboard", kwargs={"account_slug": account.slug}))
    assert f"/a/{other.slug}/".encode() in page.content  # the switcher lists both
    client.get(reverse("accounts:dashboard", kwargs={"account_slug": other.slug}))
    assert client.get("/")["Location"] == f"/a/{other.slug}/"  # home goes to the last one
    client.get(reverse("accounts:dashboard", kwargs={"account_slug": account.slug}))
    assert client.get("/")["Location"] == f"/a/{account.slug}/"


def test_user_creates_a_second_account(account):
    member = MembershipFactory.create(account=account, role=Role.SUPPORT)
    client = _logged_in(member)
    response = client.post(reverse("accounts:account_create"), {"name": "Second Co"})
    new = member.user.memberships.get(account__name="Second Co")
    assert new.role == Role.OWNER
    assert response["Location"] == f"/a/{new.account.slug}/"
    assert new.account.subscription.in_trial
    assert client.post(reverse("accounts:account_create"), {"name": "  "}).status_code == 200


def test_owner_renames_the_account(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER)
    _logged_in(owner).post(
        reverse("accounts:settings", kwargs={"account_slug": account.slug}), {"name": "Renamed"}
    )
    account.refresh_from_db()
    assert account.name == "Renamed"


def test_user_without_accounts_is_offered_to_create_one(db):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory.create())
    response = client.get("/", follow=True)
    assert b"You do not belong to any account yet" in response.content

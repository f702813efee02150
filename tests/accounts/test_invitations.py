"""Owners invite admins and support staff by email; the link works once, for that address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User
from accounts.services import AccountsError, invitation_create
from tests.factories import PASSWORD, MembershipFactory, UserFactory

# Invitation emails go out on commit, so these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


def _invite(owner_client, account, email="new.person@example.com", role="support"):
    url = reverse("accounts:member_invite", kwargs={"account_slug": account.slug})
    return owner_client.post(url, {"email": email, "role": role})


def _emailed_path() -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/\S+/)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group(1)


def test_owner_invites_support_who_signs_up_and_sees_the_account(client, account, owner_client):
    response = _invite(owner_client, account, email="New.Person@example.com")
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["new.person@example.com"]
    assert account.name in mail.outbox[-1].subject
    path = _emailed_path()

    page = client.get(path)
    assert page.status_code == 200
    assert b"Choose a password" in page.content
    response = client.post(
        path, {"full_name": "Sam Support", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "accounts:dashboard", kwargs={"account_slug": account.slug}
    )

    user = User.objects.get(email="new.person@example.com")
    assert Membership.objects.get(user=user, account=account).role == Role.SUPPORT
    assert EmailAddress.objects.get(user=user).verified  # the link proved the address

    # The new support user sees the account but not admin-only pages.
    assert client.get(response["Location"]).status_code == 200
    members = reverse("accounts:members", kwargs={"account_slug": account.slug})
    assert client.get(members).status_code == 403

    # The link is spent.
    client.logout()
    assert client.get(path).status_code == 410


def test_only_a_hash_of_the_token_is_stored(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER).user
    invitation, token = invitation_create(
        account=account, email="x@example.com", role=Role.ADMIN, invited_by=owner
    )
    assert token not in invitation.token_hash
    assert not Invitation.objects.filter(token_hash=token).exists()


def test_existing_user_must_log_in_then_accepts(client, account, owner_client):
    existing = UserFactory.create(email="known@example.com")
    _invite(owner_client, account, email="known@example.com", role="admin")
    path = _emailed_path()

    page = client.get(path)
    assert b"Log in to accept" in page.content
    assert not Membership.objects.filter(user=existing).exists()

    client.force_login(existing)
    assert b"Accept the invitation" in client.get(path).content
    client.post(path)
    assert Membership.objects.get(user=existing, account=account).role == Role.ADMIN


def test_another_logged_in_user_cannot_use_the_link(client, account, owner_client):
    _invite(owner_client, account, email="meant@example.com")
    path = _emailed_path()
    stranger = UserFactory.create()
    client.force_login(stranger)
    assert client.get(path).status_code == 403
    assert client.post(path).status_code == 403
    assert not Membership.objects.filter(user=stranger).exists()


def test_unknown_token_is_404(client):
    assert client.get("/invitations/not-a-real-token/").status_code == 404


def test_revoked_and_expired_invitations_are_refused(client, account, owner_client):
    _invite(owner_client, account, email="a@example.com")
    revoked_path = _emailed_path()
    invitation = Invitation.objects.get(email="a@example.com")
    url = reverse(
        "accounts:invitation_revoke",
        kwargs={"account_slug": account.slug, "invitation_id": invitation.pk},
    )
    owner_client.post(url)
    assert client.get(revoked_path).status_code == 410
    assert b"revoked" in client.get(revoked_path).content

    _invite(owner_client, account, email="b@example.com")
    expired_path = _emailed_path()
    Invitation.objects.filter(email="b@example.com").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.post(
        expired_path, {"full_name": "Late", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 410
    assert not User.objects.filter(email="b@example.com").exists()


def test_resend_issues_a_new_link_and_kills_the_old(client, account, owner_client):
    _invite(owner_client, account, email="c@example.com")
    old_path = _emailed_path()
    invitation = Invitation.objects.get(email="c@example.com")
    owner_client.post(
        reverse(
            "accounts:invitation_resend",
            kwargs={"account_slug": account.slug, "invitation_id": invitation.pk},
        )
    )
    new_path = _emailed_path()
    assert new_path != old_path
    assert client.get(old_path).status_code == 404
    assert client.get(new_path).status_code == 200


def test_invite_rejects_members_duplicates_and_owner_role(account, owner_client):
    member = MembershipFactory.create(account=account, role=Role.SUPPORT).user
    response = _invite(owner_client, account, email=member.email)
    assert b"already a member" in response.content

    _invite(owner_client, account, email="d@example.com")
    response = _invite(owner_client, account, email="D@example.com")
    assert b"already has a pending invitation" in response.content

    response = _invite(owner_client, account, email="e@example.com", role="owner")
    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    assert account.invitations.count() == 1

    with pytest.raises(AccountsError):
        invitation_create(
            account=account, email="f@example.com", role=Role.OWNER, invited_by=member
        )

"""Owners invite admins and support staff by email; the link works once, for that address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User
from accounts.services import (
    AccountsError,
    EmailNotVerified,
    invitation_accept,
    invitation_create,
)
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


# --- The invited address must be confirmed -----------------------------------------------------


def _signup(client, email: str):
    """The regular signup page (not the invitation's)."""
    return client.post(
        "/signup/",
        {
            "full_name": "Pat Person",
            "company_name": "Pat's Company",
            "email": email,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def _confirmation_path() -> str:
    for message in reversed(mail.outbox):
        match = re.search(r"https?://[^/\s]+(/confirm-email/\S+/)", str(message.body))
        if match:
            return match.group(1)
    raise AssertionError("no confirmation email")


def _log_in(client, email: str) -> bool:
    client.post("/login/", {"login": email, "password": PASSWORD})
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("verification", ["optional", "mandatory"])
def test_signed_up_first_with_the_address_must_confirm_it_to_accept(
    client, account, owner_client, settings, verification
):
    """Anyone can sign up with someone else's address; the admin invitation sent to that
    address is for whoever reads its mailbox, so an unconfirmed login cannot accept it — and
    following the link does not confirm an existing login's address."""
    settings.ACCOUNT_EMAIL_VERIFICATION = verification
    _signup(client, "pat@example.com")
    user = User.objects.get(email="pat@example.com")
    _invite(owner_client, account, email="pat@example.com", role="admin")
    path = _emailed_path()

    if verification == "optional":
        assert "_auth_user_id" in client.session  # signed in, address unconfirmed
        page = client.get(path)
        assert page.status_code == 403
        assert b"Confirm pat@example.com first" in page.content
        assert client.post(path).status_code == 403
        # The page sends the confirmation link again (allauth sends one per address every
        # three minutes: that much time passes).
        assert f'action="{reverse("account_email")}"'.encode() in page.content
        cache.clear()
        mail.outbox.clear()
        client.post(reverse("account_email"), {"email": "pat@example.com", "action_send": ""})
        assert mail.outbox[-1].to == ["pat@example.com"]
    else:
        assert b"Log in to accept" in client.get(path).content
        assert not _log_in(client, "pat@example.com")  # unconfirmed: no session at all
    assert not Membership.objects.filter(user=user, account=account).exists()
    assert not EmailAddress.objects.get(user=user).verified

    client.post(_confirmation_path())
    assert EmailAddress.objects.get(user=user).verified
    assert "_auth_user_id" in client.session or _log_in(client, "pat@example.com")
    assert b"Accept the invitation" in client.get(path).content
    response = client.post(path)
    assert response.status_code == 302
    assert Membership.objects.get(user=user, account=account).role == Role.ADMIN


@pytest.mark.parametrize("verification", ["optional", "mandatory"])
def test_link_first_then_signing_up_through_it_confirms_the_address(
    client, account, owner_client, settings, verification
):
    """The person holding the link chooses the password: the link proves the mailbox."""
    settings.ACCOUNT_EMAIL_VERIFICATION = verification
    _invite(owner_client, account, email="sam@example.com")
    path = _emailed_path()
    assert b"Choose a password" in client.get(path).content
    client.post(path, {"full_name": "Sam", "password1": PASSWORD, "password2": PASSWORD})
    user = User.objects.get(email="sam@example.com")
    assert EmailAddress.objects.get(user=user).verified
    assert Membership.objects.get(user=user, account=account).role == Role.SUPPORT
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize("verification", ["optional", "mandatory"])
def test_link_first_then_the_regular_signup_still_needs_the_address_confirmed(
    client, account, owner_client, settings, verification
):
    """Opened the link, then signed up on the signup page instead: that login's address is
    unconfirmed like any other, until its own confirmation link is followed."""
    settings.ACCOUNT_EMAIL_VERIFICATION = verification
    _invite(owner_client, account, email="kim@example.com")
    path = _emailed_path()
    assert b"Choose a password" in client.get(path).content
    _signup(client, "kim@example.com")
    user = User.objects.get(email="kim@example.com")
    if verification == "optional":
        assert client.post(path).status_code == 403
    else:
        assert b"Log in to accept" in client.get(path).content
        assert not _log_in(client, "kim@example.com")
    assert not Membership.objects.filter(user=user, account=account).exists()

    client.post(_confirmation_path())
    assert "_auth_user_id" in client.session or _log_in(client, "kim@example.com")
    client.post(path)
    assert Membership.objects.get(user=user, account=account).role == Role.SUPPORT


def test_the_service_refuses_an_unconfirmed_address(account):
    owner = MembershipFactory.create(account=account, role=Role.OWNER).user
    invitation, _ = invitation_create(
        account=account, email="u@example.com", role=Role.ADMIN, invited_by=owner
    )
    user = UserFactory.create(email="u@example.com", verified=False)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    with pytest.raises(EmailNotVerified):
        invitation_accept(invitation=invitation, user=user)
    assert not Membership.objects.filter(user=user).exists()

"""Signup, email verification, login, logout and password reset (throttle: test_login_throttle)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from billing.models import Subscription
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _verification_required(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


SIGNUP = {
    "full_name": "Ada Owner",
    "company_name": "Analytical Engines Ltd",
    "email": "Ada@Example.com",
    "password1": PASSWORD,
    "password2": PASSWORD,
}


def _link(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", body)
    assert match, body
    return match.group(1)


def test_signup_creates_user_account_owner_membership_and_trial(client):
    response = client.post("/signup/", SIGNUP)
    assert response.status_code == 302

    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.full_name == "Ada Owner"
    account = Account.objects.get()
    assert account.name == "Analytical Engines Ltd"
    assert Membership.objects.get().role == Role.OWNER
    trial = Subscription.objects.get(account=account)
    assert trial.status == Subscription.Status.TRIALING
    assert abs(trial.trial_ends_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert trial.trial_days_left == 30


def test_signup_requires_email_verification_before_login(client):
    client.post("/signup/", SIGNUP)
    assert len(mail.outbox) == 1
    assert "ada@example.com" in mail.outbox[0].to

    # Not verified yet: logging in lands on "verify your email", not in the account.
    response = client.post("/login/", {"login": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert "/confirm-email/" in response["Location"]
    assert "_auth_user_id" not in client.session

    confirm_url = _link(str(mail.outbox[-1].body))
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get().pk)
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert b"Analytical Engines Ltd" in response.content
    assert b"30 days left" in response.content


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"company_name": ""}, "company_name"),
        ({"full_name": ""}, "full_name"),
        ({"email": "not-an-email"}, "email"),
        ({"password1": "short", "password2": "short"}, "password1"),
        ({"password2": "something-else-entirely"}, "password2"),
    ],
)
def test_signup_rejects_bad_input_and_creates_nothing(client, change, field):
    response = client.post("/signup/", {**SIGNUP, **change})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not User.objects.exists()
    assert not Account.objects.exists()


def test_signup_with_a_taken_email_creates_no_second_account(client):
    UserFactory.create(email="ada@example.com")
    client.post("/signup/", SIGNUP)
    assert User.objects.count() == 1
    assert not Account.objects.exists()
    # The owner of the address is told, instead of the signer-up learning it exists.
    assert "ada@example.com" in mail.outbox[-1].to


def test_login_and_logout(client):
    user = UserFactory.create()
    response = client.post("/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    client.post("/logout/")
    assert "_auth_user_id" not in client.session


def test_login_with_wrong_password_says_so(client):
    user = UserFactory.create()
    response = client.post("/login/", {"login": user.email, "password": "wrong-password"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(client):
    user = UserFactory.create()
    client.post("/password/reset/", {"email": user.email})
    assert len(mail.outbox) == 1
    reset_url = _link(str(mail.outbox[0].body))
    response = client.get(reset_url, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else reset_url
    new_password = "another-long-password-77"
    response = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_login_page_has_labelled_fields(client):
    body = client.get("/login/").content.decode()
    assert '<label for="id_login"' in body
    assert '<label for="id_password"' in body
    assert 'href="/signup/"' in body


def test_the_login_page_offers_a_password_reset_once(client):
    html = client.get("/login/").content.decode()
    assert html.count("Forgot your password?") == 1

"""The operator admin: no password form of its own, staff only, and only after a TOTP code.

Staff can read and change every customer account. The admin's login sends people to the
site's throttled login; the admin opens only for an active staff user whose session passed a
second factor (allauth MFA), and staff without an authenticator are sent to set one up first.
Codes are computed from the secret, as an authenticator app does (tests/admin_login.py).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.admin_login import SECRET, totp
from tests.carrytheone.test_settings import _run_django
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _staff(*, with_totp: bool) -> User:
    user = UserFactory.create(is_staff=True, is_superuser=True)
    if with_totp:
        TOTP.activate(user, SECRET)
    return user


def _path(response) -> str:
    return str(urlsplit(response["Location"]).path)


def _admin_index() -> str:
    return reverse("admin:index")


def test_the_admin_login_never_checks_a_password():
    """Thirty wrong passwords and then the right one used to get in, unthrottled."""
    staff = _staff(with_totp=True)
    client = Client()
    login = reverse("admin:login")
    for password in [f"guess-{n}" for n in range(30)] + [PASSWORD]:
        response = client.post(login, {"username": staff.email, "password": password})
        assert response.status_code == 302
        assert _path(response) == reverse("account_login")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:accounts_account_changelist")).status_code == 302


def test_staff_sign_in_with_password_then_code_and_the_admin_opens():
    staff = _staff(with_totp=True)
    client = Client()
    response = client.get(_admin_index(), follow=True)
    login_url = response.redirect_chain[-1][0]
    assert urlsplit(login_url).path == reverse("account_login")
    assert "next=" in login_url

    response = client.post(login_url, {"login": staff.email, "password": PASSWORD})
    assert _path(response) == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session  # the password alone signs nobody in
    response = client.post(reverse("mfa_authenticate"), {"code": totp(SECRET)})
    assert _path(response) == _admin_index()
    page = client.get(_admin_index())
    assert page.status_code == 200
    assert b"CarryTheOne operator admin" in page.content


def test_a_wrong_code_does_not_open_the_admin():
    staff = _staff(with_totp=True)
    client = Client()
    client.post(
        f"{reverse('account_login')}?next={_admin_index()}",
        {"login": staff.email, "password": PASSWORD},
    )
    wrong = f"{(int(totp(SECRET)) + 1) % 1_000_000:06d}"
    client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert "_auth_user_id" not in client.session
    assert client.get(_admin_index()).status_code == 302


def test_staff_without_totp_set_it_up_before_the_admin_opens():
    staff = _staff(with_totp=False)
    client = Client()
    client.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    assert "_auth_user_id" in client.session

    response = client.get(_admin_index(), follow=True)
    assert [url for url, _ in response.redirect_chain][-2:] == [
        reverse("mfa_activate_totp"),
        f"{reverse('account_reauthenticate')}?next=%2F2fa%2Ftotp%2Factivate%2F",
    ]
    assert client.get(reverse("admin:accounts_account_changelist")).status_code == 302

    # allauth asks for the password again before adding an authenticator.
    response = client.post(response.redirect_chain[-1][0], {"password": PASSWORD})
    assert _path(response) == reverse("mfa_activate_totp")
    page = client.get(reverse("mfa_activate_totp"))
    # The secret as the page shows it, to type into an authenticator app.
    shown = re.search(rb'id="authenticator_secret"\s+value="([A-Z2-7]+)"', page.content)
    assert shown, page.content.decode()
    code_secret = shown.group(1).decode()
    assert code_secret == client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp(code_secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    codes_page = client.get(response["Location"])
    assert b"Continue to the admin" in codes_page.content

    # Setting it up proves nothing the password did not: the admin asks for a code.
    response = client.get(_admin_index(), follow=True)
    reauth = response.redirect_chain[-1][0]
    assert urlsplit(reauth).path == reverse("mfa_reauthenticate")
    response = client.post(reauth, {"code": totp(code_secret, offset=1)})
    assert _path(response) == _admin_index()
    assert client.get(_admin_index()).status_code == 200


def test_a_staff_session_that_skipped_the_second_factor_is_refused():
    """A session signed in some other way (force_login here) has passed no second factor."""
    staff = _staff(with_totp=True)
    client = Client()
    client.force_login(staff)
    for url in (_admin_index(), reverse("admin:accounts_account_changelist")):
        response = client.get(url, follow=True)
        assert response.status_code == 200  # the re-authentication page, not the admin
        assert urlsplit(response.redirect_chain[-1][0]).path == reverse("mfa_reauthenticate")
        assert b"CarryTheOne operator admin" not in response.content


def test_people_who_are_not_staff_get_no_admin():
    user = UserFactory.create()
    TOTP.activate(user, SECRET)
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp(SECRET)})
    assert "_auth_user_id" in client.session
    assert client.get(_admin_index()).status_code == 302
    assert client.get(reverse("admin:login")).status_code == 403


def test_the_admin_lives_at_admin_url(tmp_path):
    code = (
        "from django.urls import resolve, reverse, Resolver404\n"
        "print(reverse('admin:index'), end=' ')\n"
        "try:\n    resolve('/admin/'); print('admin-too')\n"
        "except Resolver404:\n    print('only-there')"
    )
    assert _run_django(code, tmp_path, ADMIN_URL="/ops-7f3a/") == "/ops-7f3a/ only-there"
    assert _run_django(code, tmp_path).startswith("/admin/")

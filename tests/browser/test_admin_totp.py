"""A staff member opens the admin for the first time: password, TOTP set-up, code, admin.

In Debian's chromium, under the site's real Content-Security-Policy: the QR code (a data: image)
shows, every form posts, and nothing is refused on the console.
"""

from __future__ import annotations

import re

import pytest

from accounts.models import User
from tests.admin_login import totp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "a-long-staff-password-7"


def test_staff_enrol_totp_and_open_the_admin(live_server, page, shot, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    User.objects.create_superuser("ops@carrytheone.example", PASSWORD)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_label("Email").fill("ops@carrytheone.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # allauth confirms the password before an authenticator is added.
    page.wait_for_url(re.compile(r"/reauthenticate/"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(r"/2fa/totp/activate/$"))
    qr = page.get_by_role("img").first
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.locator("#authenticator_secret").input_value()
    shot("admin-totp-activate")
    page.get_by_label("Authenticator code").fill(totp(secret))
    page.get_by_role("button", name="Activate").click()

    page.wait_for_url(re.compile(r"/2fa/recovery-codes/"))
    page.get_by_role("button", name="Continue to the admin").click()
    page.wait_for_url(re.compile(r"/2fa/reauthenticate/"))
    page.locator("input[name=code]").fill(totp(secret, offset=1))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.get_by_text("CarryTheOne operator admin").first.is_visible()
    assert errors == []

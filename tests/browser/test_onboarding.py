"""A new owner signs up, invites a support colleague, who joins and sees what support may see."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import Membership, Role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "a-long-browser-password-9"


def test_signup_invite_and_support_access(live_server, page, shot, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    settings.SITE_URL = live_server.url
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/")
    shot("landing")
    page.get_by_role("button", name="Start your free 30-day trial").click()
    page.get_by_label("Your name").fill("Olive Owner")
    page.get_by_label("Company name").fill("Kiwi Kayaks Ltd")
    page.get_by_label("Work email").fill("olive@kiwikayaks.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    shot("signup")
    page.get_by_role("button", name="Create my account").click()

    page.wait_for_url(re.compile(r"/a/kiwi-kayaks-ltd-[0-9a-f]{6}/$"))
    assert page.get_by_role("heading", name="Kiwi Kayaks Ltd").is_visible()
    assert page.get_by_text("30 days left", exact=True).is_visible()
    shot("dashboard")

    page.get_by_role("link", name="Team").click()
    page.get_by_role("button", name="Invite a colleague").click()
    page.get_by_label("Email address").fill("sam@kiwikayaks.example")
    page.get_by_role("radio", name=re.compile("Support")).check()
    shot("invite")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to sam@kiwikayaks.example").is_visible()
    shot("team")

    link = re.search(r"https?://\S+/invitations/\S+/", str(mail.outbox[-1].body))
    assert link
    support = page.context.browser.new_context().new_page()
    support.goto(link.group(0))
    support.get_by_label("Your name").fill("Sam Support")
    support.get_by_label("Password", exact=True).fill(PASSWORD)
    support.get_by_label("Password (again)").fill(PASSWORD)
    support.get_by_role("button", name="Join").click()
    support.wait_for_url(re.compile(r"/a/kiwi-kayaks-ltd-[0-9a-f]{6}/$"))
    assert support.get_by_text("Welcome to Kiwi Kayaks Ltd").is_visible()
    assert support.get_by_role("link", name="Team").count() == 0

    team_url = support.url + "members/"
    response = support.goto(team_url)
    assert response is not None
    assert response.status == 403
    assert Membership.objects.get(user__email="sam@kiwikayaks.example").role == Role.SUPPORT
    assert errors == []  # e.g. a Content-Security-Policy violation

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from accounts.models import Account, Membership, Role

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_the_printed_login_works(client, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert DEMO_EMAIL in out
    assert DEMO_PASSWORD in out
    assert Account.objects.count() == 1
    assert Membership.objects.get().role == Role.OWNER

    client.post("/login/", {"login": DEMO_EMAIL, "password": DEMO_PASSWORD})
    response = client.get("/", follow=True)
    assert b"Demo Widgets Ltd" in response.content
    assert b"Free trial" in response.content


def test_the_printed_login_address_follows_site_url(capsys, settings):
    settings.SITE_URL = "http://127.0.0.1:8123"
    call_command("seed_demo")
    assert "Demo login ready at http://127.0.0.1:8123/login/" in capsys.readouterr().out

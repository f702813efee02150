"""The login throttle slows guessing without letting anyone lock out a user who has the password.

Policy (README, security section; accounts/login_throttle.py): failures count per IP, per IP
and address, and per address from unknown devices; a browser that signed in before counts only
against itself; many failures from many places make the address need an emailed link on new
browsers only; at most 100 failures an hour per address in any case (ASVS 2.2.1).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.signals import user_login_failed
from django.core import mail
from django.test import Client

from accounts import login_throttle
from accounts.login_throttle import DEVICE_COOKIE, parse_rates
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"


def _login(client: Client, email: str, password: str, ip: str, **headers: str) -> Any:
    return client.post(
        "/login/", {"login": email, "password": password}, REMOTE_ADDR=ip, headers=headers
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's clock, moved by tests: ``clock[0] += 3600``."""
    now = [1_900_000_000.0]
    monkeypatch.setattr(login_throttle, "_now", lambda: now[0])
    return now


@pytest.fixture
def checks() -> Any:
    """How many wrong passwords were actually checked (Django's user_login_failed signal)."""
    seen: list[int] = []

    def count(**kwargs: Any) -> None:
        seen.append(1)

    user_login_failed.connect(count)
    yield seen
    user_login_failed.disconnect(count)


def test_wrong_passwords_from_elsewhere_do_not_lock_out_the_right_password():
    """Five (or ten) wrong passwords for a known address used to keep its owner out."""
    victim = UserFactory.create()
    attacker = Client()
    for _ in range(10):
        _login(attacker, victim.email, WRONG, "203.0.113.66")
    owner = Client()
    _login(owner, victim.email, PASSWORD, "198.51.100.20")
    assert _signed_in(owner)


def test_one_ip_and_address_is_slowed_after_five_failures_and_the_slowdown_expires(clock):
    user = UserFactory.create()
    client = Client()
    for _ in range(5):
        _login(client, user.email, WRONG, "203.0.113.7")
    response = _login(client, user.email, PASSWORD, "203.0.113.7")
    assert not _signed_in(client)
    assert b"Too many failed login attempts" in response.content

    clock[0] += 5 * 60 + 1
    _login(client, user.email, PASSWORD, "203.0.113.7")
    assert _signed_in(client)


def test_one_ip_trying_many_addresses_is_stopped_without_stopping_anyone_else(checks):
    user = UserFactory.create()
    spray = Client()
    for n in range(30):
        _login(spray, f"made-up-{n}@example.com", WRONG, "203.0.113.9")
    assert len(checks) == 20  # 20/10m/ip
    _login(spray, user.email, PASSWORD, "203.0.113.9")
    assert not _signed_in(spray)

    elsewhere = Client()
    _login(elsewhere, user.email, PASSWORD, "198.51.100.30")
    assert _signed_in(elsewhere)


def test_behind_a_trusted_proxy_each_visitor_is_counted_alone(settings):
    """Behind the TLS proxy every request comes from the proxy's address: without
    TRUSTED_PROXY_COUNT, eleven bad logins by anyone blocked everyone."""
    settings.TRUSTED_PROXY_COUNT = 1
    user = UserFactory.create()
    proxy = "10.0.0.2"
    spray = Client()
    for n in range(25):
        _login(spray, f"made-up-{n}@example.com", WRONG, proxy, x_forwarded_for="203.0.113.9")
    owner = Client()
    _login(owner, user.email, PASSWORD, proxy, x_forwarded_for="198.51.100.40")
    assert _signed_in(owner)


def test_a_client_cannot_choose_its_address(settings, checks):
    """Entries the client wrote itself (left of the proxy's) are never believed."""
    settings.TRUSTED_PROXY_COUNT = 1
    spray = Client()
    for n in range(25):
        _login(
            spray,
            f"made-up-{n}@example.com",
            WRONG,
            "10.0.0.2",
            x_forwarded_for=f"192.0.2.{n}, 203.0.113.9",
        )
    assert len(checks) == 20

    settings.TRUSTED_PROXY_COUNT = 0  # no proxy: the header is ignored altogether
    for n in range(25):
        _login(
            spray, f"other-{n}@example.com", WRONG, "203.0.113.10", x_forwarded_for=f"192.0.2.{n}"
        )
    assert len(checks) == 40


def _emailed_unlock_path(to: str) -> str:
    (message,) = [m for m in mail.outbox if m.to == [to]]
    match = re.search(r"https?://[^/\s]+(/login/unlock/\S+/)", str(message.body))
    assert match, message.body
    return match.group(1)


def test_many_places_failing_protect_the_address_but_not_from_its_usual_browser(checks):
    """Failures from many IPs: unknown browsers are refused and the owner is emailed a
    one-time link; the owner's usual browser, and the browser that follows the link, sign in."""
    victim = UserFactory.create()
    usual = Client()
    _login(usual, victim.email, PASSWORD, "198.51.100.50")
    assert _signed_in(usual)
    assert usual.cookies[DEVICE_COOKIE].value
    usual.post("/logout/")

    for n in range(30):
        _login(Client(), victim.email, WRONG, f"203.0.113.{n + 1}")
    assert len(checks) == 20  # 20/1h/account from unknown devices: the rest were not checked
    assert [m.to for m in mail.outbox] == [[victim.email]]  # one notice

    new_browser = Client()
    response = _login(new_browser, victim.email, PASSWORD, "198.51.100.51")
    assert not _signed_in(new_browser)
    assert b"emailed its owner a link" in response.content

    _login(usual, victim.email, PASSWORD, "192.0.2.200")  # from anywhere
    assert _signed_in(usual)

    path = _emailed_unlock_path(victim.email)
    page = new_browser.get(path)
    assert page.status_code == 200  # asks first: mail scanners open links
    assert not new_browser.cookies.get(DEVICE_COOKIE)
    assert new_browser.post(path).status_code == 302
    _login(new_browser, victim.email, PASSWORD, "198.51.100.51")
    assert _signed_in(new_browser)
    # Once only.
    assert Client().post(path).status_code == 410
    assert Client().get(path).status_code == 410


def test_a_made_up_address_is_refused_alike_and_nobody_is_emailed():
    """The refusal does not tell whether the address has an account here."""
    for n in range(21):
        _login(Client(), "nobody@example.com", WRONG, f"203.0.113.{n + 1}")
    response = _login(Client(), "nobody@example.com", PASSWORD, "198.51.100.60")
    assert b"emailed its owner a link" in response.content
    assert mail.outbox == []


def test_known_devices_are_slowed_too(checks):
    """A known device is not a free pass: 10 failures per 15 minutes for that browser."""
    user = UserFactory.create()
    browser = Client()
    _login(browser, user.email, PASSWORD, "198.51.100.70")
    browser.post("/logout/")
    for _ in range(12):
        _login(browser, user.email, WRONG, "198.51.100.70")
    assert len(checks) == 10
    _login(browser, user.email, PASSWORD, "198.51.100.70")
    assert not _signed_in(browser)


def test_at_most_100_failures_an_hour_per_account_whatever_their_origin(clock, checks):
    """ASVS 2.2.1, with the default policy: unknown devices from 200 IPs, plus 15 browsers
    that once signed in (stolen cookies, say), never get more than 100 guesses an hour."""
    user = UserFactory.create()
    browsers = []
    for n in range(15):
        browser = Client()
        _login(browser, user.email, PASSWORD, f"198.51.100.{n + 1}")
        assert _signed_in(browser)
        browser.post("/logout/")
        browsers.append(browser)
    for n in range(200):
        _login(Client(), user.email, WRONG, f"203.0.{n // 200}.{n % 200 + 1}")
    for _window in range(2):  # two 15-minute device windows within the hour
        for n, browser in enumerate(browsers):
            for _ in range(10):
                _login(browser, user.email, WRONG, f"198.51.100.{n + 1}")
        clock[0] += 15 * 60 + 1
    assert len(checks) == 100

    clock[0] += 3600
    _login(browsers[0], user.email, PASSWORD, "198.51.100.1")
    assert _signed_in(browsers[0])


def test_the_rates_are_configurable(settings, checks):
    settings.LOGIN_FAILED_RATE_LIMIT = "3/1h/ip"
    for n in range(5):
        _login(Client(), f"a{n}@example.com", WRONG, "203.0.113.5")
    assert len(checks) == 3


def test_the_old_setting_form_still_works():
    """Deployments may still say ``10/m/ip,5/300s/key``: "key" now means the IP and address."""
    rates = parse_rates("10/m/ip,5/300s/key")
    assert rates["ip"] == login_throttle.Rate(10, 60.0)
    assert rates["ip_account"] == login_throttle.Rate(5, 300.0)


@pytest.mark.parametrize("bad", ["10/m", "ten/m/ip", "5/5x/ip", "5/5m/everyone"])
def test_a_malformed_policy_is_a_configuration_error(bad):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        parse_rates(bad)

"""The login throttle: slows password guessing without letting anyone lock a user out.

A throttle keyed by the account alone lets anyone keep a known user out (five wrong passwords
every five minutes); one keyed by IP alone lets one office's typos, or every visitor behind a
proxy, block everybody. So a failed password counts against several buckets, and which ones
depends on where the attempt comes from (``LOGIN_FAILED_RATE_LIMIT``, each ``amount/window/
scope``):

- **A known device** — a browser that signed in to this address before and holds our signed
  cookie for it (``LOGIN_KNOWN_DEVICE_DAYS``) — counts only against ``device`` (that browser
  and address). Nothing an attacker does elsewhere slows it down: the owner's usual browser
  always gets its password checked.
- **Any other attempt** counts against ``ip`` (the client address, see
  ``carrytheone.client_ip``), ``ip_account`` (that address and this email) and ``account``
  (this email from all unknown devices). When ``account`` is full — many failures from many
  places — the address is *protected*: unknown devices are refused without a password check
  until the window passes, and the address gets an email (at most every
  ``NOTICE_INTERVAL``) with a one-time link that makes the browser opening it a known device.
  No CAPTCHA, no hard lock of the owner.
- **Everything** also counts against ``account_all``: ASVS 2.2.1's cap (100 failures an hour
  per account) holds even for many known devices; unknown devices alone can never reach it.

An attempt takes its slots *before* the password is checked and gives them back when the
password was right (as allauth does): parallel guesses cannot overshoot, and successful logins
sprinkled between guesses do not reset anything. Refused attempts check no password and take
no slot. Counts live in the cache (Redis in production), keyed by an HMAC of the address.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponseBase
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import salted_hmac

from accounts.models import User
from carrytheone.client_ip import client_ip

logger = logging.getLogger(__name__)

SCOPES = ("ip", "ip_account", "account", "device", "account_all")
# The setting used to say "key" for its per-address limit; that limit now applies per IP and
# address, so old values keep working without locking anyone out.
_SCOPE_ALIASES = {"key": "ip_account"}
UNKNOWN_SCOPES = ("ip", "ip_account", "account", "account_all")
KNOWN_SCOPES = ("device", "account_all")
DEVICE_COOKIE = "c1_known_device"
# A browser remembers at most this many addresses (a shared computer).
DEVICE_MAX_ACCOUNTS = 10
# A protected address is emailed a fresh link at most this often.
NOTICE_INTERVAL = 15 * 60
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LoginRefused(Exception):
    """The attempt was refused before any password check; the message is for the person."""

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


TOO_MANY = "Too many failed login attempts. Try again later."
PROTECTED = (
    "This address has had many failed sign-ins from elsewhere, so for now it can only be "
    "signed in to from a browser that signed in to it before. We have emailed its owner a "
    "link that lets this browser sign in."
)


@dataclass(frozen=True)
class Rate:
    amount: int
    seconds: float


def parse_rates(text: str) -> dict[str, Rate]:
    """``"20/10m/ip,5/5m/ip_account"`` → {scope: Rate}; ImproperlyConfigured if malformed."""
    rates: dict[str, Rate] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        pieces = part.split("/")
        if len(pieces) != 3:
            raise ImproperlyConfigured(
                f"LOGIN_FAILED_RATE_LIMIT: {part!r} is not amount/window/scope"
            )
        amount, window, scope = pieces
        scope = _SCOPE_ALIASES.get(scope, scope)
        unit = window[-1:]
        count = window[:-1] or "1"
        if scope not in SCOPES or unit not in _UNITS or not amount.isdigit():
            raise ImproperlyConfigured(
                f"LOGIN_FAILED_RATE_LIMIT: {part!r} (scopes: {', '.join(SCOPES)}; windows like "
                "30s, 5m, 1h)"
            )
        try:
            seconds = float(count) * _UNITS[unit]
        except ValueError as exc:
            raise ImproperlyConfigured(f"LOGIN_FAILED_RATE_LIMIT: {part!r}") from exc
        rates[scope] = Rate(int(amount), seconds)
    return rates


def _rates() -> dict[str, Rate]:
    return parse_rates(settings.LOGIN_FAILED_RATE_LIMIT)


def _now() -> float:
    return time.time()


def email_tag(email: str) -> str:
    """The address as the throttle and the device cookie know it: an HMAC, never in clear."""
    return salted_hmac("accounts.login_throttle", email.strip().lower()).hexdigest()[:32]


# --- Sliding-window buckets in the cache -------------------------------------------------------


@contextmanager
def _locked(key: str) -> Iterator[bool]:
    """A short cache lock around a bucket's read-modify-write (shared by all web processes)."""
    lock = f"{key}:lock"
    deadline = time.monotonic() + 1.0
    while not cache.add(lock, 1, timeout=10):
        if time.monotonic() > deadline:
            yield False
            return
        time.sleep(0.01)
    try:
        yield True
    finally:
        cache.delete(lock)


def _key(scope: str, ident: str) -> str:
    return f"login-throttle:{scope}:{ident}"


def _take(key: str, rate: Rate, now: float) -> bool:
    """Records a hit at ``now`` if the window has room; False (nothing recorded) if full."""
    with _locked(key) as locked:
        if not locked:
            return False  # fail closed under extreme contention
        hits = [t for t in cache.get(key, []) if t > now - rate.seconds]
        if len(hits) >= rate.amount:
            return False
        hits.append(now)
        cache.set(key, hits, timeout=int(rate.seconds) + 1)
        return True


def _give_back(key: str, rate: Rate, at: float) -> None:
    with _locked(key) as locked:
        if locked:  # else the hit stays: stricter, never looser
            hits: list[float] = cache.get(key, [])
            if at in hits:
                hits.remove(at)
                cache.set(key, hits, timeout=int(rate.seconds) + 1)


def _is_full(key: str, rate: Rate, now: float) -> bool:
    return len([t for t in cache.get(key, []) if t > now - rate.seconds]) >= rate.amount


# --- Known devices -------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownDevice:
    device_id: str
    tags: tuple[str, ...] = ()


def _known_device(request: HttpRequest) -> KnownDevice | None:
    value = request.COOKIES.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        data = signing.loads(
            value,
            salt="accounts.known-device",
            max_age=settings.LOGIN_KNOWN_DEVICE_DAYS * 86400,
        )
        return KnownDevice(str(data["d"]), tuple(str(t) for t in data["a"]))
    except (signing.BadSignature, KeyError, TypeError):
        return None


def known_device_remember(*, request: HttpRequest, response: HttpResponseBase, email: str) -> None:
    """Makes this browser a known device for ``email`` (after a sign-in, or an unlock link)."""
    device = _known_device(request) or KnownDevice(secrets.token_urlsafe(16))
    tag = email_tag(email)
    tags = (tag, *(t for t in device.tags if t != tag))[:DEVICE_MAX_ACCOUNTS]
    value = signing.dumps({"d": device.device_id, "a": list(tags)}, salt="accounts.known-device")
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=settings.LOGIN_KNOWN_DEVICE_DAYS * 86400,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


# --- Attempts --------------------------------------------------------------------------------


@dataclass
class LoginAttempt:
    """One password check in progress: the slots it holds until it is known to have failed."""

    email: str
    tag: str
    known: bool
    taken: list[tuple[str, Rate, float]] = field(default_factory=list)


def _idents(request: HttpRequest, tag: str, device: KnownDevice | None) -> dict[str, str]:
    ip = client_ip(request)
    return {
        "ip": ip,
        "ip_account": f"{ip}:{tag}",
        "account": tag,
        "device": f"{device.device_id}:{tag}" if device else "",
        "account_all": tag,
    }


def login_attempt_begin(*, request: HttpRequest, email: str) -> LoginAttempt:
    """Takes the attempt's slots, or raises :class:`LoginRefused` (no password is checked)."""
    rates = _rates()
    tag = email_tag(email)
    device = _known_device(request)
    known = device is not None and tag in device.tags
    idents = _idents(request, tag, device if known else None)
    attempt = LoginAttempt(email=email, tag=tag, known=known)
    now = _now()
    for scope in KNOWN_SCOPES if known else UNKNOWN_SCOPES:
        rate = rates.get(scope)
        if rate is None:
            continue
        key = _key(scope, idents[scope])
        if not _take(key, rate, now):
            _release(attempt)
            logger.warning("login refused: scope=%s account=%s", scope, tag[:12])
            if scope == "account":
                _notify_owner(request=request, email=email, tag=tag)
                raise LoginRefused(PROTECTED, scope=scope)
            raise LoginRefused(TOO_MANY, scope=scope)
        attempt.taken.append((key, rate, now))
    return attempt


def _release(attempt: LoginAttempt) -> None:
    for key, rate, at in attempt.taken:
        _give_back(key, rate, at)
    attempt.taken.clear()


def login_attempt_succeeded(*, attempt: LoginAttempt) -> None:
    """The password was right: the attempt's slots are given back."""
    _release(attempt)


def login_attempt_failed(*, request: HttpRequest, attempt: LoginAttempt) -> None:
    """The password was wrong: the slots stay taken; a newly protected address is told."""
    rate = _rates().get("account")
    if (
        not attempt.known
        and rate is not None
        and _is_full(_key("account", attempt.tag), rate, _now())
    ):
        _notify_owner(request=request, email=attempt.email, tag=attempt.tag)


# --- The lock-out notice and its one-time link ---------------------------------------------


def _unlock_key(token: str) -> str:
    return "login-unlock:" + salted_hmac("accounts.login_unlock", token).hexdigest()


def _notify_owner(*, request: HttpRequest, email: str, tag: str) -> None:
    """Emails the address's owner (if it is one of our users) a one-time unlock link.

    The person trying sees the same refusal whether or not the address has an account here.
    """
    if not cache.add(f"login-throttle:notice:{tag}", 1, timeout=NOTICE_INTERVAL):
        return
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return
    token = secrets.token_urlsafe(32)
    cache.set(_unlock_key(token), user.email, timeout=settings.LOGIN_UNLOCK_LINK_TTL)
    url = settings.SITE_URL + reverse("accounts:login_unlock", kwargs={"token": token})
    context = {
        "user": user,
        "url": url,
        "minutes": settings.LOGIN_UNLOCK_LINK_TTL // 60,
        "ip": client_ip(request),
    }
    body = render_to_string("accounts/email/login_protected.txt", context)
    try:
        send_mail("[CarryTheOne] Failed sign-ins to your account", body, None, [user.email])
    except OSError:
        # The refusal stands either way; the owner can try again after NOTICE_INTERVAL.
        logger.exception("could not send the lock-out notice: user=%s", user.pk)
    else:
        logger.info("lock-out notice sent: user=%s", user.pk)


def unlock_link_email(*, token: str) -> str | None:
    """The address an unused, unexpired unlock link is for, else None. Does not use it."""
    value = cache.get(_unlock_key(token))
    return str(value) if value else None


def unlock_link_use(*, token: str) -> str | None:
    """Uses the link once: its address, or None if it was used, expired or never existed."""
    key = _unlock_key(token)
    email = cache.get(key)
    # delete() answers True for one caller only: two clicks at once do not both pass.
    if not email or not cache.delete(key):
        return None
    return str(email)

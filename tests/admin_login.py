"""Signing staff in to the operator admin as a person does: password, then a TOTP code.

The admin refuses sessions that skipped the second factor (``force_login`` included), so tests
of admin pages sign in through the real pages. Codes are computed from the secret, as an
authenticator app does (RFC 6238).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client
from django.urls import reverse

from accounts.models import User

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp(secret: str, *, offset: int = 0) -> str:
    """The 6-digit code for now (+ ``offset`` 30-second steps)."""
    key = base64.b32decode(secret, casefold=True)
    counter = int(time.time() // 30) + offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[start : start + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def admin_client(user: User, password: str) -> Client:
    """A client signed in as ``user`` (staff) with password and code: the admin opens."""
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, SECRET)
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": password})
    client.post(reverse("mfa_authenticate"), {"code": totp(SECRET)})
    assert "_auth_user_id" in client.session, "the admin sign-in did not complete"
    return client

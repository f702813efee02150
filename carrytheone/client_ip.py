"""The client's IP address: the one rule for everything that throttles or records by IP.

Behind a TLS proxy every request comes from the proxy's address; the client's is the entry
the proxy appended to ``X-Forwarded-For``. Which entry that is depends on how many proxies of
ours are in front (``TRUSTED_PROXY_COUNT``): the N-th from the right. Entries further left were
written by the client and are never trusted — otherwise anyone could pick a fresh address for
every request and walk past the login throttle. With no trusted proxy (the default), the
header is ignored and ``REMOTE_ADDR`` is the client.

The login throttle (``accounts.login_throttle``) and allauth's own rate limits (signup,
password reset, email confirmation, two-factor codes, through ``accounts.adapter``) all call
:func:`client_ip`.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# IPv6 clients get a /64 each from their provider: one address per /64, or a single client
# could rotate through 2**64 addresses.
IPV6_PREFIX = 64


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:443"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address (an IPv6 one as its /64 network), as the trusted proxies saw it."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    candidate = remote
    count: int = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        hops = [hop for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        # Fewer entries than proxies: the request did not come through all of ours (or came
        # straight to the app server), so the connection's own address is the client.
        if len(hops) >= count:
            candidate = hops[-count]
    address = _parse(candidate) or _parse(remote)
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_PREFIX}", strict=False).network_address)
    return str(address)

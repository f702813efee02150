"""simple-salesforce always builds ``https://host:port`` URLs from ``instance_url``; the test
server speaks plain HTTP. This session keeps http for that one loopback host."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter


class _PlainHttpAdapter(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert request.url is not None
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, *args, **kwargs)


def loopback_session(base_url: str) -> requests.Session:
    parts = urlsplit(base_url)
    assert parts.hostname in {"localhost", "127.0.0.1", "::1"}, "loopback only"
    session = requests.Session()
    session.trust_env = False
    session.mount(f"https://{parts.netloc}", _PlainHttpAdapter())
    return session

"""The state of an OAuth authorisation in flight, kept in the user's session.

``begin`` stores a random ``state`` with the PKCE verifier and where the flow belongs (which
account, which integration); the callback ``take``s it exactly once. A callback whose state is
missing, unknown, expired or for another provider is refused before any token is requested.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.http import HttpRequest

SESSION_KEY = "oauth_flows"
FLOW_TTL_SECONDS = 15 * 60
MAX_FLOWS = 5


class ConnectError(Exception):
    """A failed step of a connect flow; ``title`` and ``message`` are shown to the person."""

    def __init__(self, title: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Flow:
    provider: str
    state: str
    code_verifier: str
    account_slug: str
    integration_id: int
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def begin(
    request: HttpRequest,
    *,
    provider: str,
    account_slug: str,
    integration_id: int,
    extra: dict[str, Any] | None = None,
) -> Flow:
    flow = Flow(
        provider=provider,
        state=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        account_slug=account_slug,
        integration_id=integration_id,
        started_at=time.time(),
        extra=extra or {},
    )
    flows: dict[str, dict[str, Any]] = dict(request.session.get(SESSION_KEY, {}))
    # Keep a few concurrent flows (two tabs), drop the oldest beyond that.
    for old_state in sorted(flows, key=lambda s: flows[s]["started_at"])[: -MAX_FLOWS + 1]:
        flows.pop(old_state)
    flows[flow.state] = asdict(flow)
    request.session[SESSION_KEY] = flows
    return flow


def take(request: HttpRequest, *, provider: str, state: str | None) -> Flow | None:
    """The flow this callback belongs to, removed from the session; None if not valid."""
    if not state:
        return None
    flows: dict[str, dict[str, Any]] = dict(request.session.get(SESSION_KEY, {}))
    data = flows.pop(state, None)
    request.session[SESSION_KEY] = flows
    if data is None:
        return None
    flow = Flow(**data)
    if flow.provider != provider or time.time() - flow.started_at > FLOW_TTL_SECONDS:
        return None
    return flow

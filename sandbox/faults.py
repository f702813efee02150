"""Fault injection shared by the simulators: latency, 5xx, forced 429s, timeouts, expiry.

Each simulated organisation stores a ``faults`` JSON object; :class:`Faults` parses it. The
decision for one request is deterministic given the organisation's request counter, so a test
that sets ``error_every=3`` knows exactly which calls fail.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Action = Literal["ok", "error", "rate_limit", "timeout", "lost"]


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    """Added to every answer."""
    error_every: int = 0
    """Every Nth request (by the organisation's counter) answers ``error_status``; 0 = never."""
    error_status: int = 503
    force_429: int = 0
    """The next N requests answer 429 (the simulator decrements it as they are served)."""
    timeout_every: int = 0
    """Every Nth request hangs ``timeout_seconds`` before answering 504; 0 = never."""
    timeout_seconds: float = 35.0
    expire_tokens: bool = False
    """Every access token is treated as expired (401) until this is switched off."""
    lose_answer_every: int = 0
    """Every Nth request is processed and saved, then answered 504 as if the answer was lost
    on the way back (a proxy timing out); 0 = never. The other faults never process."""

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Faults:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != getattr(Faults(), k)}

    def decide(self, request_number: int) -> Action:
        """What to do with the organisation's ``request_number``-th request (1-based)."""
        if self.force_429 > 0:
            return "rate_limit"
        if self.timeout_every and request_number % self.timeout_every == 0:
            return "timeout"
        if self.error_every and request_number % self.error_every == 0:
            return "error"
        if self.lose_answer_every and request_number % self.lose_answer_every == 0:
            return "lost"
        return "ok"

    def delay(self) -> None:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

"""Which incidents are open, from an integration's facts: pure, no I/O, no Django.

The service (``alerts.services``) gathers the facts with a few bounded queries, asks
:func:`open_findings`, and opens, updates and resolves incidents to match. Each kind is decided
here and only here, so the panel, the emails and the tests agree on what "an incident" is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

REAUTH: Final = "reauth"
CONFIG_PROBLEM: Final = "config_problem"
FAILURES: Final = "failures"
STALLED: Final = "stalled"
SYNC_FAILING: Final = "sync_failing"

# How often a healthy integration completes a run may vary (a slow run, a rate-limit wait), so
# "longer than expected" is several intervals, never fewer minutes than the account chose.
STALLED_INTERVALS: Final = 3


@dataclass(frozen=True)
class ConnectionFact:
    key: str  # "xero" or "salesforce"
    name: str  # "Xero"
    active: bool
    error: str = ""


@dataclass(frozen=True)
class Facts:
    """What is stored about one integration at ``now``."""

    now: dt.datetime
    name: str
    enabled: bool
    connections: tuple[ConnectionFact, ...]
    config_problems: tuple[str, ...] = ()
    """Each stored configuration problem as one readable line."""
    config_held: str = ""
    """What the problems hold back, e.g. "invoices, credit notes" ("" when nothing)."""
    config_paused: str = ""
    """The message of a configuration pause in force ("" when none)."""
    held: bool = False
    """Another pause in force (billing, a person, a rate limit's wait): no run is expected."""
    failing_since: dt.datetime | None = None
    last_failure: str = ""
    last_success_at: dt.datetime | None = None
    open_failures: int = 0
    waiting: int = 0
    """Won deals known to wait for Xero (ledger rows not yet sent, pushed notifications)."""
    push_healthy: bool = False
    expected_interval: float = 60.0
    """Seconds between runs when all is well (the poll interval, longer while push works)."""


@dataclass(frozen=True)
class Thresholds:
    failing_after: float
    """Seconds every run must have failed before it is an incident."""
    failure_threshold: int
    stalled_after: float
    """Seconds without a completed run the account tolerates."""


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    summary: str
    detail: str
    fix: str
    """Where the fix is: "reconnect:<key>", "settings", "log" or "detail"."""
    affected: int = 0


def stalled_after(facts: Facts, thresholds: Thresholds) -> float:
    """Seconds without a completed run after which the integration counts as stalled."""
    return max(thresholds.stalled_after, STALLED_INTERVALS * facts.expected_interval)


def failures_open(*, count: int, threshold: int, is_open: bool) -> bool:
    """Open at the threshold; once open, clear only when at most half of it is left, so a
    count hovering around the threshold is one incident, not one per record fixed and failed."""
    if threshold <= 0:
        return False
    if is_open:
        return count > threshold // 2
    return count >= threshold


def open_findings(
    facts: Facts, thresholds: Thresholds, *, open_now: frozenset[tuple[str, str]] = frozenset()
) -> list[Finding]:
    """The incidents that are open for these facts; ``open_now`` the (kind, key) open before."""
    if not facts.enabled:
        # Switched off by a person: nothing is expected of it, so nothing is an incident.
        return []
    found: list[Finding] = []
    blocked = [c for c in facts.connections if not c.active]
    for connection in blocked:
        found.append(
            Finding(
                REAUTH,
                connection.key,
                f"Reconnect {connection.name} for {facts.name}",
                f"{connection.name} no longer accepts the connection of {facts.name}"
                + (f": {connection.error}" if connection.error else ".")
                + "\n\nSyncing waits until it is reconnected; nothing is lost.",
                f"reconnect:{connection.key}",
            )
        )
    if facts.config_problems or facts.config_paused:
        lines = [f"- {p}" for p in facts.config_problems]
        if facts.config_paused:
            lines.append(f"- {facts.config_paused}")
        consequence = (
            f"Until they are fixed, CarryTheOne holds back: {facts.config_held}."
            if facts.config_held
            else "Syncing is paused until they are fixed."
            if facts.config_paused
            else "Syncing carries on meanwhile."
        )
        found.append(
            Finding(
                CONFIG_PROBLEM,
                "",
                f"Check the settings of {facts.name}",
                f"The settings of {facts.name} no longer match what Xero and Salesforce "
                "hold:\n\n" + "\n".join(lines) + f"\n\n{consequence}",
                "settings",
                len(facts.config_problems),
            )
        )
    if failures_open(
        count=facts.open_failures,
        threshold=thresholds.failure_threshold,
        is_open=(FAILURES, "") in open_now,
    ):
        found.append(
            Finding(
                FAILURES,
                "",
                f"{facts.open_failures} records of {facts.name} need a person",
                f"{facts.open_failures} opportunities of {facts.name} could not be sent to Xero "
                "and wait for someone to fix their cause or dismiss them. Identical causes "
                "are grouped on the log, with one fix each.",
                "log",
                facts.open_failures,
            )
        )
    if blocked:
        # Reconnecting is the fix; failing runs and the silence it causes are not news.
        return found
    if facts.failing_since is not None:
        failing_for = (facts.now - facts.failing_since).total_seconds()
        if failing_for >= thresholds.failing_after:
            found.append(
                Finding(
                    SYNC_FAILING,
                    "",
                    f"Syncing is failing for {facts.name}",
                    f"Every sync of {facts.name} since {_when(facts.failing_since)} has "
                    f"failed:\n\n{facts.last_failure}\n\n{_last(facts)} Won opportunities are "
                    "not lost: they are invoiced once syncing works again. CarryTheOne keeps "
                    "retrying.",
                    "log",
                )
            )
        return found
    if facts.held or facts.config_paused or facts.last_success_at is None:
        # A pause says why nothing runs (its own page tells it); an integration that never
        # completed a run is still being set up.
        return found
    silent_for = (facts.now - facts.last_success_at).total_seconds()
    # While push works, deals that wait are known; otherwise a poll that does not run is
    # exactly what would have found them, so waiting deals are assumed.
    waiting = facts.waiting > 0 or not facts.push_healthy
    if silent_for > stalled_after(facts, thresholds) and waiting:
        known = (
            f" {facts.waiting} won deal{'s' if facts.waiting != 1 else ''} wait for Xero."
            if facts.waiting
            else ""
        )
        found.append(
            Finding(
                STALLED,
                "",
                f"Nothing has synced for {facts.name} since {_when(facts.last_success_at)}",
                f"No sync of {facts.name} has completed since {_when(facts.last_success_at)}, "
                f"though syncing is on.{known} The background workers may be stopped: "
                "contact support if it lasts.",
                "detail",
                facts.waiting,
            )
        )
    return found


def _last(facts: Facts) -> str:
    if facts.last_success_at is None:
        return "No sync has completed yet."
    return f"The last successful sync was {_when(facts.last_success_at)}."


def _when(value: dt.datetime) -> str:
    return f"{value:%d %b %Y %H:%M} UTC"

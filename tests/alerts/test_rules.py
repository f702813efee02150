"""What counts as an open incident, decided from facts alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from alerts import rules

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
OK = (
    rules.ConnectionFact("xero", "Xero", active=True),
    rules.ConnectionFact("salesforce", "Salesforce", active=True),
)
THRESHOLDS = rules.Thresholds(failing_after=600, failure_threshold=10, stalled_after=3600)


def _facts(**changes: object) -> rules.Facts:
    base = rules.Facts(
        now=NOW,
        name="Main",
        enabled=True,
        connections=OK,
        last_success_at=NOW - dt.timedelta(minutes=1),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _kinds(facts: rules.Facts, **kwargs: object) -> list[tuple[str, str]]:
    return [(f.kind, f.key) for f in rules.open_findings(facts, THRESHOLDS, **kwargs)]  # type: ignore[arg-type]


def test_a_healthy_integration_has_no_incident():
    assert _kinds(_facts()) == []


def test_a_switched_off_integration_has_none_whatever_is_wrong():
    blocked = (rules.ConnectionFact("xero", "Xero", active=False),)
    assert _kinds(_facts(enabled=False, connections=blocked, open_failures=99)) == []


def test_each_blocked_connection_is_its_own_incident_and_hides_its_consequences():
    blocked = (
        rules.ConnectionFact("xero", "Xero", active=False, error="revoked"),
        rules.ConnectionFact("salesforce", "Salesforce", active=False),
    )
    facts = _facts(
        connections=blocked,
        failing_since=NOW - dt.timedelta(hours=1),
        last_success_at=NOW - dt.timedelta(days=1),
    )
    assert _kinds(facts) == [("reauth", "xero"), ("reauth", "salesforce")]


@pytest.mark.parametrize(
    ("count", "is_open", "expected"),
    [(9, False, False), (10, False, True), (6, True, True), (5, True, False), (0, True, False)],
)
def test_failures_open_at_the_threshold_and_clear_at_half(count, is_open, expected):
    assert rules.failures_open(count=count, threshold=10, is_open=is_open) is expected


def test_sync_failing_only_after_the_threshold():
    assert _kinds(_facts(failing_since=NOW - dt.timedelta(seconds=599))) == []
    assert _kinds(_facts(failing_since=NOW - dt.timedelta(seconds=600))) == [("sync_failing", "")]


def test_stalled_is_never_sooner_than_three_of_its_own_intervals():
    quiet = _facts(last_success_at=NOW - dt.timedelta(minutes=61))
    assert _kinds(quiet) == [("stalled", "")]
    assert _kinds(dataclasses.replace(quiet, expected_interval=1800)) == []


def test_stalled_under_healthy_push_needs_known_waiting_deals():
    quiet = _facts(last_success_at=NOW - dt.timedelta(hours=2), push_healthy=True)
    assert _kinds(quiet) == []
    assert _kinds(dataclasses.replace(quiet, waiting=3)) == [("stalled", "")]


def test_a_pause_or_a_first_run_is_not_stalled():
    quiet = _facts(last_success_at=NOW - dt.timedelta(hours=2))
    assert _kinds(dataclasses.replace(quiet, held=True)) == []
    assert _kinds(dataclasses.replace(quiet, last_success_at=None)) == []
    assert _kinds(dataclasses.replace(quiet, config_paused="GBP is off")) == [
        ("config_problem", "")
    ]

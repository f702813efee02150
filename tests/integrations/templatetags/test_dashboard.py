"""The dashboard's filters: waits in the two largest units that matter; "just now" under a
minute."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.templatetags.dashboard import ago, duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59.6, "1 min"),
        (61, "1 min 1 s"),
        (3600, "1 h"),
        (3 * 3600 + 5 * 60 + 9, "3 h 5 min"),
        (86_400, "1 day"),
        (2 * 86_400 + 3 * 3600 + 59, "2 days 3 h"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(dt.timedelta(seconds=seconds)) == text


def test_no_duration_is_empty() -> None:
    assert duration(None) == ""


def test_ago() -> None:
    now = timezone.now()
    assert ago(None) == "never"
    assert ago(now - dt.timedelta(seconds=30)) == "just now"
    assert ago(now - dt.timedelta(minutes=5, seconds=1)) == "5\xa0minutes ago"

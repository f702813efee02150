"""The push batch window: as short as configured while the Xero organisation has calls to
spare, wider as its minute or day runs low, and no push at all once only the reserve is left."""

from __future__ import annotations

import pytest

from integrations.connections.ratelimit import XeroLimits
from integrations.sync.push import MAX_WINDOW, batch_window

XERO = XeroLimits(per_minute=60, per_day=5000, day_reserve=500)


def window(minute: int, day: int, base: float = 1.0) -> float | None:
    return batch_window(base=base, minute_remaining=minute, day_remaining=day, limits=XERO)


def widths(*pairs: tuple[int, int]) -> list[float]:
    found = [window(minute, day) for minute, day in pairs]
    assert all(w is not None for w in found)
    return [w for w in found if w is not None]


def test_a_fresh_organisation_gets_the_configured_window():
    assert window(60, 5000) == 1.0
    assert window(30, 2750) == 1.0
    assert window(60, 5000, base=2.5) == 2.5


def test_the_window_widens_as_the_minute_runs_low():
    found = widths(*((m, 5000) for m in (30, 20, 10, 1, 0)))
    assert found == sorted(found)
    assert found[1] == pytest.approx(20.0)
    assert found[-1] == MAX_WINDOW


def test_the_window_widens_as_the_day_runs_low():
    found = widths(*((60, d) for d in (2750, 2000, 1000, 501)))
    assert found == sorted(found)
    assert found[0] == 1.0
    assert 1.0 < found[1] < found[2] < MAX_WINDOW
    assert found[-1] == pytest.approx(MAX_WINDOW, abs=0.1)


def test_push_waits_for_the_poll_once_only_the_days_reserve_is_left():
    assert window(60, 500) is None
    assert window(60, 0) is None
    assert window(60, -3) is None


def test_the_window_never_exceeds_a_poll_nor_falls_below_the_base():
    for minute in range(0, 61, 5):
        for day in range(501, 5001, 250):
            width = window(minute, day, base=1.0)
            assert width is not None
            assert 1.0 <= width <= MAX_WINDOW
    assert window(0, 600, base=90.0) == MAX_WINDOW

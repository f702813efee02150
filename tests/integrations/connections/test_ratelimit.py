"""The per-organisation rate limiter: the same rules in both backends, shared by every worker.

Each rule runs against the local backend (files under a folder, ``flock``) and, marked ``redis``,
against Redis. Windows are shrunk to fractions of a second so nothing waits long.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations.connections import ratelimit
from integrations.connections.checks import rate_limiter_shared
from integrations.connections.ratelimit import (
    Backend,
    Lease,
    LimiterUnavailable,
    LocalBackend,
    Priority,
    RedisBackend,
    Refusal,
    SlotUnavailable,
    XeroLimiter,
    XeroLimits,
)

ROOT = Path(__file__).resolve().parents[3]
Factory = Callable[[], Backend]


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    ratelimit.reset_for_tests()
    yield
    ratelimit.reset_for_tests()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Makes backend instances sharing one state, as separate workers would (own connections)."""
    made: list[Backend] = []

    def make() -> Backend:
        backend: Backend = (
            LocalBackend(tmp_path / "limits")
            if request.param == "local"
            else RedisBackend(django_settings.REDIS_URL)
        )
        made.append(backend)
        return backend

    yield make
    if made:
        made[0].reset()


def fast(**overrides: Any) -> XeroLimits:
    """Generous limits with short windows; each test tightens the one it is about."""
    base = XeroLimits(
        per_minute=1000,
        concurrent=100,
        per_day=100_000,
        day_reserve=0,
        max_wait=0.0,
        lease_seconds=30.0,
        minute_window=0.5,
        day_window=3600.0,
        day_bucket=1.0,
    )
    return replace(base, **overrides)


def tenant() -> str:
    return str(uuid.uuid4())


def take(backend: Backend, tenant_id: str, limits: XeroLimits, floor: int = 0) -> Lease | Refusal:
    return backend.try_acquire(tenant_id, uuid.uuid4().hex, floor=floor, limits=limits)


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- the rules, in both backends -------------------------------------------------------------


def test_the_minute_limit_refuses_until_the_oldest_call_leaves_the_window(make_backend):
    backend, limits, t = make_backend(), fast(per_minute=3), tenant()
    assert all(isinstance(take(backend, t, limits), Lease) for _ in range(3))
    refused = take(backend, t, limits)
    assert isinstance(refused, Refusal)
    assert refused.reason == "minute"
    assert 0 < refused.wait <= 0.5
    time.sleep(refused.wait + 0.02)
    assert isinstance(take(backend, t, limits), Lease)


def test_the_concurrency_limit_counts_leases_until_they_are_given_back(make_backend):
    backend, limits, t = make_backend(), fast(concurrent=2), tenant()
    first, second = take(backend, t, limits), take(backend, t, limits)
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    refused = take(backend, t, limits)
    assert isinstance(refused, Refusal)
    assert refused.reason == "concurrent"
    assert refused.wait <= ratelimit.CONCURRENT_POLL
    # Another organisation has its own slots.
    assert isinstance(take(backend, tenant(), limits), Lease)
    backend.release(first)
    assert isinstance(take(backend, t, limits), Lease)


def test_the_lease_of_a_killed_worker_expires_by_itself(make_backend):
    limits, t = fast(concurrent=1, lease_seconds=0.3), tenant()
    dead_worker = make_backend()
    assert isinstance(take(dead_worker, t, limits), Lease)  # never given back
    other = make_backend()
    refused = take(other, t, limits)
    assert isinstance(refused, Refusal)
    assert refused.reason == "concurrent"
    time.sleep(0.35)
    assert isinstance(take(other, t, limits), Lease)


def test_a_429_blocks_every_worker_of_that_organisation_but_not_another(make_backend):
    limits, t = fast(), tenant()
    got_429, other_worker = make_backend(), make_backend()
    got_429.block(t, seconds=0.4, problem="minute")
    got_429.block(t, seconds=0.1, problem="concurrent")  # a shorter block never shortens it
    refused = take(other_worker, t, limits)
    assert isinstance(refused, Refusal)
    assert (refused.reason, refused.detail) == ("blocked", "minute")
    assert 0.2 < refused.wait <= 0.4
    assert isinstance(take(other_worker, tenant(), limits), Lease)
    time.sleep(refused.wait + 0.02)
    assert isinstance(take(other_worker, t, limits), Lease)


def test_the_day_reserve_refuses_updates_but_admits_new_invoices(make_backend):
    limiter = XeroLimiter(make_backend(), fast(per_day=5, day_reserve=2))
    t = tenant()
    for _ in range(3):
        limiter.release(limiter.acquire(t, priority=Priority.UPDATE))
    # Two calls left, both kept for new invoices.
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(t, priority=Priority.UPDATE)
    assert refused.value.problem == "day-reserve"
    assert "kept for new invoices" in refused.value.message
    assert refused.value.retry_after > 3000  # the first call leaves the 1-hour window
    limiter.release(limiter.acquire(t, priority=Priority.NEW))
    limiter.release(limiter.acquire(t))  # NEW is the default
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(t, priority=Priority.NEW)
    assert refused.value.problem == "day"


def test_xeros_remaining_figures_win_when_lower_than_ours(make_backend):
    backend, t = make_backend(), tenant()
    limiter = XeroLimiter(backend, fast(day_reserve=1))
    limiter.report(t, minute_remaining=None, day_remaining=2)
    limiter.release(limiter.acquire(t, priority=Priority.UPDATE))  # 2 left: above the reserve
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(t, priority=Priority.UPDATE)
    assert refused.value.problem == "day-reserve"
    assert refused.value.retry_after > 800  # until Xero's figure goes stale (15 minutes)
    limiter.release(limiter.acquire(t, priority=Priority.NEW))
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(t, priority=Priority.NEW)
    assert refused.value.problem == "day"
    # A later answer at or above our own count replaces the stale low figure.
    limiter.report(t, minute_remaining=None, day_remaining=10**9)
    limiter.release(limiter.acquire(t, priority=Priority.UPDATE))

    limiter.report(t, minute_remaining=1, day_remaining=None)
    limiter.release(limiter.acquire(t))
    with pytest.raises(SlotUnavailable) as refused:
        limiter.acquire(t)
    assert refused.value.problem == "minute"
    # Figures above our own view are not kept: ours is the stricter one.
    other = tenant()
    limiter.report(other, minute_remaining=10**6, day_remaining=10**9)
    tight = XeroLimiter(backend, fast(per_minute=1))
    tight.release(tight.acquire(other))
    with pytest.raises(SlotUnavailable):
        tight.acquire(other)


def test_salesforce_pauses_an_org_within_the_headroom_and_resumes_after_the_figure_expires(
    make_backend,
):
    backend, org = make_backend(), "00D" + uuid.uuid4().hex[:12]
    assert backend.salesforce_check(org, headroom=0.2) is None  # nothing known: go ahead
    backend.salesforce_record(org, used=78, allowed=100, ttl=0.4)
    assert backend.salesforce_check(org, headroom=0.2) is None  # 78 → 79
    assert backend.salesforce_check(org, headroom=0.2) is None  # 79 → 80, counted
    pause = backend.salesforce_check(org, headroom=0.2)
    assert pause is not None
    assert (pause.used, pause.allowed) == (80, 100)
    assert 0 < pause.retry_after <= 0.4
    assert pause.message == (
        "Salesforce API usage for this org is at 80 of 100 requests in the last 24 hours; "
        "CarryTheOne pauses to leave 20% for your other apps and resumes automatically."
    )
    assert backend.salesforce_check("00D-another-org", headroom=0.2) is None
    time.sleep(pause.retry_after + 0.02)
    assert backend.salesforce_check(org, headroom=0.2) is None


# --- many workers at once ------------------------------------------------------------------


def _assert_within_limits(
    admitted: list[float], busy: list[tuple[float, float]], limits: XeroLimits
) -> int:
    """Checks both limits held; returns the most calls seen running at once."""
    admitted = sorted(admitted)
    k = limits.per_minute
    for i in range(len(admitted) - k):
        # No window holds more than per_minute admissions (times on the backend's clock).
        assert admitted[i + k] - admitted[i] >= limits.minute_window - 1e-9, (i, admitted)
    # Each busy interval lies inside its lease: their overlap never exceeds the leases'.
    events = sorted([(start, 1) for start, _ in busy] + [(end, -1) for _, end in busy])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= limits.concurrent
    return peak


def test_threads_with_their_own_connections_never_exceed_the_limits_together(make_backend):
    limits = fast(per_minute=12, concurrent=3, max_wait=10.0)
    t = tenant()
    admitted: list[float] = []
    busy: list[tuple[float, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 1.5

    failures: list[BaseException] = []

    def worker() -> None:
        try:
            limiter = XeroLimiter(make_backend(), limits)
            while time.monotonic() < deadline:
                lease = limiter.acquire(t)
                started = time.time()
                time.sleep(0.04)
                ended = time.time()
                limiter.release(lease)
                with lock:
                    admitted.append(lease.admitted_at)
                    busy.append((started, ended))
        except BaseException as exc:  # a dead worker must fail the test, not thin the data
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Both limits were reached, so both were tested: the workers wanted more.
    assert _assert_within_limits(admitted, busy, limits) == limits.concurrent
    assert len(admitted) >= 24  # about 12 per half second: the windows slid


_CHILD = """
import json, sys, time
from pathlib import Path
from integrations.connections.ratelimit import LocalBackend, RedisBackend, XeroLimiter, XeroLimits
kind, where, tenant, start, until, limits = sys.argv[1:7]
backend = RedisBackend(where) if kind == "redis" else LocalBackend(Path(where))
limiter = XeroLimiter(backend, XeroLimits(**json.loads(limits)))
time.sleep(max(float(start) - time.time(), 0))
out = []
while time.time() < float(until):
    lease = limiter.acquire(tenant)
    started = time.time()
    time.sleep(0.03)
    ended = time.time()
    limiter.release(lease)
    out.append([lease.admitted_at, started, ended])
print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", ["local", pytest.param("redis", marks=pytest.mark.redis)])
def test_worker_processes_never_exceed_the_limits_together(kind, tmp_path):
    limits = fast(per_minute=10, concurrent=3, max_wait=10.0)
    where = str(tmp_path / "limits") if kind == "local" else django_settings.REDIS_URL
    start = time.time() + 1.0  # every process starts together, after its imports
    argv = [
        kind,
        where,
        tenant(),
        str(start),
        str(start + 1.5),
        json.dumps(
            {k: getattr(limits, k) for k in ("per_minute", "concurrent", "max_wait")}
            | {"minute_window": limits.minute_window, "lease_seconds": limits.lease_seconds}
        ),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    rows: list[list[float]] = []
    for child in children:
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        rows.extend(json.loads(out))
    peak = _assert_within_limits([r[0] for r in rows], [(r[1], r[2]) for r in rows], limits)
    assert peak == limits.concurrent
    assert len(rows) >= 20  # about 10 per half second: the windows slid


# --- waiting, and the local backend's clock ------------------------------------------------


def test_acquire_sleeps_for_a_slot_within_max_wait_and_gives_up_beyond_it(tmp_path):
    clock = FakeClock()
    backend = LocalBackend(tmp_path, clock=clock)
    limits = fast(per_minute=1, minute_window=60.0, max_wait=90.0)
    limiter = XeroLimiter(backend, limits, sleep=clock.sleep, monotonic=clock)
    t = tenant()
    limiter.release(limiter.acquire(t))
    clock.now += 10
    limiter.release(limiter.acquire(t))  # waits the 50 s left of the window
    assert len(clock.slept) == 1
    assert 50 <= clock.slept[0] <= 50.06

    clock.slept.clear()
    impatient = XeroLimiter(backend, replace(limits, max_wait=30.0), sleep=clock.sleep)
    with pytest.raises(SlotUnavailable) as refused:
        impatient.acquire(t)
    assert clock.slept == []  # no point sleeping when the wait is longer than allowed
    assert refused.value.problem == "minute"
    assert refused.value.retry_after == 60
    assert refused.value.message == (
        "The Xero organisation's 1 calls a minute are used up; retry in 60 s."
    )


def test_the_day_window_slides_by_buckets(tmp_path):
    clock = FakeClock()
    clock.now = 1000.0
    backend = LocalBackend(tmp_path, clock=clock)
    limits = fast(per_day=3, day_window=100.0, day_bucket=10.0)
    t = tenant()
    assert isinstance(take(backend, t, limits), Lease)  # bucket 100: counts until 1110
    clock.now = 1015.0
    assert isinstance(take(backend, t, limits), Lease)  # bucket 101: until 1120
    assert isinstance(take(backend, t, limits), Lease)
    clock.now = 1050.0
    refused = take(backend, t, limits)
    assert isinstance(refused, Refusal)
    assert (refused.reason, refused.wait) == ("day", 60.0)
    clock.now = 1110.0
    assert isinstance(take(backend, t, limits), Lease)
    refused = take(backend, t, limits)
    assert isinstance(refused, Refusal)
    assert refused.wait == 10.0  # bucket 101 held two calls; the first to leave frees one


def test_the_day_reserve_waits_for_enough_calls_to_leave(tmp_path):
    clock = FakeClock()
    clock.now = 0.0
    backend = LocalBackend(tmp_path, clock=clock)
    limits = fast(per_day=4, day_reserve=2, day_window=100.0, day_bucket=10.0)
    t = tenant()
    for now in (0.0, 10.0, 20.0):
        clock.now = now
        assert isinstance(take(backend, t, limits), Lease)
    refused = take(backend, t, limits, floor=limits.floor(Priority.UPDATE))
    assert isinstance(refused, Refusal)
    # One left, two reserved: two calls must leave; the second (bucket 10-20 s) leaves at 120.
    assert (refused.reason, refused.wait) == ("day-reserve", 100.0)


def test_a_torn_state_file_starts_afresh(tmp_path):
    backend = LocalBackend(tmp_path)
    t = tenant()
    assert isinstance(take(backend, t, fast()), Lease)
    (state,) = tmp_path.glob("xero-*.json")
    state.write_text('{"minute": [1, 2')  # a process killed mid-write
    assert isinstance(take(backend, t, fast()), Lease)
    assert json.loads(state.read_text())["minute"]


# --- configuration -------------------------------------------------------------------------


def test_an_unreachable_redis_is_a_failure_not_a_refusal():
    limiter = XeroLimiter(RedisBackend("redis://127.0.0.1:1/0"), fast())
    with pytest.raises(LimiterUnavailable):
        limiter.acquire(tenant())
    with pytest.raises(LimiterUnavailable):
        limiter.backend.salesforce_check("00D", headroom=0.2)
    # Giving back and reporting are best effort: the lease expires by itself.
    limiter.release(Lease(tenant(), "token", 0.0))
    limiter.report(tenant(), minute_remaining=1, day_remaining=1)
    limiter.block(tenant(), retry_after=1, problem="minute")


def test_the_backend_follows_redis_url(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    backend = ratelimit.get_backend()
    assert isinstance(backend, LocalBackend)
    assert backend.directory == tmp_path / "ratelimit"
    assert ratelimit.get_backend() is backend
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert isinstance(ratelimit.get_backend(), RedisBackend)


def test_limits_come_from_settings(settings):
    settings.XERO_LIMIT_PER_MINUTE = 30
    settings.XERO_LIMIT_CONCURRENT = 2
    settings.XERO_LIMIT_PER_DAY = 1000
    settings.XERO_DAY_RESERVE = 100
    settings.XERO_LIMIT_MAX_WAIT = 12.5
    settings.EXTERNAL_HTTP_TIMEOUT = 20.0
    limits = ratelimit.xero_limiter().limits
    assert (limits.per_minute, limits.concurrent, limits.per_day) == (30, 2, 1000)
    assert (limits.day_reserve, limits.max_wait) == (100, 12.5)
    assert limits.lease_seconds == 10 + 20 + 30  # connect + read timeouts, and a margin
    assert ratelimit.xero_limiter(max_wait=1.0).limits.max_wait == 1.0
    assert limits.floor(Priority.NEW) == 0
    assert limits.floor(Priority.UPDATE) == 100


def test_salesforce_check_uses_the_configured_headroom(settings):
    settings.SALESFORCE_API_HEADROOM = 0.5
    ratelimit.salesforce_record_usage("00Dconfigured", used=50, allowed=100, ttl=60)
    pause = ratelimit.salesforce_check("00Dconfigured")
    assert pause is not None
    assert "leave 50% for your other apps" in pause.message
    settings.SALESFORCE_API_HEADROOM = 0.4
    assert ratelimit.salesforce_check("00Dconfigured") is None


def test_deploy_check_warns_when_workers_may_run_on_machines_that_share_no_limiter(settings):
    settings.DEBUG = False
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "amqp://guest@rabbit//"
    assert [m.id for m in rate_limiter_shared(None)] == ["integrations.W001"]
    # A filesystem broker keeps every worker on the one machine the local files serve.
    settings.CELERY_BROKER_URL = "filesystem://"
    assert rate_limiter_shared(None) == []
    settings.CELERY_BROKER_URL = "amqp://guest@rabbit//"
    settings.REDIS_URL = "redis://redis:6379/0"
    assert rate_limiter_shared(None) == []
    settings.REDIS_URL = ""
    settings.DEBUG = True
    assert rate_limiter_shared(None) == []


def test_remaining_reads_what_is_left_without_spending_it(make_backend: Factory):
    """What push's batch window is computed from: our own counts, or Xero's lower figures."""
    backend = make_backend()
    limits = fast(per_minute=10, per_day=100)
    org = tenant()
    assert backend.remaining(org, limits=limits) == ratelimit.Remaining(minute=10, day=100)
    for _ in range(3):
        assert isinstance(take(backend, org, limits), Lease)
    assert backend.remaining(org, limits=limits) == ratelimit.Remaining(minute=7, day=97)
    # Reading spends nothing.
    assert backend.remaining(org, limits=limits) == ratelimit.Remaining(minute=7, day=97)
    backend.report(org, minute_remaining=2, day_remaining=40, limits=limits)
    assert backend.remaining(org, limits=limits) == ratelimit.Remaining(minute=2, day=40)
    # The minute's calls leave its window; the day's stay.
    time.sleep(limits.minute_window + 0.1)
    assert make_backend().remaining(org, limits=limits).day == 40

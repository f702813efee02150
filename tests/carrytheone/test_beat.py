"""Beat exactly once: only the holder of the Redis lease sends the schedule."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from carrytheone.beat import BeatLease, LeaderScheduler
from carrytheone.celery import app as celery_app

pytestmark = pytest.mark.redis


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"test:beat:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def test_one_lease_holder_at_a_time_and_a_clean_handover(client: redis.Redis, key: str) -> None:
    first = BeatLease(client, ttl=30, key=key)
    second = BeatLease(client, ttl=30, key=key)

    assert first.hold() is True
    assert second.hold() is False
    # Renewing is not taking: the holder keeps it, the standby still stands by.
    assert first.hold() is True
    assert second.hold() is False

    first.release()
    assert second.hold() is True
    assert first.hold() is False


def test_a_standby_takes_over_when_the_holder_stops_renewing(client: redis.Redis, key: str) -> None:
    dead = BeatLease(client, ttl=1, key=key)
    standby = BeatLease(client, ttl=1, key=key)
    assert dead.hold() is True
    assert standby.hold() is False

    time.sleep(1.3)
    assert standby.hold() is True
    # The old holder, back from a freeze, finds the lease gone and must not renew it over the
    # new holder's.
    assert dead.hold() is False
    assert client.get(key) == standby.token.encode()


def test_release_never_deletes_another_holders_lease(client: redis.Redis, key: str) -> None:
    holder = BeatLease(client, ttl=30, key=key)
    other = BeatLease(client, ttl=30, key=key)
    assert holder.hold() is True
    other.release()
    assert client.get(key) == holder.token.encode()


def test_an_unreachable_redis_leads_nowhere() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    lease = BeatLease(unreachable, ttl=30, key="test:beat:unreachable")
    assert lease.hold() is False


class _Recording(LeaderScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        self.sent.append(entry.name)


def _scheduler(tmp_path: Path, name: str, lease: BeatLease) -> _Recording:
    scheduler = _Recording(app=celery_app, schedule_filename=str(tmp_path / name))
    # Beside the configured schedule, whose entries fall due a minute or more from now.
    scheduler.update_from_dict(
        {"every-second": {"task": "carrytheone.tasks.heartbeat", "schedule": 1.0}}
    )
    scheduler.lease = lease
    return scheduler


def _tick_for(scheduler: _Recording, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(max(min(scheduler.tick(), 0.1), 0.0))


def test_two_schedulers_send_the_schedule_once_then_the_standby_takes_over(
    tmp_path: Path, client: redis.Redis, key: str
) -> None:
    leader = _scheduler(tmp_path, "a", BeatLease(client, ttl=30, key=key))
    standby = _scheduler(tmp_path, "b", BeatLease(client, ttl=30, key=key))
    try:
        _tick_for(leader, 0.2)
        for _ in range(25):
            leader.tick()
            standby.tick()
            time.sleep(0.1)
        assert leader.sent.count("every-second") >= 2
        assert "every-second" not in standby.sent

        # A clean stop hands the lease back: the standby sends at its next ticks.
        leader.close()
        _tick_for(standby, 1.5)
        assert "every-second" in standby.sent
    finally:
        standby.close()


def test_beat_uses_the_leader_scheduler() -> None:
    assert celery_app.conf.beat_scheduler == "carrytheone.beat:LeaderScheduler"

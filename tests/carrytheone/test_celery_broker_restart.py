"""A real worker stays up when its Redis broker restarts with its data lost, and goes on consuming.

The broker is a private ``redis-server`` (never the machine's: the test kills it), the worker a
real prefork process started as in production. What made it exit (kombu 5.7, celery 5.7): the
connection lost while the worker held an unacked message — an ETA task — and had a BRPOP in
flight; see the patch in ``carrytheone/celery.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bench.chaos_servers import PrivateRedis
from carrytheone.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = "carrytheone.tasks.heartbeat"
CELERY = [sys.executable, "-m", "celery", "-A", "carrytheone"]
SOLITARY = ["--without-mingle", "--without-gossip"]  # as bench/chaos.py starts its workers

pytestmark = pytest.mark.redis


def _wait(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float,
    check: Callable[[], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    """``make chaos``'s private Redis: never the machine's, since the test kills it."""
    server = PrivateRedis()
    server.start()
    yield server
    server.destroy()


def _send(url: str, *, countdown: float | None = None) -> None:
    with celery_app.connection_for_write(url) as connection:
        celery_app.send_task(HEARTBEAT, connection=connection, countdown=countdown)


def test_the_worker_survives_a_redis_restart_and_runs_a_task_sent_after_it(broker, tmp_path):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": broker.url,  # the heartbeat task writes to the cache: this Redis too
        "CELERY_BROKER_URL": broker.url,
        "VAR_DIR": str(tmp_path / "var"),
    }
    client = redis.Redis.from_url(broker.url)

    def heartbeats() -> bool:
        try:
            return bool(client.keys("*worker-heartbeat*"))
        except redis.ConnectionError:
            return False

    with log.open("wb") as out:
        worker = subprocess.Popen(
            [*CELERY, "worker", "--concurrency=1", "--loglevel=WARNING", *SOLITARY],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def still_running() -> None:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{log.read_text()[-6000:]}")

    try:
        _send(broker.url)
        _wait(heartbeats, "the worker to consume", timeout=30, check=still_running)
        # An ETA task: the worker holds it unacked while it goes on BRPOPing for more work.
        _send(broker.url, countdown=600)
        _wait(lambda: client.hlen("unacked") == 1, "the worker to hold the ETA task", timeout=10)

        broker.restart_losing_data(down_seconds=1.0)
        assert not heartbeats()  # the restart lost every key

        _send(broker.url)
        _wait(heartbeats, "a task sent after the restart to run", timeout=20, check=still_running)
        still_running()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)

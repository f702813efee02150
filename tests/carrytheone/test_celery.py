"""The Celery app's configuration, and a real worker consuming from the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from carrytheone.celery import app as celery_app
from carrytheone.health import HEARTBEAT_CACHE_KEY, last_worker_heartbeat

ROOT = Path(__file__).resolve().parents[2]


def test_celery_is_configured_from_django_settings():
    conf = celery_app.conf
    assert conf.broker_url == settings.CELERY_BROKER_URL
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.beat_schedule["heartbeat"]["task"] == "carrytheone.tasks.heartbeat"
    # What a worker does on start (autodiscovery waits for it): without it the assertion held
    # only if an earlier test had imported the tasks, which an xdist worker may not have run.
    celery_app.loader.import_default_modules()
    assert "carrytheone.tasks.heartbeat" in celery_app.tasks


def test_pickle_is_refused():
    """JSON only: a pickled message from a compromised broker must not be deserialised."""
    from kombu.exceptions import ContentDisallowed
    from kombu.serialization import loads

    with pytest.raises(ContentDisallowed):
        loads(b"\x80\x04N.", "application/x-python-serialize", "binary", accept=conf_accept())


def conf_accept() -> set[str]:
    from kombu.serialization import prepare_accept_content

    accept = prepare_accept_content(celery_app.conf.accept_content)
    assert accept is not None
    return accept


@pytest.mark.redis
def test_a_real_worker_runs_the_heartbeat_task_from_redis():
    """A worker process started as in production consumes a task sent through Redis."""
    from django.core.cache import cache

    cache.delete(HEARTBEAT_CACHE_KEY)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "carrytheone",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        celery_app.send_task("carrytheone.tasks.heartbeat", queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and last_worker_heartbeat() is None:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
            time.sleep(0.2)
        assert last_worker_heartbeat() is not None
    finally:
        worker.terminate()
        worker.wait(timeout=30)

"""The staff health page: queue depth and oldest waiting message read from the real broker,
task failures and retries counted by the Celery signals, the worker heartbeat, staff only."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from celery import shared_task
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from carrytheone import task_signals
from carrytheone.celery import app as celery_app
from carrytheone.health import record_worker_heartbeat
from carrytheone.queues import queue_states
from carrytheone.task_signals import PUBLISHED_AT_HEADER
from carrytheone.task_stats import task_count, task_counts
from tests.admin_login import admin_client
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

HEALTH = "admin:staff_health"


@shared_task(name="tests.carrytheone.always_fails")
def always_fails() -> None:
    raise ValueError("this task always fails")


@shared_task(
    name="tests.carrytheone.fails_then_retries",
    bind=True,
    autoretry_for=(ValueError,),
    max_retries=1,
    retry_backoff=False,
    default_retry_delay=0,
)
def fails_then_retries(self) -> None:
    raise ValueError("transient")


@pytest.fixture
def staff_client() -> Client:
    return admin_client(UserFactory.create(is_staff=True, is_superuser=True), PASSWORD)


@pytest.fixture
def test_queue():
    """A queue no worker consumes, listed by the page through a route; emptied afterwards."""
    name = f"test-health-{uuid.uuid4().hex[:8]}"
    routes = celery_app.conf.task_routes
    celery_app.conf.task_routes = {**(routes or {}), "tests.carrytheone.parked": {"queue": name}}
    yield name
    celery_app.conf.task_routes = routes
    # The router and queue list Celery built meanwhile hold the test's route and queue: built
    # again from the configuration on next use, so later tests see the real routing.
    celery_app.amqp.__dict__.pop("router", None)
    celery_app.amqp.queues.pop(name, None)
    with celery_app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # kombu's Redis channel
        for pri in channel.priority_steps:
            channel.client.delete(channel._q_for_pri(name, pri))


def test_non_staff_are_sent_to_the_login_and_never_see_it(client, owner_client):
    url = reverse(HEALTH)
    assert url == "/admin/health/"
    for visitor in (client, owner_client):
        response = visitor.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_a_second_factor_are_refused(db):
    staff = UserFactory.create(is_staff=True)
    client = Client()
    client.force_login(staff)  # no TOTP step
    assert client.get(reverse(HEALTH)).status_code == 302


@pytest.mark.redis
def test_depth_and_oldest_waiting_of_messages_really_published(
    staff_client, test_queue, monkeypatch, django_assert_max_num_queries
):
    """Three messages published through Celery to a queue nobody consumes: the page counts
    them and dates the oldest by the header stamped when it was published."""
    stamps = iter([1_000_000_000.0, 1_000_000_060.0, 1_000_000_120.0])
    # The publishing clock only (the module's name for ``time``), not everyone's.
    monkeypatch.setattr(task_signals, "time", SimpleNamespace(time=lambda: next(stamps)))
    for _ in range(3):
        celery_app.send_task("tests.carrytheone.parked", queue=test_queue)
    monkeypatch.undo()

    (state,) = queue_states([test_queue])
    assert state.depth == 3
    assert state.oldest_published_at == dt.datetime.fromtimestamp(1_000_000_000.0, tz=dt.UTC)
    with celery_app.connection_for_read() as conn:
        channel: Any = conn.default_channel
        raw = channel.client.lindex(test_queue, -1)
    assert PUBLISHED_AT_HEADER.encode() in raw

    with django_assert_max_num_queries(12):
        page = staff_client.get(reverse(HEALTH))
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f'<th scope="row">{test_queue}</th>') :].split("</tr>", 1)[0]
    assert "<td>3</td>" in row
    assert "since 01:46:40" in row  # 2001-09-09 01:46:40 UTC, the first stamp


@pytest.mark.redis
def test_an_empty_queue_has_no_oldest(test_queue):
    (state,) = queue_states([test_queue])
    assert (state.depth, state.oldest_published_at) == (0, None)


@pytest.mark.redis
def test_failures_and_retries_are_counted_by_the_signals(staff_client):
    always_fails.apply()
    always_fails.apply()
    fails_then_retries.apply()

    counts = {row.task: row for row in task_counts()}
    assert counts["tests.carrytheone.always_fails"].failures == 2
    assert counts["tests.carrytheone.always_fails"].retries == 0
    assert counts["tests.carrytheone.fails_then_retries"].retries == 1

    html = staff_client.get(reverse(HEALTH)).content.decode()
    assert "tests.carrytheone.always_fails</th><td>2</td><td>0</td>" in html


@pytest.mark.redis
def test_only_the_last_24_hours_count():
    now = timezone.now()
    task_count(kind="failure", task="tests.old", now=now - dt.timedelta(hours=24))
    task_count(kind="failure", task="tests.recent", now=now - dt.timedelta(hours=23))
    names = {row.task for row in task_counts(now=now)}
    assert "tests.recent" in names
    assert "tests.old" not in names


def test_counts_work_without_redis_too(settings):
    """``make run`` has no Redis: the Django cache holds the counts."""
    settings.REDIS_URL = ""
    task_count(kind="failure", task="tests.no-redis")
    task_count(kind="retry", task="tests.no-redis")
    (row,) = [row for row in task_counts() if row.task == "tests.no-redis"]
    assert (row.failures, row.retries) == (1, 1)


def test_the_worker_heartbeat_and_failing_integrations_are_shown(staff_client):
    html = staff_client.get(reverse(HEALTH)).content.decode()
    assert "None recorded" in html
    beat = record_worker_heartbeat()
    html = staff_client.get(reverse(HEALTH)).content.decode()
    assert beat.strftime("%H:%M:%S") in html
    assert "no worker seems to be consuming" not in html


def test_the_filesystem_broker_of_make_run_is_read_too(tmp_path):
    """kombu's filesystem transport: one file per message, the oldest first by name."""
    from kombu import Connection

    from carrytheone.queues import _filesystem_queue

    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("parked")
        queue.put({"n": 1}, headers={PUBLISHED_AT_HEADER: 1_000_000_000.0})
        queue.put({"n": 2}, headers={PUBLISHED_AT_HEADER: 1_000_000_500.0})
        queue.close()
    state = _filesystem_queue(str(tmp_path), "parked")
    assert state.depth == 2
    assert state.oldest_published_at == dt.datetime.fromtimestamp(1_000_000_000.0, tz=dt.UTC)
    assert _filesystem_queue(str(tmp_path), "other").depth == 0


@pytest.mark.django_db
def test_the_admin_index_leads_to_it(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse(HEALTH)}"' in html
    assert "Site administration" in html or "app-accounts" in html  # still the admin's index

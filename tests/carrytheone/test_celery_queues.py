"""Push work has a queue of its own; a plain worker still consumes every queue."""

from __future__ import annotations

import pytest

from carrytheone.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("integrations.tasks.sync_push", "push"),
        ("integrations.tasks.process_xero_webhook", "push"),
        ("integrations.tasks.writeback", "push"),
        ("integrations.tasks.sync_integration", "sync"),
        ("integrations.tasks.check_configuration", "sync"),
        ("integrations.tasks.check_configurations", "sync"),
        ("integrations.tasks.poll_integrations", "celery"),
        ("alerts.tasks.evaluate_alerts", "celery"),
        ("billing.tasks.send_trial_reminders", "celery"),
        ("carrytheone.tasks.heartbeat", "celery"),
    ],
)
def test_each_task_goes_to_its_queue(task: str, queue: str) -> None:
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_a_plain_worker_consumes_every_queue() -> None:
    # What a worker started without -Q consumes: the declared queues (a test's send_task to a
    # queue of its own adds that one to this process's list, never to the configuration).
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == {"push", "sync", "celery"}
    assert declared <= set(app.amqp.queues)

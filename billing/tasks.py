"""Celery tasks of billing: thin, the service does the work."""

from __future__ import annotations

from celery import shared_task

from billing.notices import trial_notices_send


@shared_task(name="billing.tasks.send_trial_reminders")
def send_trial_reminders() -> int:
    """Beat (hourly): the trial emails due now, each sent once; returns how many."""
    return trial_notices_send()

"""Celery tasks of accounts: thin, the service does the work."""

from __future__ import annotations

from celery import shared_task

from accounts.closing import accounts_delete_expired


@shared_task(name="accounts.tasks.delete_closed_accounts")
def delete_closed_accounts() -> int:
    """Beat (daily): deletes closed accounts past their retention; returns how many."""
    return accounts_delete_expired()

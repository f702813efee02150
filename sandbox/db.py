"""Transactions on the simulators' own database (see ``carrytheone.dbrouter``).

Every transaction in the sandbox names its database: with a separate sandbox database, a bare
``atomic()`` would open one on the product's database and leave the simulator's
writes in autocommit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from carrytheone.dbrouter import sandbox_database


def atomic() -> transaction.Atomic:
    return transaction.atomic(using=sandbox_database())


def on_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func, using=sandbox_database())

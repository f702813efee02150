"""``migrate`` on every configured database: the product's, and the sandbox's own if any."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Applies migrations to every database in DATABASES (the sandbox may have its own)."

    def handle(self, *args: Any, **options: Any) -> None:
        for alias in settings.DATABASES:
            call_command(
                "migrate",
                database=alias,
                interactive=False,
                verbosity=options.get("verbosity", 1),
            )

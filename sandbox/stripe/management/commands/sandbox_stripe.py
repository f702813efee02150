"""Drives the simulated Stripe's time and webhooks from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.db import atomic
from sandbox.stripe import services, webhooks
from sandbox.stripe.models import StripeAccount


class Command(BaseCommand):
    help = (
        "Sandbox Stripe: `advance --days N` moves the account's clock (renewals, retries and "
        "notices fall due); `retry-webhooks` resends undelivered webhooks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        advance = sub.add_parser("advance")
        advance.add_argument("--days", type=float, required=True)
        advance.add_argument("--key", default=None, help="the account's secret key (default: demo)")
        retry = sub.add_parser("retry-webhooks")
        retry.add_argument("--include-failed", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "retry-webhooks":
            sent = webhooks.retry_pending(include_failed=options["include_failed"])
            self.stdout.write(f"{sent} deliveries succeeded.")
            return
        key = options["key"] or services.DEMO_SECRET_KEY
        account = StripeAccount.objects.filter(secret_key=key).first()
        if account is None:
            raise CommandError(
                "No such sandbox Stripe account: run `manage.py sandbox_reset --seed demo`."
            )
        with atomic():
            ran = services.advance_account(account, days=options["days"])
        self.stdout.write(
            f"{account.name}: moved {options['days']:g} days; "
            f"{ran} renewals, retries and notices ran."
        )

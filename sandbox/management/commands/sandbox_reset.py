"""Wipes the simulators and optionally reseeds them (``--seed demo``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sandbox.db import atomic
from sandbox.salesforce import seed as salesforce_seed
from sandbox.stripe import seed as stripe_seed
from sandbox.xero import seed as xero_seed


class Command(BaseCommand):
    help = "Wipe the sandbox Salesforce, Xero and Stripe; with --seed demo, load the demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", choices=["demo"], default=None)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the sandbox already holds data (used by `make run`)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and not (xero_seed.is_empty() and salesforce_seed.is_empty()):
            # A sandbox seeded before the simulated Stripe existed gets its Stripe account alone.
            if stripe_seed.is_empty():
                stripe_seed.reset(seed=options["seed"])
            self.stdout.write("Sandbox already seeded; keeping its data.")
            return
        with atomic():
            xero_seed.reset(seed=options["seed"])
            salesforce_seed.reset(seed=options["seed"])
            stripe_seed.reset(seed=options["seed"])
        self.stdout.write(self.style.SUCCESS(f"Sandbox reset (seed: {options['seed'] or 'none'})."))

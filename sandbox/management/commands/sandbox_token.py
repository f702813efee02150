"""Prints one JSON object with a valid sandbox access token, for scripts and tests."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Issue a sandbox access token: `xero` (with tenant_id) or `salesforce` (with instance_url)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("provider", choices=["xero", "salesforce"])
        parser.add_argument("--org", default=None, help="organisation name (default: the first)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["provider"] == "xero":
            from sandbox.xero.services import issue_token
        else:
            from sandbox.salesforce.services import issue_token
        try:
            token = issue_token(org_name=options["org"])
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(token))

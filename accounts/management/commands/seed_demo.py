"""Creates (or refreshes) the demo owner and their account for ``make run``."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Membership, Role, User
from accounts.services import account_create

DEMO_EMAIL = "demo@carrytheone.test"
DEMO_PASSWORD = "carry-the-demo-1"  # noqa: S105 - printed on purpose: it is the demo login.
DEMO_COMPANY = "Demo Widgets Ltd"


class Command(BaseCommand):
    help = "Creates the demo owner and account (idempotent) and prints the credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"].lower()
        password: str = options["password"]
        with transaction.atomic():
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, password=password, full_name="Demo Owner")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            if not Membership.objects.filter(user=user, role=Role.OWNER).exists():
                account_create(owner=user, name=DEMO_COMPANY)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo login ready at http://127.0.0.1:8000/login/\n"
                f"  email:    {email}\n  password: {password}"
            )
        )

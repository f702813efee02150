"""Creates (or refreshes) the demo owner and their account for ``make run``."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse

from accounts.models import Account, Membership, Role, User
from accounts.services import account_create

DEMO_EMAIL = "demo@carrytheone.test"
DEMO_PASSWORD = "carry-the-demo-1"  # noqa: S105 - printed on purpose: it is the demo login.
DEMO_COMPANY = "Demo Widgets Ltd"


class Command(BaseCommand):
    help = "Creates the demo owner and account (idempotent) and prints the credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument(
            "--connect-sandbox",
            action="store_true",
            help="give the demo account an integration connected to the sandbox Salesforce and "
            "Xero, through the real OAuth flow (needs SANDBOX_ENABLED and a seeded sandbox)",
        )

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
            membership = Membership.objects.filter(user=user, role=Role.OWNER).first()
            account = membership.account if membership else None
            if account is None:
                account = account_create(owner=user, name=DEMO_COMPANY)
        if options["connect_sandbox"]:
            self._connect_sandbox(account=account, email=email, password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login ready at {settings.SITE_URL}/login/\n"
                f"  email:    {email}\n  password: {password}"
            )
        )

    def _connect_sandbox(self, *, account: Account, email: str, password: str) -> None:
        from integrations.core.models import Integration
        from integrations.demo import (
            add_demo_return,
            configure_demo_rules,
            connect_sandbox_integration,
        )
        from integrations.sync.push import push_endpoint_for, push_endpoint_url
        from sandbox.salesforce.models import SalesforceOrg
        from sandbox.xero.models import XeroOrganisation

        if not settings.SANDBOX_ENABLED:
            raise CommandError("--connect-sandbox needs SANDBOX_ENABLED=1")
        if Integration.objects.filter(account=account).exists():
            self.stdout.write("Demo account already has an integration; leaving it.")
            return
        xero_org = XeroOrganisation.objects.filter(name=DEMO_COMPANY).first()
        salesforce_org = SalesforceOrg.objects.filter(name=DEMO_COMPANY).first()
        if xero_org is None or salesforce_org is None:
            raise CommandError("Seed the sandbox first: manage.py sandbox_reset --seed demo")
        path = connect_sandbox_integration(
            account=account,
            email=email,
            password=password,
            xero_org_pk=xero_org.pk,
            salesforce_org_pk=salesforce_org.pk,
        )
        # The demo syncs from its first minute, with accounting rules that exercise payments,
        # credit notes, tax by place, currencies and tracking.
        integration = Integration.objects.get(account=account)
        configure_demo_rules(integration_id=integration.pk)
        returned = add_demo_return(salesforce_org_pk=salesforce_org.pk)
        if returned:
            self.stdout.write(f"Demo deal {returned!r} has a returned unit: expect a credit note.")
        # The sandbox Xero tells us of every change, signed with our webhook key, as the Xero
        # developer portal's webhook does once registered: payments show on opportunities.
        XeroOrganisation.objects.filter(pk=xero_org.pk).update(
            webhook_url=f"{settings.SITE_URL}{reverse('integrations:xero_webhook')}",
            webhook_key=settings.XERO_WEBHOOK_KEY,
        )
        Integration.objects.filter(pk=integration.pk).update(is_enabled=True)
        # Real-time push out of the box: the sandbox Salesforce sends its Outbound Messages to
        # the demo integration's push URL, as a customer's org would once set up.
        push_url = push_endpoint_url(push_endpoint_for(integration=integration))
        SalesforceOrg.objects.filter(pk=salesforce_org.pk).update(outbound_url=push_url)
        self.stdout.write(self.style.SUCCESS(f"Demo integration connected and on: {path}"))
        self.stdout.write(f"Sandbox Salesforce pushes its Outbound Messages to {push_url}")

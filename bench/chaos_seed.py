"""``make chaos``'s customers: N accounts, each one integration of its own Salesforce org and
Xero organisation, with open opportunities the run wins one by one.

Built from :mod:`bench.seed`'s bulk writers. Every opportunity starts open; its payment method
(``Payment_Method__c``) decides the plan the truth check holds the product to: "Credit Card"
is invoiced and paid in full the same day, "Bank Transfer" is invoiced and left unpaid. Half
the accounts are connected for push both ways (Outbound Messages in, Xero webhooks and the
write-back of the amount paid out); the other half are found by polling only.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass, replace

from django.conf import settings

from accounts.models import Account, Membership, Role, User
from bench.seed import Shape, _salesforce_records, _xero_org_clone
from integrations.connections.models import Connection
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from integrations.sync.push import push_endpoint_for, push_endpoint_url
from sandbox import db as sandbox_db
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_services
from sandbox.salesforce.models import Opportunity, SalesforceOrg
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_services
from sandbox.xero.models import XeroApp, XeroOrganisation

PAID_METHOD = "Credit Card"
UNPAID_METHOD = "Bank Transfer"
PAID_SHARE = 0.4
WRITEBACK_FIELD = "Xero_Amount_Paid__c"
_POD_ALPHABET = string.digits + string.ascii_letters


@dataclass(frozen=True)
class Customer:
    """One account of the run and what it will win."""

    index: int
    integration_id: int
    salesforce_org: str
    xero_org: str
    push: bool
    opportunities: tuple[str, ...]


def salesforce_org_name(index: int) -> str:
    return f"Chaos Org {index:02d}"


def xero_org_name(index: int) -> str:
    return f"Chaos Xero {index:02d} Ltd"


def org_pair(
    index: int, template: XeroOrganisation, rng: random.Random
) -> tuple[SalesforceOrg, XeroOrganisation]:
    """Account ``index``'s Salesforce org and Xero organisation (a clone of ``template``), the
    org's daily API allowance lifted."""
    xero_org = _xero_org_clone(template, xero_org_name(index), rng)
    org = sf_services.org_create(
        name=salesforce_org_name(index),
        pod=f"C{_POD_ALPHABET[index % len(_POD_ALPHABET)]}",
        multi_currency=True,
        corporate_currency="USD",
        currencies=["USD"],
        username=f"admin{index}@chaos.sandbox.example",
    )
    SalesforceOrg.objects.filter(pk=org.pk).update(daily_api_max=10**9)
    org.refresh_from_db()
    return org, xero_org


def seed(*, accounts: int, opportunities: int, seed_value: int) -> list[Customer]:
    """Wipes both simulators and writes every account; ``opportunities`` in all, spread evenly."""
    rng = random.Random(seed_value)  # noqa: S311 - reproducible data, not secrets
    per_account = [
        opportunities // accounts + (i < opportunities % accounts) for i in range(accounts)
    ]
    sandbox_side: list[tuple[int, tuple[str, ...]]] = []
    with sandbox_db.atomic():
        salesforce_seed.reset(seed=None)
        xero_seed.reset(seed="demo")
        XeroApp.objects.update(app_minute_limit=10**9)
        template = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
        sf_services.demo_app()
        for index in range(accounts):
            org, xero_org = org_pair(index, template, rng)
            shape = Shape(
                opportunities=0,
                customers=max(2, per_account[index] // 8),
                products=6,
                lines=2,
                open_opportunities=per_account[index],
                seed=seed_value + index,
            )
            seeded = _salesforce_records(org, [xero_org], shape, rng)
            for sf_id in seeded.open_opportunities:
                method = PAID_METHOD if rng.random() < PAID_SHARE else UNPAID_METHOD
                Opportunity.objects.filter(org=org, sf_id=sf_id).update(payment_method=method)
            sandbox_side.append((index, seeded.open_opportunities))
        # The simulated limits are lifted: the run injects its own 429s, at seeded moments.
        XeroOrganisation.objects.update(
            limits_enabled=False, minute_limit=10**9, day_limit=10**9, concurrent_limit=10**6
        )
    return [
        _connect(index=index, opportunities=ids, push=index % 2 == 0) for index, ids in sandbox_side
    ]


def _connect(*, index: int, opportunities: tuple[str, ...], push: bool) -> Customer:
    """The account, its owner and one integration connected to its own org and organisation,
    with tokens the simulators issued (checked on every request)."""
    user = User.objects.create_user(
        f"chaos{index}@carrytheone.test", password=None, full_name=f"Chaos {index}"
    )
    account = Account.objects.create(name=f"Chaos Co {index:02d}", slug=f"chaos-{index:02d}")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    now = dt.datetime.now(dt.UTC)
    sf_name, xero_name = salesforce_org_name(index), xero_org_name(index)
    sf_token = sf_services.issue_token(org_name=sf_name)
    sf_org = SalesforceOrg.objects.get(name=sf_name)
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id=sf_org.org_id,
        display_name=sf_name,
        connected_by=user,
        credentials={
            **sf_token,
            "login_url": settings.SANDBOX_BASE_URL,
            "expires_at": (
                now + dt.timedelta(seconds=sf_org.session_timeout_seconds - 60)
            ).isoformat(),
        },
    )
    token = xero_services.issue_token(org_name=xero_name)
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id=token["tenant_id"],
        display_name=xero_name,
        connected_by=user,
        credentials={
            "access_token": token["access_token"],
            "refresh_token": token["refresh_token"],
            "expires_at": (now + dt.timedelta(seconds=int(token["expires_in"]))).isoformat(),
        },
    )
    config = SyncConfig(
        default_currency="USD",
        payment_method_field="Payment_Method__c",
        credit_note_on_withdrawal=True,
        void_unpaid_instead=True,
    )
    if push:
        config = replace(
            config,
            writeback_enabled=True,
            writeback_fields=(("xero_amount_paid", WRITEBACK_FIELD),),
        )
    integration = Integration.objects.create(
        account=account,
        name=f"Chaos {index:02d}",
        salesforce_connection=salesforce,
        xero_connection=xero,
        is_enabled=True,
        created_by=user,
        config=config.to_json(),
    )
    PaymentMethod.objects.create(
        integration=integration,
        name=PAID_METHOD,
        create_invoice=True,
        apply_payment=True,
        bank_account_code="090",
        clearing_delay_days=0,
    )
    PaymentMethod.objects.create(
        integration=integration, name=UNPAID_METHOD, create_invoice=True, apply_payment=False
    )
    if push:
        url = push_endpoint_url(push_endpoint_for(integration=integration))
        SalesforceOrg.objects.filter(name=sf_name).update(outbound_url=url)
        XeroOrganisation.objects.filter(name=xero_name).update(
            webhook_url=f"{settings.SITE_URL}/webhooks/xero/",
            webhook_key=settings.XERO_WEBHOOK_KEY,
        )
    return Customer(
        index=index,
        integration_id=integration.pk,
        salesforce_org=sf_name,
        xero_org=xero_name,
        push=push,
        opportunities=opportunities,
    )

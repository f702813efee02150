"""The benchmark's data: a large Salesforce org and two Xero organisations, written in bulk.

Everything comes from one seeded ``random.Random``, so two runs give the same records (the
Salesforce ids come from the org's own sequence). The sandbox services are used for what they
do once (orgs, the demo OAuth apps, tokens); the many records are ``bulk_create``d on the
sandbox models directly, which is what makes 10,000 opportunities take seconds.

About ``existing_share`` of the customers already exist as Xero contacts (same name, no
ContactNumber: the engine must match them by name) and as many products as Xero items (same
code), in both Xero organisations, so that matching is exercised as well as creating.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import Account, Membership, Role, User
from integrations.connections.models import Connection
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_services
from sandbox.salesforce.models import (
    Account as SfAccount,
)
from sandbox.salesforce.models import (
    Contact as SfContact,
)
from sandbox.salesforce.models import (
    Opportunity,
    OpportunityContactRole,
    OpportunityLineItem,
    Pricebook2,
    PricebookEntry,
    Product2,
    SalesforceOrg,
)
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_services
from sandbox.xero.models import (
    Account as XeroAccount,
)
from sandbox.xero.models import (
    BrandingTheme,
    Currency,
    TaxRate,
    XeroApp,
    XeroOrganisation,
)
from sandbox.xero.models import (
    Contact as XeroContact,
)
from sandbox.xero.models import (
    Item as XeroItem,
)

SALESFORCE_ORG = "Benchmark Org"
ENGINE_XERO_ORG = "Benchmark Engine Ltd"
NAIVE_XERO_ORG = "Benchmark Naive Ltd"
BATCH = 2000

_ADJECTIVES = (
    "Northern", "Southern", "Eastern", "Western", "Golden", "Silver", "Blue", "Green", "Red",
    "Bright", "Rapid", "Summit", "Harbor", "River", "Pioneer", "Atlas", "Crescent", "Evergreen",
    "Granite", "Maple", "Oak", "Cedar", "Prairie", "Coastal", "Union", "Liberty", "Royal",
    "Heritage", "Keystone", "Beacon",
)  # fmt: skip
_NOUNS = (
    "Widgets", "Logistics", "Foods", "Robotics", "Textiles", "Energy", "Analytics", "Supply",
    "Engineering", "Design", "Marine", "Tools", "Health", "Software", "Builders", "Outfitters",
    "Trading", "Systems", "Labs", "Partners",
)  # fmt: skip
_SUFFIXES = ("Inc", "LLC", "Ltd", "Corp", "Co", "Group", "Holdings", "& Sons", "Pty Ltd", "GmbH")
_CITIES = (
    ("Phoenix", "AZ", "85001"), ("Austin", "TX", "78744"), ("Boston", "MA", "02110"),
    ("Denver", "CO", "80202"), ("Seattle", "WA", "98101"), ("Miami", "FL", "33131"),
    ("Chicago", "IL", "60611"), ("Atlanta", "GA", "30303"), ("Portland", "OR", "97201"),
    ("New York", "NY", "10024"),
)  # fmt: skip
_FIRST = ("Alice", "Bruno", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jack")
_LAST = ("Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Ito", "Kaur", "Lee")
_FAMILIES = ("Widgets", "Gadgets", "Services", "Support", "Licences")
_DEAL_WORDS = ("Expansion", "Renewal", "Pilot", "Rollout", "Upgrade", "Refresh", "Add-on")


@dataclass(frozen=True)
class Shape:
    """How much data: the issue's figures by default."""

    opportunities: int = 10_000
    customers: int = 2_000
    products: int = 30
    lines: int = 3
    # Opportunities still open (not won), for the push benchmark to close one by one.
    open_opportunities: int = 0
    existing_share: float = 0.2
    seed: int = 20_260_601


@dataclass(frozen=True)
class Seeded:
    opportunities: int
    line_items: int
    customers: int
    existing_contacts: int
    products: int
    existing_items: int
    open_opportunities: tuple[str, ...] = ()


def sandbox_seed(shape: Shape) -> Seeded:
    """Wipes both simulators, then writes the benchmark's orgs and records."""
    rng = random.Random(shape.seed)  # noqa: S311 - reproducible benchmark data, not secrets
    with transaction.atomic():
        salesforce_seed.reset(seed=None)
        # The demo Xero seed gives a fully set-up US organisation (currencies, tax rates,
        # accounts) to clone; its own demo organisations are left alone.
        xero_seed.reset(seed="demo")
        XeroApp.objects.update(app_minute_limit=10**9)
        template = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
        xero_orgs = [
            _xero_org_clone(template, name, rng) for name in (ENGINE_XERO_ORG, NAIVE_XERO_ORG)
        ]
        # Lift the simulated limits (5 concurrent, 60 a minute, 5,000 a day) everywhere.
        XeroOrganisation.objects.update(
            limits_enabled=False, minute_limit=10**9, day_limit=10**9, concurrent_limit=10**6
        )
        sf_services.demo_app()
        org = sf_services.org_create(
            name=SALESFORCE_ORG,
            pod="Bn",
            multi_currency=True,
            corporate_currency="USD",
            currencies=["USD"],
            username="admin@bench.sandbox.example",
        )
        SalesforceOrg.objects.filter(pk=org.pk).update(daily_api_max=10**9)
        org.refresh_from_db()
        return _salesforce_records(org, xero_orgs, shape, rng)


def _uid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _xero_org_clone(template: XeroOrganisation, name: str, rng: random.Random) -> XeroOrganisation:
    org = XeroOrganisation.objects.create(
        name=name,
        organisation_id=_uid(rng),
        short_code=f"!b{rng.randrange(16**4):04x}",
        country_code=template.country_code,
        version=template.version,
        base_currency=template.base_currency,
    )
    models: tuple[tuple[Any, str], ...] = (
        (Currency, ""),
        (TaxRate, ""),
        (XeroAccount, "account_id"),
        (BrandingTheme, "branding_theme_id"),
    )
    for model, uuid_field in models:
        rows = list(model.objects.filter(organisation=template).order_by("pk"))
        for row in rows:
            row.pk = None
            row.organisation = org
            if uuid_field:
                setattr(row, uuid_field, _uid(rng))
        model.objects.bulk_create(rows)
    return org


def _stamp(base: dt.datetime, rng: random.Random, days: int) -> dt.datetime:
    # Salesforce keeps milliseconds.
    return base + dt.timedelta(milliseconds=rng.randrange(days * 86_400_000))


def _salesforce_records(
    org: SalesforceOrg, xero_orgs: list[XeroOrganisation], shape: Shape, rng: random.Random
) -> Seeded:
    now = sf_services.now_ms()
    base = now - dt.timedelta(days=30)
    standard = Pricebook2.objects.get(org=org, is_standard=True)

    def ids(sobject: str, count: int) -> list[str]:
        return sf_services.allocate_ids(org=org, sobject=sobject, count=count)

    def stamps() -> dict[str, dt.datetime]:
        created = _stamp(base, rng, 5)
        return {"created_date": created, "last_modified_date": created, "system_modstamp": created}

    accounts: list[SfAccount] = []
    for index, sf_id in enumerate(ids("Account", shape.customers)):
        city, state, postal = rng.choice(_CITIES)
        name = (
            f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {index + 1:04d} "
            f"{rng.choice(_SUFFIXES)}"
        )
        accounts.append(
            SfAccount(
                org=org,
                sf_id=sf_id,
                name=name,
                type="Customer - Direct",
                billing_street=f"{rng.randrange(1, 9999)} {rng.choice(_ADJECTIVES)} Street",
                billing_city=city,
                billing_state=state,
                billing_postal_code=postal,
                billing_country="United States",
                phone=f"+1 555 {rng.randrange(1000, 9999)}",
                currency_iso_code="USD",
                **stamps(),
            )
        )
    SfAccount.objects.bulk_create(accounts, batch_size=BATCH)

    people: list[SfContact] = []
    for index, (sf_id, account) in enumerate(
        zip(ids("Contact", len(accounts)), accounts, strict=True)
    ):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        people.append(
            SfContact(
                org=org,
                sf_id=sf_id,
                account=account,
                first_name=first,
                last_name=last,
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}@customer{index + 1:04d}.example",
                currency_iso_code="USD",
                **stamps(),
            )
        )
    SfContact.objects.bulk_create(people, batch_size=BATCH)
    person_of = {p.account.sf_id: p for p in people if p.account is not None}

    products: list[Product2] = []
    for index, sf_id in enumerate(ids("Product2", shape.products)):
        family = _FAMILIES[index % len(_FAMILIES)]
        products.append(
            Product2(
                org=org,
                sf_id=sf_id,
                name=f"{family[:-1]} model {index + 1:02d}",
                product_code=f"BENCH-{family[:3].upper()}-{index + 1:02d}",
                family=family,
                description=f"{family} product {index + 1}",
                currency_iso_code="USD",
                **stamps(),
            )
        )
    Product2.objects.bulk_create(products)
    entries = [
        PricebookEntry(
            org=org,
            sf_id=sf_id,
            pricebook=standard,
            product=product,
            unit_price=Decimal(rng.randrange(500, 250_000)) / 100,
            currency_iso_code="USD",
            **stamps(),
        )
        for sf_id, product in zip(ids("PricebookEntry", len(products)), products, strict=True)
    ]
    PricebookEntry.objects.bulk_create(entries)
    entry_of = {e.product.sf_id: e for e in entries}

    # Every customer gets the same number of opportunities, in a shuffled order of stamps.
    owners = [accounts[i % len(accounts)] for i in range(shape.opportunities)]
    rng.shuffle(owners)
    today = now.date()
    opportunities: list[Opportunity] = []
    lines: list[OpportunityLineItem] = []
    roles: list[OpportunityContactRole] = []
    every = shape.opportunities + shape.open_opportunities
    # The open ones come after the won ones: the won set is the same with or without them.
    owners += [accounts[rng.randrange(len(accounts))] for _ in range(shape.open_opportunities)]
    opp_ids = ids("Opportunity", every)
    line_ids = iter(ids("OpportunityLineItem", every * shape.lines))
    role_ids = ids("OpportunityContactRole", every)
    for n, (sf_id, account) in enumerate(zip(opp_ids, owners, strict=True)):
        won = n < shape.opportunities
        modified = _stamp(base + dt.timedelta(days=6), rng, 23)
        created = modified - dt.timedelta(days=rng.randrange(1, 60))
        opportunity = Opportunity(
            org=org,
            sf_id=sf_id,
            account=account,
            pricebook=standard,
            name=f"{account.name} - {rng.choice(_DEAL_WORDS)} {n + 1:05d}",
            stage_name="Closed Won" if won else "Negotiation/Review",
            probability=Decimal(100 if won else 80),
            is_closed=won,
            is_won=won,
            close_date=today - dt.timedelta(days=rng.randrange(1, 150)),
            currency_iso_code="USD",
            created_date=created,
            last_modified_date=modified,
            system_modstamp=modified,
        )
        total = Decimal(0)
        for sort, product in enumerate(rng.sample(products, shape.lines), start=1):
            entry = entry_of[product.sf_id]
            quantity = Decimal(rng.randint(1, 20))
            discount = Decimal(rng.choice((5, 10, 15))) if rng.random() < 0.2 else None
            line_total = sf_services.line_total(quantity, entry.unit_price, discount)
            total += line_total
            lines.append(
                OpportunityLineItem(
                    org=org,
                    sf_id=next(line_ids),
                    opportunity=opportunity,
                    pricebook_entry=entry,
                    product=product,
                    sort_order=sort,
                    quantity=quantity,
                    unit_price=entry.unit_price,
                    list_price=entry.unit_price,
                    discount=discount,
                    total_price=line_total,
                    currency_iso_code="USD",
                    created_date=created,
                    last_modified_date=created,
                    system_modstamp=created,
                )
            )
        opportunity.amount = total
        opportunities.append(opportunity)
        roles.append(
            OpportunityContactRole(
                org=org,
                sf_id=role_ids[n],
                opportunity=opportunity,
                contact=person_of[account.sf_id],
                role="Decision Maker",
                is_primary=True,
                currency_iso_code="USD",
                created_date=created,
                last_modified_date=created,
                system_modstamp=created,
            )
        )
    Opportunity.objects.bulk_create(opportunities, batch_size=BATCH)
    OpportunityLineItem.objects.bulk_create(lines, batch_size=BATCH)
    OpportunityContactRole.objects.bulk_create(roles, batch_size=BATCH)

    known_customers = rng.sample(accounts, round(len(accounts) * shape.existing_share))
    known_products = rng.sample(products, round(len(products) * shape.existing_share))
    for xero_org in xero_orgs:
        _xero_existing(xero_org, known_customers, known_products, entry_of, rng)
    return Seeded(
        opportunities=shape.opportunities,
        line_items=len(lines),
        customers=len(accounts),
        existing_contacts=len(known_customers),
        products=len(products),
        existing_items=len(known_products),
        open_opportunities=tuple(opp_ids[shape.opportunities :]),
    )


def _xero_existing(
    org: XeroOrganisation,
    customers: list[SfAccount],
    products: list[Product2],
    entry_of: dict[str, PricebookEntry],
    rng: random.Random,
) -> None:
    """Contacts and items someone already keyed into Xero, before the integration existed."""
    stamp = xero_seed.BASE_TIME
    XeroContact.objects.bulk_create(
        [
            XeroContact(
                organisation=org,
                updated_at=stamp,
                contact_id=_uid(rng),
                name=account.name,
                extra={"Addresses": [], "Phones": [], "IsCustomer": True},
            )
            for account in customers
        ],
        batch_size=BATCH,
    )
    XeroItem.objects.bulk_create(
        [
            XeroItem(
                organisation=org,
                updated_at=stamp,
                item_id=_uid(rng),
                code=product.product_code,
                name=product.name[:50],
                description=product.description,
                sales_details={
                    "UnitPrice": str(entry_of[product.sf_id].unit_price),
                    "AccountCode": "200",
                },
                purchase_details={},
            )
            for product in products
        ]
    )


@dataclass(frozen=True)
class Integrations:
    engine_id: int
    naive_id: int


def connect(*, base_url: str) -> Integrations:
    """A customer account with its owner, and two integrations connected to the sandbox.

    The tokens are issued by the simulators (as the tests do), so they are real for them:
    the Salesforce session and the Xero access token are checked on every request.
    """
    user = User.objects.create_user("bench@carrytheone.test", password=None, full_name="Bench")
    account = Account.objects.create(name="Benchmark Co", slug="benchmark")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    now = dt.datetime.now(dt.UTC)

    sf_token = sf_services.issue_token(org_name=SALESFORCE_ORG)
    sf_org = SalesforceOrg.objects.get(name=SALESFORCE_ORG)
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id=sf_org.org_id,
        display_name=SALESFORCE_ORG,
        connected_by=user,
        credentials={
            **sf_token,
            "login_url": base_url,
            "expires_at": (
                now + dt.timedelta(seconds=sf_org.session_timeout_seconds - 60)
            ).isoformat(),
        },
    )

    def xero(org_name: str) -> Connection:
        token = xero_services.issue_token(org_name=org_name)
        return Connection.objects.create(
            account=account,
            provider="xero",
            external_id=token["tenant_id"],
            display_name=org_name,
            connected_by=user,
            credentials={
                "access_token": token["access_token"],
                "refresh_token": token["refresh_token"],
                "expires_at": (now + dt.timedelta(seconds=int(token["expires_in"]))).isoformat(),
            },
        )

    config = SyncConfig(default_currency="USD").to_json()
    engine = Integration.objects.create(
        account=account,
        name="Benchmark (engine)",
        salesforce_connection=salesforce,
        xero_connection=xero(ENGINE_XERO_ORG),
        is_enabled=True,
        created_by=user,
        config=config,
    )
    naive = Integration.objects.create(
        account=account,
        name="Benchmark (naive)",
        salesforce_connection=salesforce,
        xero_connection=xero(NAIVE_XERO_ORG),
        is_enabled=False,
        created_by=user,
        config=config,
    )
    return Integrations(engine_id=engine.pk, naive_id=naive.pk)


def push_connect(*, integration_id: int, base_url: str, writeback_field: str) -> None:
    """Push both ways for the engine's integration, as a customer would set it up: the
    Salesforce org's Outbound Messages to the integration's push URL, the Xero organisation's
    webhook to the product with its key, and the write-back of the amount paid switched on."""
    from django.conf import settings

    from integrations.sync.push import push_endpoint_for, push_endpoint_url

    integration = Integration.objects.select_related("xero_connection").get(pk=integration_id)
    url = push_endpoint_url(push_endpoint_for(integration=integration))
    SalesforceOrg.objects.filter(name=SALESFORCE_ORG).update(outbound_url=url)
    assert integration.xero_connection is not None
    XeroOrganisation.objects.filter(organisation_id=integration.xero_connection.external_id).update(
        webhook_url=f"{base_url}/webhooks/xero/", webhook_key=settings.XERO_WEBHOOK_KEY
    )
    config = SyncConfig.from_json(integration.config)
    integration.config = replace(
        config,
        writeback_enabled=True,
        writeback_fields=(("xero_amount_paid", writeback_field),),
    ).to_json()
    integration.save(update_fields=["config"])

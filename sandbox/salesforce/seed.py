"""Wipe the simulated Salesforce and (``seed="demo"``) load the deterministic demo orgs.

The data depends only on a fixed random seed and today's date: two resets on the same day
produce identical rows, ids included (ids come from each org's own sequence).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from sandbox.db import atomic
from sandbox.salesforce import services
from sandbox.salesforce.describe import CONTACT_ROLES, PAYMENT_METHODS, STAGES
from sandbox.salesforce.models import (
    AccessToken,
    Account,
    AuthorizationCode,
    ConnectedApp,
    Contact,
    CurrencyType,
    DatedConversionRate,
    Opportunity,
    OpportunityContactRole,
    OpportunityLineItem,
    OutboundDelivery,
    Pricebook2,
    PricebookEntry,
    Product2,
    QueryCursor,
    RefreshToken,
    SalesforceOrg,
)

DEMO_ORG = "Demo Widgets Ltd"
SINGLE_CURRENCY_ORG = "Demo Single Currency Inc"
RANDOM_SEED = 20_240_101
BULK_OPPORTUNITY_ITEMS = 205

# name, street, city, state, postal code, country, region, currency
_ACCOUNTS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    (
        "Acme Corporation",
        "1 Acme Way",
        "Phoenix",
        "AZ",
        "85001",
        "United States",
        "North America",
        "USD",
    ),
    ("Globex Ltd", "22 Canary Wharf", "London", "", "E14 5AB", "United Kingdom", "EMEA", "GBP"),
    (
        "Initech LLC",
        "4120 Freidrich Lane",
        "Austin",
        "TX",
        "78744",
        "United States",
        "North America",
        "USD",
    ),
    ("Umbrella Pty Ltd", "88 George Street", "Sydney", "NSW", "2000", "Australia", "APAC", "AUD"),
    (
        "Stark Industries",
        "10880 Malibu Point",
        "Malibu",
        "CA",
        "90265",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Wayne Enterprises",
        "1007 Mountain Drive",
        "Gotham",
        "NJ",
        "07001",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Hooli Inc",
        "1401 N Shoreline Blvd",
        "Mountain View",
        "CA",
        "94043",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Pied Piper Inc",
        "5230 Newell Road",
        "Palo Alto",
        "CA",
        "94303",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Vandelay Industries",
        "129 West 81st Street",
        "New York",
        "NY",
        "10024",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Dunder Mifflin Paper Co",
        "1725 Slough Avenue",
        "Scranton",
        "PA",
        "18505",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Soylent Foods",
        "400 Michigan Avenue",
        "Chicago",
        "IL",
        "60611",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Cyberdyne Systems",
        "18144 El Camino Real",
        "Sunnyvale",
        "CA",
        "94087",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Oceanic Airlines",
        "2 Waterfront Place",
        "Seattle",
        "WA",
        "98101",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Massive Dynamic",
        "50 Federal Street",
        "Boston",
        "MA",
        "02110",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Gringotts Trading",
        "12 Peachtree Street",
        "Atlanta",
        "GA",
        "30303",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Blue Sun Corporation",
        "700 Brickell Avenue",
        "Miami",
        "FL",
        "33131",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Tyrell Corporation",
        "1600 Stout Street",
        "Denver",
        "CO",
        "80202",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Maple Leaf Widgets Inc",
        "100 King Street West",
        "Toronto",
        "ON",
        "M5X 1A9",
        "Canada",
        "North America",
        "CAD",
    ),
    (
        "Northern Lights Ltd",
        "1055 West Georgia Street",
        "Vancouver",
        "BC",
        "V6E 3P3",
        "Canada",
        "North America",
        "CAD",
    ),
    (
        "Prairie Tools Corp",
        "225 6 Avenue SW",
        "Calgary",
        "AB",
        "T2P 1N2",
        "Canada",
        "North America",
        "CAD",
    ),
    (
        "Laurentian Supply",
        "1250 Boulevard René-Lévesque",
        "Montréal",
        "QC",
        "H3B 4W8",
        "Canada",
        "North America",
        "CAD",
    ),
    (
        "Bluenose Marine",
        "1801 Hollis Street",
        "Halifax",
        "NS",
        "B3J 3N4",
        "Canada",
        "North America",
        "CAD",
    ),
    (
        "Thames Valley Engineering",
        "3 Station Road",
        "Reading",
        "",
        "RG1 1LG",
        "United Kingdom",
        "EMEA",
        "GBP",
    ),
    (
        "Highland Distillers Ltd",
        "45 Princes Street",
        "Edinburgh",
        "",
        "EH2 2BY",
        "United Kingdom",
        "EMEA",
        "GBP",
    ),
    (
        "Mersey Logistics Ltd",
        "1 Pier Head",
        "Liverpool",
        "",
        "L3 1BY",
        "United Kingdom",
        "EMEA",
        "GBP",
    ),
    (
        "Cardiff Bay Robotics",
        "Britannia Quay",
        "Cardiff",
        "",
        "CF10 4PA",
        "United Kingdom",
        "EMEA",
        "GBP",
    ),
    (
        "Manchester Textiles plc",
        "12 Deansgate",
        "Manchester",
        "",
        "M3 2BW",
        "United Kingdom",
        "EMEA",
        "GBP",
    ),
    (
        "Berliner Maschinenbau GmbH",
        "Friedrichstraße 68",
        "Berlin",
        "",
        "10117",
        "Germany",
        "EMEA",
        "EUR",
    ),
    (
        "Bayerische Werkzeuge AG",
        "Leopoldstraße 20",
        "München",
        "",
        "80802",
        "Germany",
        "EMEA",
        "EUR",
    ),
    ("Société Lumière SARL", "12 Rue de Rivoli", "Paris", "", "75004", "France", "EMEA", "EUR"),
    (
        "Provence Fournitures SA",
        "5 La Canebière",
        "Marseille",
        "",
        "13001",
        "France",
        "EMEA",
        "EUR",
    ),
    ("Amsterdam Fietsen BV", "Damrak 70", "Amsterdam", "", "1012 LM", "Netherlands", "EMEA", "EUR"),
    ("Milano Design Srl", "Via Montenapoleone 8", "Milano", "", "20121", "Italy", "EMEA", "EUR"),
    ("Madrid Soluciones SL", "Calle de Alcalá 45", "Madrid", "", "28014", "Spain", "EMEA", "EUR"),
    (
        "Dublin Software Ltd",
        "1 Grand Canal Square",
        "Dublin",
        "",
        "D02 P820",
        "Ireland",
        "EMEA",
        "EUR",
    ),
    ("Wiener Präzision GmbH", "Kärntner Straße 19", "Wien", "", "1010", "Austria", "EMEA", "EUR"),
    ("Helsinki Sauna Oy", "Aleksanterinkatu 52", "Helsinki", "", "00100", "Finland", "EMEA", "EUR"),
    ("Lisboa Cerâmica Lda", "Rua Augusta 100", "Lisboa", "", "1100-053", "Portugal", "EMEA", "EUR"),
    ("Bruxelles Chocolat SA", "Grand-Place 1", "Bruxelles", "", "1000", "Belgium", "EMEA", "EUR"),
    (
        "Outback Mining Pty Ltd",
        "200 St Georges Terrace",
        "Perth",
        "WA",
        "6000",
        "Australia",
        "APAC",
        "AUD",
    ),
    (
        "Yarra Valley Wines Pty Ltd",
        "1 Collins Street",
        "Melbourne",
        "VIC",
        "3000",
        "Australia",
        "APAC",
        "AUD",
    ),
    (
        "Sunshine Coast Surf Co",
        "40 Queen Street",
        "Brisbane",
        "QLD",
        "4000",
        "Australia",
        "APAC",
        "AUD",
    ),
    (
        "Adelaide Hills Produce",
        "91 King William Street",
        "Adelaide",
        "SA",
        "5000",
        "Australia",
        "APAC",
        "AUD",
    ),
    (
        "Canberra Civic Services",
        "10 London Circuit",
        "Canberra",
        "ACT",
        "2601",
        "Australia",
        "APAC",
        "AUD",
    ),
    (
        "Kiwi Orchards Ltd",
        "55 Shortland Street",
        "Auckland",
        "",
        "1010",
        "New Zealand",
        "APAC",
        "NZD",
    ),
    (
        "Wellington Harbour Co",
        "1 Lambton Quay",
        "Wellington",
        "",
        "6011",
        "New Zealand",
        "APAC",
        "NZD",
    ),
    (
        "Southern Alps Adventures",
        "90 Cashel Street",
        "Christchurch",
        "",
        "8011",
        "New Zealand",
        "APAC",
        "NZD",
    ),
    (
        "Queenstown Lodges Ltd",
        "12 Camp Street",
        "Queenstown",
        "",
        "9300",
        "New Zealand",
        "APAC",
        "NZD",
    ),
    (
        "Aperture Science Inc",
        "1 Enrichment Center Way",
        "Cleveland",
        "OH",
        "44114",
        "United States",
        "North America",
        "USD",
    ),
    (
        "Black Mesa Research",
        "2500 Central Avenue SE",
        "Albuquerque",
        "NM",
        "87106",
        "United States",
        "North America",
        "USD",
    ),
)
DEMO_ACCOUNT_NAMES: tuple[str, ...] = tuple(row[0] for row in _ACCOUNTS)

# code, name, family, USD list price
_PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("WIDGET-S", "Widget, small", "Widgets", "19.99"),
    ("WIDGET-M", "Widget, medium", "Widgets", "34.50"),
    ("WIDGET-L", "Widget, large", "Widgets", "59.00"),
    ("WIDGET-XL", "Widget, extra large", "Widgets", "89.00"),
    ("WIDGET-PRO", "Widget Pro", "Widgets", "149.00"),
    ("WIDGET-KIT", "Widget starter kit", "Widgets", "249.00"),
    ("WIDGET-REFILL", "Widget refill pack", "Widgets", "12.75"),
    ("WIDGET-MOUNT", "Widget wall mount", "Widgets", "24.00"),
    ("GADGET-A", "Gadget A", "Gadgets", "420.00"),
    ("GADGET-B", "Gadget B", "Gadgets", "640.00"),
    ("GADGET-C", "Gadget C", "Gadgets", "999.99"),
    ("GADGET-HUB", "Gadget hub", "Gadgets", "1250.00"),
    ("GADGET-SENSOR", "Gadget sensor", "Gadgets", "75.25"),
    ("GADGET-CABLE", "Gadget cable, 2 m", "Gadgets", "9.90"),
    ("GADGET-BATT", "Gadget battery", "Gadgets", "29.95"),
    ("GADGET-CASE", "Gadget carry case", "Gadgets", "45.00"),
    ("SVC-INSTALL", "Installation", "Services", "500.00"),
    ("SVC-TRAINING", "Training day", "Services", "1200.00"),
    ("SVC-CONSULT", "Consulting hour", "Services", "180.00"),
    ("SVC-MIGRATION", "Data migration", "Services", "2400.00"),
    ("SVC-DESIGN", "Design workshop", "Services", "950.00"),
    ("SVC-ONSITE", "On-site visit", "Services", "750.00"),
    ("SVC-SUPPORT-12M", "Support, 12 months", "Support", "1800.00"),
    ("SVC-SUPPORT-24M", "Support, 24 months", "Support", "3300.00"),
    ("SVC-SUPPORT-PREM", "Premium support, 12 months", "Support", "4800.00"),
    ("SVC-WARRANTY-EXT", "Extended warranty", "Support", "299.00"),
    ("SVC-HEALTHCHECK", "Annual health check", "Support", "650.00"),
    ("LIC-USER-12M", "User licence, 12 months", "None", "240.00"),
    ("LIC-SITE-12M", "Site licence, 12 months", "None", "9600.00"),
    ("SHIP-EXPRESS", "Express shipping", "None", "35.00"),
)
RATES = {
    "USD": Decimal(1),
    "GBP": Decimal("0.79"),
    "EUR": Decimal("0.92"),
    "AUD": Decimal("1.52"),
    "CAD": Decimal("1.36"),
    "NZD": Decimal("1.65"),
}
# Currencies with no minor unit (Salesforce's DecimalPlaces).
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})
# Monthly dated rates for this many months back, the current month included.
DATED_RATE_MONTHS = 24
# The open ends of a currency's dated periods in Salesforce: the first period starts at the
# beginning of time, the last one "ends" at the end of it.
FIRST_START_DATE = dt.date(1, 1, 1)
LAST_NEXT_START_DATE = dt.date(9999, 12, 31)
_FIRST = (
    "Alice",
    "Bruno",
    "Chloé",
    "Dev",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Isla",
    "Jack",
    "Kiri",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Ruby",
    "Sven",
    "Tama",
)
_LAST = (
    "Anderson",
    "Brown",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hughes",
    "Ito",
    "Jones",
    "Kaur",
    "Lee",
    "Müller",
    "Nguyen",
    "O'Brien",
    "Patel",
    "Rossi",
    "Smith",
    "Taylor",
    "Wilson",
)
_DEAL_WORDS = ("Expansion", "Renewal", "Pilot", "Rollout", "Upgrade", "Refresh", "Add-on")
_OPEN_STAGES = [s[0] for s in STAGES if not s[2]]
_STAGE = {s[0]: s for s in STAGES}


def is_empty() -> bool:
    return not SalesforceOrg.objects.exists() and not ConnectedApp.objects.exists()


def reset(*, seed: str | None) -> None:
    with atomic():
        # Children first: line items RESTRICT their product and price book entry.
        for model in (
            OutboundDelivery,
            QueryCursor,
            AccessToken,
            RefreshToken,
            AuthorizationCode,
            OpportunityLineItem,
            OpportunityContactRole,
            Opportunity,
            DatedConversionRate,
            CurrencyType,
            PricebookEntry,
            Pricebook2,
            Product2,
            Contact,
            Account,
            SalesforceOrg,
            ConnectedApp,
        ):
            model.objects.all().delete()
        if seed == "demo":
            _demo()
        elif seed is not None:
            raise ValueError(f"unknown seed {seed!r}")


def _price(usd: Decimal, currency: str) -> Decimal:
    return (usd * RATES[currency]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class _Stamps:
    """Deterministic creation/modification instants within the last 25 days, before today."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.midnight = dt.datetime.combine(timezone.now().date(), dt.time(), tzinfo=dt.UTC)

    def pair(self) -> dict[str, dt.datetime]:
        created = self.midnight - dt.timedelta(
            days=self.rng.randint(2, 25), minutes=self.rng.randint(0, 1439)
        )
        modified = created + dt.timedelta(minutes=self.rng.randint(0, 1439))
        return {
            "created_date": created,
            "last_modified_date": modified,
            "system_modstamp": modified,
        }


def _demo() -> None:
    services.demo_app()
    _seed_org(
        name=DEMO_ORG,
        pod="Dw",
        multi_currency=True,
        dated_exchange_rates=True,
        currencies=list(RATES),
        accounts=_ACCOUNTS,
        products=_PRODUCTS,
        opportunities=200,
        bulk=True,
    )
    _seed_org(
        name=SINGLE_CURRENCY_ORG,
        pod="Sc",
        multi_currency=False,
        dated_exchange_rates=False,
        currencies=["USD"],
        accounts=tuple(a for a in _ACCOUNTS if a[7] == "USD")[:6],
        products=_PRODUCTS[:8],
        opportunities=12,
        bulk=False,
    )


def _seed_org(
    *,
    name: str,
    pod: str,
    multi_currency: bool,
    dated_exchange_rates: bool,
    currencies: list[str],
    accounts: tuple[tuple[str, str, str, str, str, str, str, str], ...],
    products: tuple[tuple[str, str, str, str], ...],
    opportunities: int,
    bulk: bool,
) -> None:
    rng = random.Random(f"{RANDOM_SEED}-{pod}")  # noqa: S311 - deterministic demo data, not secrets
    stamps = _Stamps(rng)
    org = services.org_create(
        name=name,
        pod=pod,
        multi_currency=multi_currency,
        corporate_currency="USD",
        currencies=currencies,
        username=f"admin@{pod.lower()}.sandbox.example",
        dated_exchange_rates=dated_exchange_rates and multi_currency,
    )
    standard = Pricebook2.objects.get(org=org, is_standard=True)

    def currency(code: str) -> str:
        return code if multi_currency else ""

    def ids(sobject: str, count: int) -> list[str]:
        return services.allocate_ids(org=org, sobject=sobject, count=count)

    account_rows = [
        Account(
            org=org,
            sf_id=sf_id,
            name=row[0],
            billing_street=row[1],
            billing_city=row[2],
            billing_state=row[3],
            billing_postal_code=row[4],
            billing_country=row[5],
            region=row[6],
            currency_iso_code=currency(row[7]),
            type="Customer - Direct",
            phone=f"+1 555 {rng.randint(1000, 9999)}",
            website=f"https://www.{''.join(c for c in row[0].lower() if c.isalnum())[:20]}.example",
            **stamps.pair(),
        )
        for sf_id, row in zip(ids("Account", len(accounts)), accounts, strict=True)
    ]
    Account.objects.bulk_create(account_rows)
    account_currency = {a.sf_id: row[7] for a, row in zip(account_rows, accounts, strict=True)}

    contact_specs = []
    for account in account_rows:
        for _ in range(rng.randint(1, 3)):
            contact_specs.append((account, rng.choice(_FIRST), rng.choice(_LAST)))
    contacts = [
        Contact(
            org=org,
            sf_id=sf_id,
            account=account,
            first_name=first,
            last_name=last,
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower().replace(chr(39), '')}@"
            f"{''.join(c for c in account.name.lower() if c.isalnum())[:20]}.example",
            currency_iso_code=account.currency_iso_code,
            **stamps.pair(),
        )
        for sf_id, (account, first, last) in zip(
            ids("Contact", len(contact_specs)), contact_specs, strict=True
        )
    ]
    Contact.objects.bulk_create(contacts)
    contacts_by_account: dict[str, list[Contact]] = {}
    for contact in contacts:
        assert contact.account is not None
        contacts_by_account.setdefault(contact.account.sf_id, []).append(contact)

    product_rows = [
        Product2(
            org=org,
            sf_id=sf_id,
            name=row[1],
            product_code=row[0],
            family=row[2],
            description=f"{row[1]} ({row[2].lower()})",
            currency_iso_code=currency("USD"),
            **stamps.pair(),
        )
        for sf_id, row in zip(ids("Product2", len(products)), products, strict=True)
    ]
    Product2.objects.bulk_create(product_rows)
    entry_specs = [
        (product, code, _price(Decimal(row[3]), code))
        for product, row in zip(product_rows, products, strict=True)
        for code in currencies
    ]
    entries = [
        PricebookEntry(
            org=org,
            sf_id=sf_id,
            pricebook=standard,
            product=product,
            unit_price=price,
            currency_iso_code=currency(code),
            **stamps.pair(),
        )
        for sf_id, (product, code, price) in zip(
            ids("PricebookEntry", len(entry_specs)), entry_specs, strict=True
        )
    ]
    PricebookEntry.objects.bulk_create(entries)
    entry_for = {(e.product.sf_id, e.currency_iso_code): e for e in entries}

    today = stamps.midnight.date()
    opp_specs: list[dict[str, Any]] = []
    for n in range(opportunities):
        account = rng.choice(account_rows)
        roll = rng.random()
        stage = (
            "Closed Won"
            if roll < 0.5
            else "Closed Lost"
            if roll < 0.62
            else rng.choice(_OPEN_STAGES)
        )
        _, probability, closed, won = _STAGE[stage]
        close = today + dt.timedelta(days=-rng.randint(1, 150) if closed else rng.randint(5, 120))
        count = rng.randint(1, 5)
        chosen = rng.sample(product_rows, count)
        items = [
            (
                product,
                Decimal(rng.randint(1, 20)),
                rng.choice((Decimal(5), Decimal(10), Decimal(15), Decimal(20)))
                if rng.random() < 0.2
                else None,
            )
            for product in chosen
        ]
        opp_specs.append(
            {
                "account": account,
                "stage": stage,
                "probability": probability,
                "closed": closed,
                "won": won,
                "close": close,
                "items": items,
                "name": f"{account.name} - {rng.choice(_DEAL_WORDS)} {n + 1:03d}",
                "payment": rng.choice(PAYMENT_METHODS) if rng.random() < 0.85 else "",
                "stamps": stamps.pair(),
            }
        )
    if bulk:
        globex = next(a for a in account_rows if a.name == "Globex Ltd")
        opp_specs.append(
            {
                "account": globex,
                "stage": "Closed Won",
                "probability": 100,
                "closed": True,
                "won": True,
                "close": today - dt.timedelta(days=3),
                "items": [
                    (product_rows[i % len(product_rows)], Decimal(1 + i % 3), None)
                    for i in range(BULK_OPPORTUNITY_ITEMS)
                ],
                "name": "Globex Ltd - Bulk widget rollout",
                "payment": "Bank Transfer",
                "stamps": stamps.pair(),
            }
        )

    opps = []
    for sf_id, spec in zip(ids("Opportunity", len(opp_specs)), opp_specs, strict=True):
        account = spec["account"]
        code = account_currency[account.sf_id]
        total = Decimal(0)
        for product, quantity, discount in spec["items"]:
            entry = entry_for[(product.sf_id, currency(code))]
            total += services.line_total(quantity, entry.unit_price, discount)
        opps.append(
            Opportunity(
                org=org,
                sf_id=sf_id,
                account=account,
                pricebook=standard,
                name=spec["name"],
                stage_name=spec["stage"],
                probability=Decimal(spec["probability"]),
                is_closed=spec["closed"],
                is_won=spec["won"],
                close_date=spec["close"],
                amount=total,
                payment_method=spec["payment"],
                region=account.region,
                currency_iso_code=currency(code),
                **spec["stamps"],
            )
        )
    Opportunity.objects.bulk_create(opps)

    line_specs = [
        (opp, sort, product, quantity, discount)
        for opp, spec in zip(opps, opp_specs, strict=True)
        for sort, (product, quantity, discount) in enumerate(spec["items"], start=1)
    ]
    lines = []
    for sf_id, (opp, sort, product, quantity, discount) in zip(
        ids("OpportunityLineItem", len(line_specs)), line_specs, strict=True
    ):
        entry = entry_for[(product.sf_id, opp.currency_iso_code)]
        lines.append(
            OpportunityLineItem(
                org=org,
                sf_id=sf_id,
                opportunity=opp,
                pricebook_entry=entry,
                product=product,
                sort_order=sort,
                quantity=quantity,
                unit_price=entry.unit_price,
                list_price=entry.unit_price,
                discount=discount,
                total_price=services.line_total(quantity, entry.unit_price, discount),
                currency_iso_code=opp.currency_iso_code,
                created_date=opp.created_date,
                last_modified_date=opp.created_date,
                system_modstamp=opp.created_date,
            )
        )
    OpportunityLineItem.objects.bulk_create(lines, batch_size=500)

    roles = []
    role_ids = ids("OpportunityContactRole", len(opps))
    for sf_id, opp in zip(role_ids, opps, strict=True):
        assert opp.account is not None
        contact = rng.choice(contacts_by_account[opp.account.sf_id])
        roles.append(
            OpportunityContactRole(
                org=org,
                sf_id=sf_id,
                opportunity=opp,
                contact=contact,
                is_primary=True,
                role=rng.choice(CONTACT_ROLES[:3]),
                created_date=opp.created_date,
                last_modified_date=opp.created_date,
                system_modstamp=opp.created_date,
            )
        )
    OpportunityContactRole.objects.bulk_create(roles)
    # Last, so the ids above stay what they were before rates were seeded.
    currency_rates_seed(org=org, rng=rng, today=today)


def _month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def currency_rates_seed(*, org: SalesforceOrg, rng: random.Random, today: dt.date) -> None:
    """CurrencyType rows for a multi-currency org (rates from ``RATES``) and, with advanced
    currency management, a dated rate a month for ``DATED_RATE_MONTHS`` months.

    Rates are units of the currency per unit of the corporate one (USD 1.0). Each currency's
    dated periods are contiguous: the first starts at 0001-01-01, the last has NextStartDate
    9999-12-31, and each month's rate wanders a little around the static one.
    """
    if not org.multi_currency:
        return
    codes = org.currency_codes
    stamp = {
        "created_date": dt.datetime.combine(
            _month_start(today, DATED_RATE_MONTHS), dt.time(), tzinfo=dt.UTC
        )
    }
    stamp["last_modified_date"] = stamp["system_modstamp"] = stamp["created_date"]
    CurrencyType.objects.bulk_create(
        CurrencyType(
            org=org,
            sf_id=sf_id,
            iso_code=code,
            conversion_rate=RATES.get(code, Decimal(1)),
            decimal_places=0 if code in ZERO_DECIMAL_CURRENCIES else 2,
            is_active=True,
            is_corporate=code == org.corporate_currency,
            **stamp,
        )
        for sf_id, code in zip(
            services.allocate_ids(org=org, sobject="CurrencyType", count=len(codes)),
            codes,
            strict=True,
        )
    )
    if not org.dated_exchange_rates:
        return
    starts = [_month_start(today, back) for back in range(DATED_RATE_MONTHS - 1, -1, -1)]
    periods: list[tuple[str, Decimal, dt.date, dt.date]] = []
    for code in codes:
        if code == org.corporate_currency:
            periods.append((code, Decimal(1), FIRST_START_DATE, LAST_NEXT_START_DATE))
            continue
        static = RATES.get(code, Decimal(1))
        rate = static
        bounds = [FIRST_START_DATE, *starts, LAST_NEXT_START_DATE]
        for start, next_start in itertools.pairwise(bounds):
            periods.append((code, rate.quantize(Decimal("0.000001")), start, next_start))
            # A month's move: noise of about 1.5 %, pulled back towards the static rate.
            drift = Decimal(str(round(rng.gauss(0, 0.015), 6)))
            rate = rate * (1 + drift) + (static - rate) * Decimal("0.3")
    DatedConversionRate.objects.bulk_create(
        DatedConversionRate(
            org=org,
            sf_id=sf_id,
            iso_code=code,
            conversion_rate=rate,
            start_date=start,
            next_start_date=next_start,
            **stamp,
        )
        for sf_id, (code, rate, start, next_start) in zip(
            services.allocate_ids(org=org, sobject="DatedConversionRate", count=len(periods)),
            periods,
            strict=True,
        )
    )

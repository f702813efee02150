"""Our invoice totals equal the ones the sandbox Xero computes, to the cent, over real HTTP.

For random invoices (1-10 lines, quantities and unit amounts with up to 4 decimals, discounts
0-100 with 2, each line with one of the organisation's own sales tax rates, multi-component
ones included) in the US, UK, AU, NZ and CA demo organisations, as Exclusive, Inclusive or
NoTax: ``InvoiceDraft.expected_totals(metadata.tax_rate_percentages())`` gives the SubTotal,
TotalTax, Total, line amounts and per-line TaxAmount that the sandbox answers to our PUT,
sent through the product's own Xero client. Each example is one PUT of up to 50 invoices.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.connections.models import Connection
from integrations.connections.salesforce.records import LineItem
from integrations.connections.xero.client import XeroClient, xero_client
from integrations.connections.xero.metadata_types import OrganisationMetadata, TaxRateInfo
from integrations.core.config import LINE_AMOUNT_TYPES, SyncConfig
from integrations.sync.translate import InvoiceDraft, invoice_for
from sandbox.xero import seed
from sandbox.xero import services as xero_sandbox
from sandbox.xero.models import TaxRate, XeroOrganisation
from tests.factories import AccountFactory
from tests.integrations.rules.data import customer, opportunity

D = Decimal
BATCH = 50
ORG_NAMES = ("Demo Widgets Ltd", "Demo UK Ltd", "Demo Pty Ltd", "Demo NZ Ltd", "Demo Canada Inc")


@dataclass(frozen=True)
class Org:
    client: XeroClient
    metadata: OrganisationMetadata
    sales_tax_types: tuple[str, ...]
    contact_id: str


def metadata_from_sandbox(org: XeroOrganisation) -> OrganisationMetadata:
    """What /TaxRates tells us, read from the sandbox's own rows (EffectiveRate included)."""
    return OrganisationMetadata(
        name=org.name,
        country_code=org.country_code,
        base_currency=org.base_currency,
        tax_rates={
            rate.tax_type: TaxRateInfo(
                tax_type=rate.tax_type,
                name=rate.name,
                status=rate.status,
                can_apply_to_revenue=rate.can_apply_to_revenue,
                effective_rate=rate.effective_rate,
            )
            for rate in TaxRate.objects.filter(organisation=org)
        },
    )


@pytest.fixture
def orgs(sandbox_url: str, settings: Any) -> Iterator[list[Org]]:
    base = f"{sandbox_url}/sandbox/xero"
    settings.XERO_TOKEN_URL = f"{base}/identity/connect/token"
    settings.XERO_API_URL = f"{base}/api.xro/2.0"
    seed.reset(seed="demo")
    account = AccountFactory.create()
    found: list[Org] = []
    for name in ORG_NAMES:
        token = xero_sandbox.issue_token(org_name=name)
        connection = Connection.objects.create(
            account=account,
            provider="xero",
            external_id=token["tenant_id"],
            display_name=name,
            credentials={
                "access_token": token["access_token"],
                "refresh_token": token["refresh_token"],
                "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
            },
        )
        client = xero_client(connection)
        metadata = metadata_from_sandbox(XeroOrganisation.objects.get(name=name))
        contact = client.call(
            "create_contacts",
            {"Contacts": [{"Name": "Totals Property Test", "ContactNumber": "TOTALS-1"}]},
            idempotency_key=f"totals-contact-{uuid.uuid4()}",
        ).data.contacts[0]
        sales = tuple(sorted(t for t, info in metadata.tax_rates.items() if info.usable_for_sales))
        found.append(Org(client, metadata, sales, str(contact.contact_id)))
    assert {len(o.sales_tax_types) > 1 for o in found} == {True}
    # Multi-component rates are part of the draw: GST + PST (BC), GST + QST (QC), US city taxes.
    canada = found[-1].metadata.tax_rates
    assert canada["TAX001"].effective_rate == D(12)
    assert canada["TAX003"].effective_rate == D("14.975")
    yield found
    # The SDK keeps each client's last response, whose socket file holds a kept-alive
    # connection open, and a live-server thread with it, until the session ends; that thread
    # then closes a database connection no longer shared with it (an unhandled-thread warning).
    for org in found:
        org.client.api.api_client.last_response = None
        org.client.api.api_client.rest_client.pool_manager.clear()


quantities = st.one_of(
    st.integers(1, 20).map(D),
    st.integers(1, 100_000_000).map(lambda n: D(n).scaleb(-4)),
)
unit_amounts = st.one_of(
    st.integers(0, 100_000).map(lambda n: D(n).scaleb(-2)),
    st.integers(0, 1_000_000_000).map(lambda n: D(n).scaleb(-4)),
)
discounts = st.one_of(st.just(D(0)), st.integers(0, 10_000).map(lambda n: D(n).scaleb(-2)))
# The last number picks one of the organisation's sales tax rates.
lines = st.lists(
    st.tuples(quantities, unit_amounts, discounts, st.integers(0, 99)), min_size=1, max_size=10
)
# Many invoices per call keeps the test fast; a failure names its own invoice (see ``case``).
invoices = st.lists(
    st.tuples(st.sampled_from(LINE_AMOUNT_TYPES), lines), min_size=BATCH // 2, max_size=BATCH
)


def draft_for(
    org: Org, line_amount_types: str, drawn: list[tuple[Decimal, Decimal, Decimal, int]]
) -> InvoiceDraft:
    """Our invoice, built by the translation layer, each line with its drawn tax rate."""
    items = tuple(
        LineItem(
            salesforce_id=f"00k{i:015d}",
            product_id=f"01t{i:015d}",
            product_code="",
            product_name=f"Line {i}",
            description="",
            quantity=quantity,
            unit_price=unit,
            total_price=quantity * unit,
            discount_percent=discount,
        )
        for i, (quantity, unit, discount, _pick) in enumerate(drawn)
    )
    config = SyncConfig(
        line_amount_types=line_amount_types, default_currency=org.metadata.base_currency
    )
    draft = invoice_for(
        opportunity(lines=items, customer=customer()), config, contact_id=org.contact_id
    )
    types = org.sales_tax_types
    return replace(
        draft,
        lines=tuple(
            replace(
                line,
                item_code="",
                # As the translation does: a NoTax invoice carries no tax types.
                tax_type="" if line_amount_types == "NoTax" else types[pick % len(types)],
            )
            for line, (_q, _u, _d, pick) in zip(draft.lines, drawn, strict=True)
        ),
    )


def _xero_date(day: dt.date) -> str:
    # As the engine sends dates: the SDK only parses this form back.
    moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def _money(value: Any) -> Decimal:
    # The SDK hands amounts back as floats; their shortest repr is the JSON number sent.
    return D(str(value))


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(org_index=st.integers(0, len(ORG_NAMES) - 1), batch=invoices)
def test_expected_totals_equal_the_sandboxs_to_the_cent(
    orgs: list[Org],
    org_index: int,
    batch: list[tuple[str, list[tuple[Decimal, Decimal, Decimal, int]]]],
) -> None:
    org = orgs[org_index]
    drafts = [draft_for(org, kind, drawn) for kind, drawn in batch]
    bodies = []
    for draft in drafts:
        body = draft.to_xero()
        body["Date"], body["DueDate"] = _xero_date(draft.date), _xero_date(draft.due_date)
        bodies.append(body)
    answer = org.client.call(
        "create_invoices",
        {"Invoices": bodies},
        summarize_errors=False,
        unitdp=4,
        idempotency_key=f"totals-{uuid.uuid4()}",
    ).data.invoices
    assert len(answer) == len(drafts)
    rates = org.metadata.tax_rate_percentages()
    for draft, invoice in zip(drafts, answer, strict=True):
        assert not invoice.validation_errors, [e.message for e in invoice.validation_errors]
        ours = draft.expected_totals(rates)
        case = (
            org.metadata.name,
            draft.line_amount_types,
            [line.to_xero() for line in draft.lines],
        )
        assert [_money(line.line_amount) for line in invoice.line_items] == list(
            ours.line_amounts
        ), case
        assert [_money(line.tax_amount) for line in invoice.line_items] == list(ours.tax_amounts), (
            case
        )
        assert (
            _money(invoice.sub_total),
            _money(invoice.total_tax),
            _money(invoice.total),
        ) == (ours.sub_total, ours.total_tax, ours.total), case

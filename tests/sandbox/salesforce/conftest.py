from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sandbox.salesforce import services
from sandbox.salesforce.models import Account, Opportunity, Product2, SalesforceOrg
from tests.sandbox.salesforce.loopback import loopback_session

API_VERSION = "62.0"


def make_org(name: str = "Test Org", **kwargs: Any) -> SalesforceOrg:
    kwargs.setdefault("currencies", ["USD", "GBP", "EUR"])
    return services.org_create(name=name, **kwargs)


def token_for(org: SalesforceOrg) -> str:
    raw, _ = services.session_create(org=org, app=services.demo_app(), scope="api")
    return raw


def sf_client(base_url: str, org: SalesforceOrg, token: str | None = None) -> Salesforce:
    return Salesforce(
        instance_url=base_url,
        session_id=token or token_for(org),
        session=loopback_session(base_url),
        version=API_VERSION,
        parse_float=Decimal,
    )


def error_body(exc: SalesforceError) -> list[dict[str, str]]:
    """The JSON error array Salesforce answered (the SDK's stubs type it loosely)."""
    content: Any = exc.content
    return cast(list[dict[str, str]], content)


def make_product(org: SalesforceOrg, code: str, price: str = "10.00") -> Product2:
    return services.product_create(
        org=org,
        name=f"Product {code}",
        product_code=code,
        prices={c: Decimal(price) for c in org.currency_codes},
    )


def make_opportunity(
    org: SalesforceOrg,
    account: Account | None,
    name: str,
    *,
    stage: str = "Closed Won",
    currency: str = "",
    **fields: Any,
) -> Opportunity:
    fields.setdefault("close_date", dt.date(2024, 3, 1))
    if org.multi_currency:
        fields["currency_iso_code"] = currency or org.corporate_currency
    return services.opportunity_save(
        org=org, account=account, name=name, stage_name=stage, **fields
    )


@pytest.fixture
def org(db) -> SalesforceOrg:
    return make_org()


@pytest.fixture
def sf(sandbox_url: str, org: SalesforceOrg) -> Salesforce:
    return sf_client(sandbox_url, org)

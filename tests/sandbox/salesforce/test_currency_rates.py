"""CurrencyType and DatedConversionRate: queryable and described in multi-currency orgs only."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from django.utils import timezone
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import seed
from sandbox.salesforce.models import CurrencyType, DatedConversionRate, SalesforceOrg
from tests.sandbox.salesforce.conftest import error_body, make_org, sf_client

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = Path(__file__).resolve().parents[3] / "sandbox" / "salesforce" / "spec"


@pytest.fixture
def demo_sf(sandbox_url: str) -> Any:
    seed.reset(seed="demo")
    return sf_client(sandbox_url, SalesforceOrg.objects.get(name=seed.DEMO_ORG))


@pytest.fixture
def single_sf(sandbox_url: str) -> Any:
    seed.reset(seed="demo")
    return sf_client(sandbox_url, SalesforceOrg.objects.get(name=seed.SINGLE_CURRENCY_ORG))


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def test_currency_types_of_the_demo_org(demo_sf):
    """USD is the corporate currency at 1.0; every other rate is units per US dollar."""
    result = demo_sf.query(
        "SELECT IsoCode, ConversionRate, DecimalPlaces, IsActive, IsCorporate "
        "FROM CurrencyType WHERE IsActive = true ORDER BY IsoCode"
    )
    rows = {r["IsoCode"]: r for r in result["records"]}
    assert set(rows) == {"AUD", "CAD", "EUR", "GBP", "NZD", "USD"}
    assert rows["USD"]["IsCorporate"] is True
    assert rows["USD"]["ConversionRate"] == Decimal(1)
    assert rows["GBP"]["ConversionRate"] == Decimal("0.79")
    assert rows["GBP"]["IsCorporate"] is False
    assert {r["DecimalPlaces"] for r in rows.values()} == {2}
    assert result["records"][0]["attributes"]["type"] == "CurrencyType"


def test_dated_rates_cover_two_years_monthly_without_gaps(demo_sf):
    """Each currency's periods chain StartDate → NextStartDate from 0001-01-01 to 9999-12-31,
    one period a month for the last 24 months; USD has a single period at 1.0."""
    records = demo_sf.query_all(
        "SELECT IsoCode, ConversionRate, StartDate, NextStartDate FROM DatedConversionRate "
        "ORDER BY IsoCode, StartDate"
    )["records"]
    by_code: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_code.setdefault(record["IsoCode"], []).append(record)
    assert set(by_code) == {"AUD", "CAD", "EUR", "GBP", "NZD", "USD"}
    assert [(r["StartDate"], r["NextStartDate"], r["ConversionRate"]) for r in by_code["USD"]] == [
        ("0001-01-01", "9999-12-31", Decimal(1))
    ]
    today = timezone.now().date()
    starts = ["0001-01-01"] + [_month_start(today, b).isoformat() for b in range(23, -1, -1)]
    for code, periods in by_code.items():
        if code == "USD":
            continue
        assert [p["StartDate"] for p in periods] == starts
        assert [p["NextStartDate"] for p in periods] == [*starts[1:], "9999-12-31"]
        static = seed.RATES[code]
        for period in periods:
            rate = period["ConversionRate"]
            assert isinstance(rate, Decimal)
            # Realistic: within 15 % of the static rate, and never more than 6 places.
            assert abs(rate - static) / static < Decimal("0.15"), (code, period)
            assert -rate.as_tuple().exponent <= 6  # type: ignore[operator]


def test_the_rate_for_a_close_date_is_one_row(demo_sf):
    """How the product picks the rate of an opportunity: the period containing its date."""
    day = (timezone.now().date() - dt.timedelta(days=200)).isoformat()
    soql = (  # SOQL, not SQL
        "SELECT IsoCode, ConversionRate, StartDate, NextStartDate FROM DatedConversionRate "  # noqa: S608
        f"WHERE IsoCode = 'EUR' AND StartDate <= {day} AND NextStartDate > {day}"
    )
    result = demo_sf.query(soql)
    assert result["totalSize"] == 1
    [row] = result["records"]
    assert row["StartDate"] <= day < row["NextStartDate"]
    stored = DatedConversionRate.objects.get(
        org__name=seed.DEMO_ORG, iso_code="EUR", start_date=row["StartDate"]
    )
    assert row["ConversionRate"] == stored.conversion_rate


@pytest.mark.parametrize("sobject", ["CurrencyType", "DatedConversionRate"])
def test_single_currency_org_answers_invalid_type(single_sf, sobject):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        single_sf.query(f"SELECT Id FROM {sobject}")  # noqa: S608 - SOQL, not SQL
    assert refused.value.status == 400
    [error] = error_body(refused.value)
    assert error["errorCode"] == "INVALID_TYPE"
    assert f"sObject type '{sobject}' is not supported." in error["message"]
    describe = single_sf.session.get(
        f"{single_sf.base_url}sobjects/{sobject}/describe/", headers=single_sf.headers
    )
    assert describe.status_code == 404
    assert describe.json()[0]["errorCode"] == "NOT_FOUND"
    names = {s["name"] for s in single_sf.restful("sobjects/")["sobjects"]}
    assert sobject not in names
    assert "Opportunity" in names


def test_without_advanced_currency_management_only_currency_type_exists(sandbox_url):
    """A multi-currency org without dated rates has CurrencyType, not DatedConversionRate."""
    org = make_org("Static Rates", currencies=["USD", "EUR"])
    seed.currency_rates_seed(org=org, rng=random.Random(1), today=dt.date(2026, 5, 17))
    sf = sf_client(sandbox_url, org)
    rates = sf.query("SELECT IsoCode, ConversionRate FROM CurrencyType ORDER BY IsoCode")
    assert [(r["IsoCode"], r["ConversionRate"]) for r in rates["records"]] == [
        ("EUR", Decimal("0.92")),
        ("USD", Decimal(1)),
    ]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Id FROM DatedConversionRate")
    assert error_body(refused.value)[0]["errorCode"] == "INVALID_TYPE"
    assert not DatedConversionRate.objects.filter(org=org).exists()


@pytest.mark.parametrize("sobject", ["CurrencyType", "DatedConversionRate"])
def test_describe_of_the_rate_objects(demo_sf, sobject):
    body = demo_sf.restful(f"sobjects/{sobject}/describe/")
    jsonschema.validate(body, json.loads((SPEC / "sobject-describe.json").read_text()))
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["ConversionRate"]["type"] == "double"
    assert (fields["ConversionRate"]["precision"], fields["ConversionRate"]["scale"]) == (18, 6)
    assert fields["IsoCode"]["type"] == "picklist"
    assert fields["IsoCode"]["restrictedPicklist"] is True
    assert [v["value"] for v in fields["IsoCode"]["picklistValues"]] == list(seed.RATES)
    assert "CurrencyIsoCode" not in fields
    assert "IsDeleted" not in fields
    if sobject == "DatedConversionRate":
        assert fields["StartDate"]["type"] == fields["NextStartDate"]["type"] == "date"
        assert fields["NextStartDate"]["updateable"] is False
    else:
        assert fields["IsCorporate"]["type"] == "boolean"
        assert fields["DecimalPlaces"]["type"] == "int"
    entry = next(s for s in demo_sf.restful("sobjects/")["sobjects"] if s["name"] == sobject)
    assert entry["queryable"] is True
    assert entry["keyPrefix"] == {"CurrencyType": "02c", "DatedConversionRate": "04w"}[sobject]


def test_a_rate_record_by_id(demo_sf):
    row = CurrencyType.objects.get(org__name=seed.DEMO_ORG, iso_code="NZD")
    record = demo_sf.restful(f"sobjects/CurrencyType/{row.sf_id}")
    assert record["IsoCode"] == "NZD"
    assert record["ConversionRate"] == Decimal("1.65")
    assert record["Id"] == row.sf_id


def test_seed_is_deterministic_for_a_given_day():
    org = make_org("Twice", currencies=["USD", "GBP"], dated_exchange_rates=True)
    seed.currency_rates_seed(org=org, rng=random.Random(7), today=dt.date(2026, 5, 17))
    first = list(
        DatedConversionRate.objects.filter(org=org)
        .order_by("iso_code", "start_date")
        .values_list("iso_code", "conversion_rate", "start_date", "next_start_date")
    )
    DatedConversionRate.objects.filter(org=org).delete()
    CurrencyType.objects.filter(org=org).delete()
    seed.currency_rates_seed(org=org, rng=random.Random(7), today=dt.date(2026, 5, 17))
    again = list(
        DatedConversionRate.objects.filter(org=org)
        .order_by("iso_code", "start_date")
        .values_list("iso_code", "conversion_rate", "start_date", "next_start_date")
    )
    assert again == first
    assert len(first) == 1 + 25  # USD once; GBP from 0001-01-01, then 24 months
    gbp, usd = first[:-1], first[-1]
    assert gbp[0][2:] == (dt.date(1, 1, 1), dt.date(2024, 6, 1))
    assert gbp[-1][2:] == (dt.date(2026, 5, 1), dt.date(9999, 12, 31))
    assert usd == ("USD", Decimal(1), dt.date(1, 1, 1), dt.date(9999, 12, 31))

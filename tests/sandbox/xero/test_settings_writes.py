"""Writes to an organisation's settings: PUT Currencies and PUT TrackingCategories/{id}/Options."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from xero_python.accounting import Currency, CurrencyCode, TrackingOption
from xero_python.exceptions import AccountingBadRequestException, NotFoundException

from sandbox.xero.models import Currency as CurrencyRow
from sandbox.xero.models import TaxRate as TaxRateRow
from sandbox.xero.models import TrackingCategory
from sandbox.xero.models import TrackingOption as OptionRow

pytestmark = pytest.mark.django_db(transaction=True)


def _region(main_org) -> TrackingCategory:
    return TrackingCategory.objects.get(organisation=main_org, name="Region")


def test_sdk_enables_a_currency_and_lists_it_afterwards(api, tenant, main_org):
    """The SDK's create_currency adds JPY with Xero's own name; GET Currencies lists it."""
    created = api.create_currency(
        tenant, Currency(code=CurrencyCode.JPY, description="Yen"), idempotency_key="cur-jpy"
    ).currencies
    assert [(c.code, c.description) for c in created] == [(CurrencyCode.JPY, "Japanese Yen")]
    listed = {c.code for c in api.get_currencies(tenant).currencies}
    assert CurrencyCode.JPY in listed
    assert len(listed) == 7
    assert CurrencyRow.objects.filter(organisation=main_org, code="JPY").count() == 1


def test_a_newly_enabled_currency_can_be_invoiced_in(raw):
    """An invoice in JPY is refused before the currency is enabled and accepted after."""
    invoice = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "CurrencyCode": "JPY",
        "LineItems": [
            {"Description": "x", "Quantity": 1, "UnitAmount": 1000, "AccountCode": "200"}
        ],
    }
    before = raw.call("PUT", "Invoices", body={"Invoices": [invoice]})
    assert before.status_code == 400
    assert raw.call("PUT", "Currencies", body={"Code": "JPY"}).status_code == 200
    after = raw.call("PUT", "Invoices", body={"Invoices": [invoice]})
    assert after.status_code == 200, after.text
    assert after.json()["Invoices"][0]["CurrencyCode"] == "JPY"


@pytest.mark.parametrize("code", ["USD", "EUR", "eur"])
def test_a_currency_already_enabled_is_a_validation_exception(raw, main_org, code):
    """The base currency and an enabled one both answer 400 ValidationException."""
    answer = raw.call("PUT", "Currencies", body={"Code": code.upper()})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    message = body["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "already been added" in message
    assert CurrencyRow.objects.filter(organisation=main_org).count() == 6


def test_an_unknown_currency_code_cannot_bind(raw, main_org):
    """A code outside Xero's CurrencyCode enum is a PostDataInvalidException, like Json.NET's."""
    answer = raw.call("PUT", "Currencies", body={"Code": "XYZ", "Description": "Nowhere"})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"]) == (14, "PostDataInvalidException")
    assert "XYZ" in body["Message"]
    assert CurrencyRow.objects.filter(organisation=main_org).count() == 6


def test_a_currency_without_a_code_is_refused(raw):
    answer = raw.call("PUT", "Currencies", body={"Description": "Mystery money"})
    assert answer.status_code == 400
    assert answer.json()["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "A currency code must be provided."
    )


def test_enabling_a_currency_is_idempotent_by_key(raw, main_org):
    first = raw.call(
        "PUT", "Currencies", body={"Code": "CHF"}, headers={"Idempotency-Key": "cur-chf"}
    )
    again = raw.call(
        "PUT", "Currencies", body={"Code": "CHF"}, headers={"Idempotency-Key": "cur-chf"}
    )
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert CurrencyRow.objects.filter(organisation=main_org, code="CHF").count() == 1


def test_sdk_creates_a_tracking_option(api, tenant, main_org):
    """create_tracking_options answers the new option with its id and the spec's flags."""
    region = _region(main_org)
    options = api.create_tracking_options(
        tenant,
        str(region.tracking_category_id),
        TrackingOption(name="Central"),
        idempotency_key="opt-central",
    ).options
    assert [o.name for o in options] == ["Central"]
    assert options[0].tracking_option_id is not None
    assert options[0].status == "ACTIVE"
    category = api.get_tracking_category(tenant, str(region.tracking_category_id))
    names = [o.name for o in category.tracking_categories[0].options]
    assert names[-1] == "Central"
    assert len(names) == 5


def test_new_option_can_be_used_on_an_invoice_line(raw, main_org):
    region = _region(main_org)
    made = raw.call(
        "PUT", f"TrackingCategories/{region.tracking_category_id}/Options", body={"Name": "Central"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["Options"][0]["IsActive"] is True
    invoice = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "LineItems": [
            {
                "Description": "x",
                "Quantity": 1,
                "UnitAmount": 5,
                "AccountCode": "200",
                "Tracking": [{"Name": "Region", "Option": "central"}],
            }
        ],
    }
    answer = raw.call("PUT", "Invoices", body={"Invoices": [invoice]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["Invoices"][0]["LineItems"][0]["Tracking"][0]["Option"] == "Central"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("north", "For each specified tracking option the name must be unique."),
        ("", "A name must be specified for the tracking option."),
        ("Central ", "cannot start or end with spaces"),
    ],
)
def test_option_names_are_required_and_unique_within_the_category(raw, main_org, name, message):
    """Names are unique case-insensitively ("north" clashes with the seeded "North")."""
    region = _region(main_org)
    answer = raw.call(
        "PUT", f"TrackingCategories/{region.tracking_category_id}/Options", body={"Name": name}
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["Type"] == "ValidationException"
    errors = [e["Message"] for e in body["Elements"][0]["ValidationErrors"]]
    assert any(message in e for e in errors), errors
    assert OptionRow.objects.filter(category=region).count() == 4


def test_an_option_name_over_100_characters_is_refused_by_the_spec(raw, main_org):
    region = _region(main_org)
    answer = raw.call(
        "PUT",
        f"TrackingCategories/{region.tracking_category_id}/Options",
        body={"Name": "x" * 101},
    )
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
    ok = raw.call(
        "PUT",
        f"TrackingCategories/{region.tracking_category_id}/Options",
        body={"Name": "y" * 100},
    )
    assert ok.status_code == 200, ok.text


def test_several_options_in_one_body_fail_together_on_a_duplicate(raw, main_org):
    """The XML API's {"Options": [...]} shape: a duplicate inside the batch refuses it all."""
    region = _region(main_org)
    path = f"TrackingCategories/{region.tracking_category_id}/Options"
    clash = raw.call("PUT", path, body={"Options": [{"Name": "Central"}, {"Name": "CENTRAL"}]})
    assert clash.status_code == 400
    assert OptionRow.objects.filter(category=region).count() == 4
    both = raw.call("PUT", path, body={"Options": [{"Name": "Central"}, {"Name": "Islands"}]})
    assert both.status_code == 200, both.text
    assert [o["Name"] for o in both.json()["Options"]] == ["Central", "Islands"]


def test_options_of_an_archived_or_missing_category_are_refused(raw, main_org):
    region = _region(main_org)
    region.status = "ARCHIVED"
    region.save(update_fields=["status"])
    archived = raw.call(
        "PUT", f"TrackingCategories/{region.tracking_category_id}/Options", body={"Name": "Central"}
    )
    assert archived.status_code == 400
    assert "ACTIVE tracking category" in archived.text
    missing = raw.call("PUT", f"TrackingCategories/{uuid.uuid4()}/Options", body={"Name": "A"})
    assert missing.status_code == 404


def test_sdk_errors_for_options(api, tenant, main_org):
    region = _region(main_org)
    with pytest.raises(AccountingBadRequestException) as bad:
        api.create_tracking_options(
            tenant, str(region.tracking_category_id), TrackingOption(name="West")
        )
    assert b"must be unique" in bad.value.body
    with pytest.raises(NotFoundException):
        api.create_tracking_options(tenant, str(uuid.uuid4()), TrackingOption(name="West"))


def test_at_most_100_active_options_per_category(raw, main_org):
    region = _region(main_org)
    OptionRow.objects.bulk_create([OptionRow(category=region, name=f"Zone {n}") for n in range(96)])
    answer = raw.call(
        "PUT", f"TrackingCategories/{region.tracking_category_id}/Options", body={"Name": "One"}
    )
    assert answer.status_code == 400
    assert "at most 100 active options" in answer.text
    OptionRow.objects.filter(category=region, name="Zone 0").update(status="ARCHIVED")
    again = raw.call(
        "PUT", f"TrackingCategories/{region.tracking_category_id}/Options", body={"Name": "One"}
    )
    assert again.status_code == 200, again.text


def test_a_compound_tax_rate_is_charged_on_the_simple_components_too(raw, main_org):
    """GST 5 % + QST 9.5 % compound (Quebec before 2013): EffectiveRate 14.975, and an invoice
    line of 100.00 carries 14.98 of tax."""
    TaxRateRow.objects.create(
        organisation=main_org,
        updated_at=timezone.now(),
        name="GST + QST (compound)",
        tax_type="TAX009",
        can_apply_to_expenses=False,
        components=[
            {"Name": "GST", "Rate": "5", "IsCompound": False, "IsNonRecoverable": False},
            {"Name": "QST", "Rate": "9.5", "IsCompound": True, "IsNonRecoverable": False},
        ],
    )
    rates = raw.call("GET", "TaxRates", params={"where": 'TaxType=="TAX009"'}).json()["TaxRates"]
    assert rates[0]["EffectiveRate"] == 14.975
    assert [c["IsCompound"] for c in rates[0]["TaxComponents"]] == [False, True]
    line = {
        "Description": "x",
        "Quantity": 1,
        "UnitAmount": 100,
        "AccountCode": "200",
        "TaxType": "TAX009",
    }
    invoice = {"Type": "ACCREC", "Contact": {"Name": "Acme Corporation"}, "LineItems": [line]}
    answer = raw.call("PUT", "Invoices", body={"Invoices": [invoice]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["Invoices"][0]["TotalTax"] == 14.98

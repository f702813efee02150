"""Countries and regions typed into Salesforce become ISO codes; unknown text gives ""."""

from __future__ import annotations

import pytest

from integrations.rules.countries import (
    EU_MEMBERS,
    ISO_CODES,
    country_name,
    normalize_country,
    normalize_region,
    place_name,
)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("United States", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("U.S.", "US"),
        ("US", "US"),
        ("us", "US"),
        (" u. s. a ", "US"),
        ("America", "US"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("GB", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("Wales", "GB"),
        ("Northern Ireland", "GB"),
        ("Australia", "AU"),
        ("AUS", "AU"),
        ("New Zealand", "NZ"),
        ("NZ", "NZ"),
        ("Aotearoa", "NZ"),
        ("Canada", "CA"),
        ("CAN", "CA"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("the Netherlands", "NL"),
        ("Holland", "NL"),
        ("Österreich", "AT"),
        ("España", "ES"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("Republic of Ireland", "IE"),
        ("Éire", "IE"),
        ("Switzerland", "CH"),
        ("Norway", "NO"),
        ("Japan", "JP"),
        ("Singapore", "SG"),
        ("Hong Kong", "HK"),
        ("United Arab Emirates", "AE"),
        ("UAE", "AE"),
        ("South Africa", "ZA"),
        ("Mexico", "MX"),
        ("México", "MX"),
        ("Brazil", "BR"),
        ("India", "IN"),
        ("China", "CN"),
        ("People's Republic of China", "CN"),
        ("South Korea", "KR"),
        ("Trinidad & Tobago", "TT"),
        ("Türkiye", "TR"),
        ("BT", "BT"),  # any ISO code, named here or not
        ("bt", "BT"),
    ],
)
def test_countries_as_people_type_them(typed: str, code: str) -> None:
    assert normalize_country(typed) == code


@pytest.mark.parametrize("typed", ["", "   ", None, "Atlantis", "XX", "Narnia", "U", "Europe"])
def test_unknown_or_blank_countries_give_empty(typed: str | None) -> None:
    assert normalize_country(typed) == ""


def test_every_eu_member_by_its_english_name_and_code() -> None:
    assert len(EU_MEMBERS) == 27
    for code in EU_MEMBERS:
        assert code in ISO_CODES
        assert normalize_country(country_name(code)) == code
        assert normalize_country(code) == code
        assert country_name(code) != code, f"{code} has no name"


def test_iso_code_list_is_complete() -> None:
    """All 249 officially assigned alpha-2 codes."""
    assert len(ISO_CODES) == 249
    assert all(len(code) == 2 and code.isupper() for code in ISO_CODES)


@pytest.mark.parametrize(
    ("country", "typed", "code"),
    [
        ("US", "California", "CA"),
        ("US", "CA", "CA"),
        ("US", "ca", "CA"),
        ("US", "Calif.", "CA"),
        ("US", "New York", "NY"),
        ("US", "New York State", "NY"),
        ("US", "State of Washington", "WA"),
        ("US", "District of Columbia", "DC"),
        ("US", "Washington, D.C.", "DC"),
        ("US", "D.C.", "DC"),
        ("US", "US-TX", "TX"),
        ("US", "Puerto Rico", "PR"),
        ("CA", "Ontario", "ON"),
        ("CA", "ON", "ON"),
        ("CA", "Québec", "QC"),
        ("CA", "PQ", "QC"),
        ("CA", "British Columbia", "BC"),
        ("CA", "Newfoundland", "NL"),
        ("CA", "P.E.I.", "PE"),
        ("CA", "Yukon", "YT"),
        ("CA", "CA-NS", "NS"),
        ("AU", "New South Wales", "NSW"),
        ("AU", "nsw", "NSW"),
        ("AU", "N.S.W.", "NSW"),
        ("AU", "Victoria", "VIC"),
        ("AU", "Qld", "QLD"),
        ("AU", "Australian Capital Territory", "ACT"),
        ("AU", "WA", "WA"),
    ],
)
def test_regions_as_people_type_them(country: str, typed: str, code: str) -> None:
    assert normalize_region(country, typed) == code


@pytest.mark.parametrize(
    ("country", "typed"),
    [
        ("US", ""),
        ("US", None),
        ("US", "Ontario"),
        ("US", "Californa"),
        ("CA", "California"),
        ("AU", "ON"),
        ("GB", "Kent"),  # regions only count in the US, Canada and Australia
        ("", "California"),
    ],
)
def test_unknown_regions_give_empty(country: str, typed: str | None) -> None:
    assert normalize_region(country, typed) == ""


def test_names_for_messages() -> None:
    assert place_name("CA", "ON") == "Ontario, Canada"
    assert place_name("GB") == "United Kingdom"
    assert place_name("BT") == "BT"  # no name here: the code is still clear
    assert place_name("US", "ZZ") == "ZZ, United States"

"""Countries and regions as people type them into Salesforce, as ISO codes.

Salesforce's Billing Country and Billing State/Province are free text unless the org turned on
State and Country picklists, so the same country arrives as "United States", "USA", "U.S." or
"US". Tax rules are keyed by ISO 3166 alpha-2 country codes and, for the United States, Canada and
Australia (where sales tax depends on it), by the state, province or territory code.

Pure lookups, no I/O; unknown text gives ``""`` so the caller can say what to fix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final

# Every officially assigned ISO 3166-1 alpha-2 code: a typed code is accepted for any country,
# even one whose name is not in the alias table below.
_ISO_CODES_TEXT: Final = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
ISO_CODES: Final = frozenset(_ISO_CODES_TEXT.split())

_EU_TEXT: Final = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
EU_MEMBERS: Final = frozenset(_EU_TEXT.split())

# Code: (display name, other spellings and alpha-3 code). Names are matched without case,
# accents, dots or a leading "the".
_COUNTRIES: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    # The organisations Xero serves most, and their neighbours.
    "US": (
        "United States",
        (
            "USA",
            "United States of America",
            "America",
            "Estados Unidos",
            "Etats Unis",
            "Vereinigte Staaten",
        ),
    ),
    "GB": (
        "United Kingdom",
        (
            "GBR",
            "UK",
            "United Kingdom of Great Britain and Northern Ireland",
            "Great Britain",
            "Britain",
            "England",
            "Scotland",
            "Wales",
            "Northern Ireland",
            "Royaume Uni",
            "Vereinigtes Konigreich",
        ),
    ),
    "CA": ("Canada", ("CAN",)),
    "AU": ("Australia", ("AUS", "Commonwealth of Australia")),
    "NZ": ("New Zealand", ("NZL", "Aotearoa", "Aotearoa New Zealand")),
    # The European Union.
    "AT": ("Austria", ("AUT", "Osterreich", "Oesterreich")),
    "BE": ("Belgium", ("BEL", "Belgique", "Belgie", "Belgien")),
    "BG": ("Bulgaria", ("BGR", "Balgariya")),
    "HR": ("Croatia", ("HRV", "Hrvatska")),
    "CY": ("Cyprus", ("CYP", "Kypros", "Kibris")),
    "CZ": ("Czechia", ("CZE", "Czech Republic", "Cesko", "Ceska Republika")),
    "DK": ("Denmark", ("DNK", "Danmark")),
    "EE": ("Estonia", ("EST", "Eesti")),
    "FI": ("Finland", ("FIN", "Suomi")),
    "FR": ("France", ("FRA", "French Republic", "Republique Francaise")),
    "DE": (
        "Germany",
        ("DEU", "Deutschland", "Federal Republic of Germany", "Bundesrepublik Deutschland"),
    ),
    "GR": ("Greece", ("GRC", "Hellas", "Ellada", "Hellenic Republic")),
    "HU": ("Hungary", ("HUN", "Magyarorszag")),
    "IE": ("Ireland", ("IRL", "Republic of Ireland", "Eire")),
    "IT": ("Italy", ("ITA", "Italia")),
    "LV": ("Latvia", ("LVA", "Latvija")),
    "LT": ("Lithuania", ("LTU", "Lietuva")),
    "LU": ("Luxembourg", ("LUX", "Luxemburg", "Letzebuerg")),
    "MT": ("Malta", ("MLT",)),
    "NL": ("Netherlands", ("NLD", "Holland", "Nederland", "Kingdom of the Netherlands")),
    "PL": ("Poland", ("POL", "Polska")),
    "PT": ("Portugal", ("PRT",)),
    "RO": ("Romania", ("ROU", "Rumania")),
    "SK": ("Slovakia", ("SVK", "Slovak Republic", "Slovensko")),
    "SI": ("Slovenia", ("SVN", "Slovenija")),
    "ES": ("Spain", ("ESP", "Espana", "Kingdom of Spain")),
    "SE": ("Sweden", ("SWE", "Sverige")),
    # Europe outside the EU.
    "CH": ("Switzerland", ("CHE", "Schweiz", "Suisse", "Svizzera", "Swiss Confederation")),
    "NO": ("Norway", ("NOR", "Norge", "Noreg")),
    "IS": ("Iceland", ("ISL", "Island")),
    "LI": ("Liechtenstein", ("LIE",)),
    "MC": ("Monaco", ("MCO",)),
    "AD": ("Andorra", ("AND",)),
    "SM": ("San Marino", ("SMR",)),
    "GI": ("Gibraltar", ("GIB",)),
    "IM": ("Isle of Man", ("IMN",)),
    "JE": ("Jersey", ("JEY",)),
    "GG": ("Guernsey", ("GGY",)),
    "FO": ("Faroe Islands", ("FRO", "Faroes")),
    "GL": ("Greenland", ("GRL",)),
    "RS": ("Serbia", ("SRB",)),
    "BA": ("Bosnia and Herzegovina", ("BIH", "Bosnia")),
    "ME": ("Montenegro", ("MNE",)),
    "MK": ("North Macedonia", ("MKD", "Macedonia")),
    "AL": ("Albania", ("ALB",)),
    "MD": ("Moldova", ("MDA", "Republic of Moldova")),
    "UA": ("Ukraine", ("UKR",)),
    "BY": ("Belarus", ("BLR",)),
    "RU": ("Russia", ("RUS", "Russian Federation")),
    "TR": ("Turkey", ("TUR", "Turkiye", "Republic of Turkiye")),
    "GE": ("Georgia", ("GEO",)),
    "AM": ("Armenia", ("ARM",)),
    "AZ": ("Azerbaijan", ("AZE",)),
    # The Americas.
    "MX": ("Mexico", ("MEX", "United Mexican States")),
    "BR": ("Brazil", ("BRA", "Brasil")),
    "AR": ("Argentina", ("ARG",)),
    "CL": ("Chile", ("CHL",)),
    "CO": ("Colombia", ("COL",)),
    "PE": ("Peru", ("PER",)),
    "EC": ("Ecuador", ("ECU",)),
    "UY": ("Uruguay", ("URY",)),
    "PY": ("Paraguay", ("PRY",)),
    "BO": ("Bolivia", ("BOL",)),
    "VE": ("Venezuela", ("VEN",)),
    "CR": ("Costa Rica", ("CRI",)),
    "PA": ("Panama", ("PAN",)),
    "GT": ("Guatemala", ("GTM",)),
    "DO": ("Dominican Republic", ("DOM",)),
    "PR": ("Puerto Rico", ("PRI",)),
    "JM": ("Jamaica", ("JAM",)),
    "BS": ("Bahamas", ("BHS",)),
    "BB": ("Barbados", ("BRB",)),
    "TT": ("Trinidad and Tobago", ("TTO", "Trinidad")),
    "BM": ("Bermuda", ("BMU",)),
    "KY": ("Cayman Islands", ("CYM",)),
    # Asia, the Middle East and Africa.
    "JP": ("Japan", ("JPN", "Nippon")),
    "CN": ("China", ("CHN", "People's Republic of China", "PRC", "Mainland China")),
    "HK": ("Hong Kong", ("HKG", "Hong Kong SAR")),
    "MO": ("Macao", ("MAC", "Macau")),
    "TW": ("Taiwan", ("TWN", "Republic of China")),
    "KR": ("South Korea", ("KOR", "Korea", "Republic of Korea")),
    "SG": ("Singapore", ("SGP",)),
    "MY": ("Malaysia", ("MYS",)),
    "ID": ("Indonesia", ("IDN",)),
    "TH": ("Thailand", ("THA",)),
    "PH": ("Philippines", ("PHL",)),
    "VN": ("Vietnam", ("VNM", "Viet Nam")),
    "KH": ("Cambodia", ("KHM",)),
    "MN": ("Mongolia", ("MNG",)),
    "IN": ("India", ("IND", "Bharat")),
    "PK": ("Pakistan", ("PAK",)),
    "BD": ("Bangladesh", ("BGD",)),
    "LK": ("Sri Lanka", ("LKA",)),
    "NP": ("Nepal", ("NPL",)),
    "KZ": ("Kazakhstan", ("KAZ",)),
    "AE": ("United Arab Emirates", ("ARE", "UAE", "Emirates")),
    "SA": ("Saudi Arabia", ("SAU", "Kingdom of Saudi Arabia", "KSA")),
    "QA": ("Qatar", ("QAT",)),
    "KW": ("Kuwait", ("KWT",)),
    "BH": ("Bahrain", ("BHR",)),
    "OM": ("Oman", ("OMN",)),
    "JO": ("Jordan", ("JOR",)),
    "LB": ("Lebanon", ("LBN",)),
    "IL": ("Israel", ("ISR",)),
    "EG": ("Egypt", ("EGY",)),
    "MA": ("Morocco", ("MAR",)),
    "ZA": ("South Africa", ("ZAF", "RSA")),
    "NG": ("Nigeria", ("NGA",)),
    "KE": ("Kenya", ("KEN",)),
    "GH": ("Ghana", ("GHA",)),
    "TZ": ("Tanzania", ("TZA",)),
    "UG": ("Uganda", ("UGA",)),
    "ET": ("Ethiopia", ("ETH",)),
    "ZW": ("Zimbabwe", ("ZWE",)),
    "ZM": ("Zambia", ("ZMB",)),
    "BW": ("Botswana", ("BWA",)),
    "NA": ("Namibia", ("NAM",)),
    "MU": ("Mauritius", ("MUS",)),
    # The Pacific.
    "FJ": ("Fiji", ("FJI",)),
    "PG": ("Papua New Guinea", ("PNG",)),
    "WS": ("Samoa", ("WSM",)),
    "TO": ("Tonga", ("TON",)),
    "CK": ("Cook Islands", ("COK",)),
    "NC": ("New Caledonia", ("NCL", "Nouvelle Caledonie")),
    "PF": ("French Polynesia", ("PYF", "Polynesie Francaise")),
    "VU": ("Vanuatu", ("VUT",)),
    "SB": ("Solomon Islands", ("SLB",)),
}

# Region code: (display name, other spellings). Codes are the postal abbreviations, which are
# also the ISO 3166-2 subdivision codes without the country prefix.
_US_REGIONS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "AL": ("Alabama", ("Ala",)),
    "AK": ("Alaska", ()),
    "AZ": ("Arizona", ("Ariz",)),
    "AR": ("Arkansas", ("Ark",)),
    "CA": ("California", ("Calif", "Cal")),
    "CO": ("Colorado", ("Colo",)),
    "CT": ("Connecticut", ("Conn",)),
    "DE": ("Delaware", ("Del",)),
    "DC": ("District of Columbia", ("Washington DC", "Washington D C", "DC")),
    "FL": ("Florida", ("Fla",)),
    "GA": ("Georgia", ()),
    "HI": ("Hawaii", ()),
    "ID": ("Idaho", ()),
    "IL": ("Illinois", ("Ill",)),
    "IN": ("Indiana", ("Ind",)),
    "IA": ("Iowa", ()),
    "KS": ("Kansas", ("Kan", "Kans")),
    "KY": ("Kentucky", ()),
    "LA": ("Louisiana", ()),
    "ME": ("Maine", ()),
    "MD": ("Maryland", ()),
    "MA": ("Massachusetts", ("Mass",)),
    "MI": ("Michigan", ("Mich",)),
    "MN": ("Minnesota", ("Minn",)),
    "MS": ("Mississippi", ("Miss",)),
    "MO": ("Missouri", ()),
    "MT": ("Montana", ("Mont",)),
    "NE": ("Nebraska", ("Neb", "Nebr")),
    "NV": ("Nevada", ("Nev",)),
    "NH": ("New Hampshire", ()),
    "NJ": ("New Jersey", ()),
    "NM": ("New Mexico", ()),
    "NY": ("New York", ()),
    "NC": ("North Carolina", ()),
    "ND": ("North Dakota", ()),
    "OH": ("Ohio", ()),
    "OK": ("Oklahoma", ("Okla",)),
    "OR": ("Oregon", ("Ore",)),
    "PA": ("Pennsylvania", ("Penn", "Penna")),
    "RI": ("Rhode Island", ()),
    "SC": ("South Carolina", ()),
    "SD": ("South Dakota", ()),
    "TN": ("Tennessee", ("Tenn",)),
    "TX": ("Texas", ("Tex",)),
    "UT": ("Utah", ()),
    "VT": ("Vermont", ()),
    "VA": ("Virginia", ()),
    "WA": ("Washington", ("Wash",)),
    "WV": ("West Virginia", ()),
    "WI": ("Wisconsin", ("Wis", "Wisc")),
    "WY": ("Wyoming", ("Wyo",)),
    # Territories: a US organisation may well sell there, and they have their own taxes.
    "AS": ("American Samoa", ()),
    "GU": ("Guam", ()),
    "MP": ("Northern Mariana Islands", ()),
    "PR": ("Puerto Rico", ()),
    "VI": ("U.S. Virgin Islands", ("US Virgin Islands", "Virgin Islands")),
}
_CA_REGIONS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "AB": ("Alberta", ("Alta",)),
    "BC": ("British Columbia", ("Colombie Britannique",)),
    "MB": ("Manitoba", ("Man",)),
    "NB": ("New Brunswick", ("Nouveau Brunswick",)),
    "NL": ("Newfoundland and Labrador", ("Newfoundland", "Labrador", "NF", "Terre Neuve")),
    "NS": ("Nova Scotia", ("Nouvelle Ecosse",)),
    "NT": ("Northwest Territories", ("NWT", "Territoires du Nord Ouest")),
    "NU": ("Nunavut", ()),
    "ON": ("Ontario", ("Ont",)),
    "PE": ("Prince Edward Island", ("PEI", "Ile du Prince Edouard")),
    "QC": ("Quebec", ("PQ", "Que")),
    "SK": ("Saskatchewan", ("Sask",)),
    "YT": ("Yukon", ("YK", "Yukon Territory")),
}
_AU_REGIONS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "NSW": ("New South Wales", ()),
    "VIC": ("Victoria", ()),
    "QLD": ("Queensland", ()),
    "SA": ("South Australia", ()),
    "WA": ("Western Australia", ()),
    "TAS": ("Tasmania", ()),
    "ACT": ("Australian Capital Territory", ()),
    "NT": ("Northern Territory", ()),
}
_REGIONS: Final[Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]]] = {
    "US": _US_REGIONS,
    "CA": _CA_REGIONS,
    "AU": _AU_REGIONS,
}
REGION_COUNTRIES: Final = frozenset(_REGIONS)
"""Countries whose tax rules may name a state, province or territory."""

_NOT_WORDS = re.compile(r"[^0-9a-z]+")


def _key(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, no leading "the": how names are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ").replace(".", "")
    words = _NOT_WORDS.sub(" ", plain).split()
    if words[:1] == ["the"]:
        words = words[1:]
    # "U S A" (spaced initials) is "usa".
    if words and all(len(w) == 1 for w in words):
        return "".join(words)
    return " ".join(words)


def _index(
    table: Mapping[str, tuple[str, tuple[str, ...]]],
) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, (name, others) in table.items():
        for spelling in (code, name, *others):
            index.setdefault(_key(spelling), code)
    return index


_COUNTRY_INDEX: Final = _index(_COUNTRIES)
_REGION_INDEX: Final = {country: _index(table) for country, table in _REGIONS.items()}


def normalize_country(text: str | None) -> str:
    """The ISO 3166 alpha-2 code for a country as typed ("USA", "U.K.", "Deutschland"); ``""``
    when it is blank or not recognised."""
    key = _key(text or "")
    if not key:
        return ""
    code = _COUNTRY_INDEX.get(key)
    if code:
        return code
    if len(key) == 2 and key.upper() in ISO_CODES:
        return key.upper()
    return ""


def normalize_region(country: str, text: str | None) -> str:
    """The state, province or territory code ("ON", "NSW", "DC") for a region as typed in a
    country with regional taxes (US, CA, AU); ``""`` when blank, not recognised, or elsewhere."""
    index = _REGION_INDEX.get(country.strip().upper())
    key = _key(text or "")
    if index is None or not key:
        return ""
    prefix = country.strip().lower() + " "
    candidates = [key]
    if key.startswith(prefix):
        # ISO 3166-2 form: "US-NY", "CA-ON".
        candidates.append(key[len(prefix) :])
    if country.strip().upper() == "US":
        # "New York State", "State of Washington".
        candidates.append(key.removesuffix(" state"))
        candidates.append(key.removeprefix("state of "))
    for candidate in candidates:
        code = index.get(candidate)
        if code:
            return code
    return ""


def country_name(code: str) -> str:
    """A country's English name for messages; the code itself when it has none here."""
    entry = _COUNTRIES.get(code)
    return entry[0] if entry else code


def region_name(country: str, code: str) -> str:
    """A region's name for messages ("Ontario"); the code itself when it has none here."""
    entry = _REGIONS.get(country, {}).get(code)
    return entry[0] if entry else code


def place_name(country: str, region: str = "") -> str:
    """Where a customer is, for messages: "Ontario, Canada", or "Canada" without a region."""
    if region:
        return f"{region_name(country, region)}, {country_name(country)}"
    return country_name(country)

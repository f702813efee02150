"""What the product knows about one Xero organisation's settings, as plain frozen values.

Read from Xero (``/Organisation``, ``/TaxRates``, ``/Currencies``, ``/Accounts``,
``/TrackingCategories``, ``/BrandingThemes``) and cached per connection by
``connections.xero.metadata``; pure rule functions (tax, tracking, payments) take it as an
argument and never call Xero themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class TaxRateInfo:
    tax_type: str
    name: str
    status: str
    """ACTIVE, DELETED, ARCHIVED or PENDING."""
    can_apply_to_revenue: bool
    effective_rate: Decimal
    """Percent, e.g. ``Decimal("7.25")``."""

    @property
    def usable_for_sales(self) -> bool:
        return self.status == "ACTIVE" and self.can_apply_to_revenue


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    code: str
    name: str
    type: str
    """Xero AccountType: BANK, REVENUE, SALES, CURRLIAB, ..."""
    status: str
    currency_code: str = ""
    """Bank accounts only: the account's currency."""
    enable_payments_to_account: bool = False

    @property
    def accepts_payments(self) -> bool:
        return self.status == "ACTIVE" and (self.type == "BANK" or self.enable_payments_to_account)


@dataclass(frozen=True)
class TrackingOptionInfo:
    option_id: str
    name: str
    status: str


@dataclass(frozen=True)
class TrackingCategoryInfo:
    category_id: str
    name: str
    status: str
    options: Mapping[str, TrackingOptionInfo] = field(default_factory=dict)
    """By option name, as Xero spells it."""

    def option(self, name: str) -> TrackingOptionInfo | None:
        """The ACTIVE option of that name, case-insensitively (Xero matches names so)."""
        wanted = name.strip().lower()
        for option in self.options.values():
            if option.name.lower() == wanted and option.status == "ACTIVE":
                return option
        return None


@dataclass(frozen=True)
class OrganisationMetadata:
    name: str
    country_code: str
    """ISO 3166 alpha-2, e.g. US, GB, AU, NZ, CA."""
    base_currency: str
    tax_rates: Mapping[str, TaxRateInfo] = field(default_factory=dict)
    """By TaxType."""
    currencies: frozenset[str] = frozenset()
    """Enabled currency codes, the base currency included."""
    accounts: tuple[AccountInfo, ...] = ()
    tracking_categories: Mapping[str, TrackingCategoryInfo] = field(default_factory=dict)
    """ACTIVE categories by name (Xero allows at most two)."""
    branding_themes: Mapping[str, str] = field(default_factory=dict)
    """BrandingThemeID → name."""

    def account_by_code(self, code: str) -> AccountInfo | None:
        for account in self.accounts:
            if account.code == code:
                return account
        return None

    def tax_rate_percentages(self) -> dict[str, Decimal]:
        """TaxType → effective rate, as ``InvoiceDraft.expected_totals`` takes it."""
        return {t: info.effective_rate for t, info in self.tax_rates.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (Decimals as strings) for caching; ``from_json`` reverses it."""
        return {
            "name": self.name,
            "country_code": self.country_code,
            "base_currency": self.base_currency,
            "tax_rates": [
                {
                    "tax_type": t.tax_type,
                    "name": t.name,
                    "status": t.status,
                    "can_apply_to_revenue": t.can_apply_to_revenue,
                    "effective_rate": str(t.effective_rate),
                }
                for t in self.tax_rates.values()
            ],
            "currencies": sorted(self.currencies),
            "accounts": [
                {
                    "account_id": a.account_id,
                    "code": a.code,
                    "name": a.name,
                    "type": a.type,
                    "status": a.status,
                    "currency_code": a.currency_code,
                    "enable_payments_to_account": a.enable_payments_to_account,
                }
                for a in self.accounts
            ],
            "tracking_categories": [
                {
                    "category_id": c.category_id,
                    "name": c.name,
                    "status": c.status,
                    "options": [
                        {"option_id": o.option_id, "name": o.name, "status": o.status}
                        for o in c.options.values()
                    ],
                }
                for c in self.tracking_categories.values()
            ],
            "branding_themes": dict(self.branding_themes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrganisationMetadata:
        return cls(
            name=str(data.get("name", "")),
            country_code=str(data.get("country_code", "")),
            base_currency=str(data.get("base_currency", "")),
            tax_rates={
                str(t["tax_type"]): TaxRateInfo(
                    tax_type=str(t["tax_type"]),
                    name=str(t.get("name", "")),
                    status=str(t.get("status", "")),
                    can_apply_to_revenue=bool(t.get("can_apply_to_revenue")),
                    effective_rate=Decimal(str(t.get("effective_rate", "0"))),
                )
                for t in data.get("tax_rates", [])
            },
            currencies=frozenset(str(c) for c in data.get("currencies", [])),
            accounts=tuple(
                AccountInfo(
                    account_id=str(a.get("account_id", "")),
                    code=str(a.get("code", "")),
                    name=str(a.get("name", "")),
                    type=str(a.get("type", "")),
                    status=str(a.get("status", "")),
                    currency_code=str(a.get("currency_code", "")),
                    enable_payments_to_account=bool(a.get("enable_payments_to_account")),
                )
                for a in data.get("accounts", [])
            ),
            tracking_categories={
                str(c["name"]): TrackingCategoryInfo(
                    category_id=str(c.get("category_id", "")),
                    name=str(c["name"]),
                    status=str(c.get("status", "")),
                    options={
                        str(o["name"]): TrackingOptionInfo(
                            option_id=str(o.get("option_id", "")),
                            name=str(o["name"]),
                            status=str(o.get("status", "")),
                        )
                        for o in c.get("options", [])
                    },
                )
                for c in data.get("tracking_categories", [])
            },
            branding_themes={
                str(k): str(v) for k, v in dict(data.get("branding_themes", {})).items()
            },
        )

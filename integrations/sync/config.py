"""The integration's configuration, as the translation layer needs it.

Stored as JSON on the integration; parsed here into a small frozen, typed object so the pure
translation functions never see an unchecked value. Parsing validates every field and applies the
defaults, so a stored configuration written by an older version (missing newer keys) still loads.
Keys this module does not know are ignored: the stored JSON also holds settings for other layers
(polling, tracking), which are not the translation's business.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

INVOICE_STATUSES: Final = ("DRAFT", "SUBMITTED", "AUTHORISED")
# What to do when a Xero contact found by name belongs to another record (another ContactNumber):
# "suffix" creates "Name (Salesforce Account id)"; "link" addresses the invoice to it anyway.
NAME_COLLISION_RULES: Final = ("suffix", "link")
LINE_AMOUNT_TYPES: Final = ("Exclusive", "Inclusive", "NoTax")

# Placeholders an invoice number pattern may use; `close_date` alone takes a strftime format.
NUMBER_PLACEHOLDERS: Final = frozenset({"opportunity_id", "name", "close_date", "account_id"})
_DATE_DIRECTIVES: Final = frozenset("Yymdj")

_FIELD_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# Xero account codes: up to 10 characters, letters and digits (and a few separators).
_ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9._-]{1,10}$")
_TAX_TYPE = re.compile(r"^[A-Za-z0-9_]{0,50}$")
_CURRENCY = re.compile(r"^(?:[A-Z]{3})?$")
MAX_PAYMENT_TERMS_DAYS: Final = 3650


class ConfigError(ValueError):
    """A configuration value that cannot be used; ``field`` names it for the settings form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_number_pattern(pattern: str) -> None:
    """Raise ``ConfigError`` unless ``pattern`` only uses the safe placeholders.

    ``str.format`` can reach attributes and items (``{name.__class__}``); only bare names from
    :data:`NUMBER_PLACEHOLDERS` are allowed, no conversions, and a format spec only on
    ``close_date`` made of ``%Y %y %m %d %j`` and literal text.
    """
    field = "invoice_number_pattern"
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ConfigError(field, f"not a valid pattern ({exc}).") from exc
    used = 0
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in NUMBER_PLACEHOLDERS:
            allowed = ", ".join(f"{{{p}}}" for p in sorted(NUMBER_PLACEHOLDERS))
            raise ConfigError(field, f"unknown placeholder {{{name}}}; use {allowed}.")
        if conversion:
            raise ConfigError(field, f"placeholder {{{name}}} must not use a conversion (!).")
        if spec:
            if name != "close_date":
                raise ConfigError(field, f"only {{close_date}} takes a format, not {{{name}}}.")
            _validate_date_spec(spec)
        used += 1
    if not used:
        raise ConfigError(field, "must contain at least one placeholder, e.g. {opportunity_id}.")


def _validate_date_spec(spec: str) -> None:
    if "{" in spec or "}" in spec:
        raise ConfigError("invoice_number_pattern", "a date format must not contain braces.")
    i = 0
    while i < len(spec):
        if spec[i] == "%":
            if i + 1 >= len(spec) or spec[i + 1] not in _DATE_DIRECTIVES:
                raise ConfigError(
                    "invoice_number_pattern",
                    "the date format may only use %Y, %y, %m, %d and %j.",
                )
            i += 2
        else:
            i += 1


@dataclass(frozen=True)
class SyncConfig:
    """What the translation needs to know about one integration's choices."""

    invoice_status: str = "AUTHORISED"
    line_amount_types: str = "Exclusive"
    payment_terms_days: int = 30
    reference_field: str = "Name"
    """An Opportunity field API name whose value becomes the invoice Reference."""
    invoice_number_pattern: str = ""
    """Empty: Xero numbers the invoice from its own sequence."""
    sales_account_code: str = "200"
    """Revenue account for every line and for the items we create."""
    default_tax_type: str = ""
    """Empty: Xero applies the account's default tax."""
    branding_theme_id: str = ""
    default_currency: str = ""
    """The Xero organisation's currency, for opportunities without ``CurrencyIsoCode``."""
    create_missing_items: bool = True
    contact_name_collision: str = "suffix"
    """See :data:`NAME_COLLISION_RULES`."""
    stage: str = ""
    """A StageName that counts as won; empty: ``IsWon = true`` (every won stage)."""
    start_date: dt.date | None = None
    """Only opportunities closing on or after this date; older ones need an explicit back-fill."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SyncConfig:
        """Validate stored JSON and fill in defaults; raise ``ConfigError`` naming the field."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError("config", "must be a JSON object.")
        defaults = cls()

        def text(name: str) -> str:
            value = data.get(name, getattr(defaults, name))
            if not isinstance(value, str):
                raise ConfigError(name, "must be text.")
            return value.strip()

        def choice(name: str, options: tuple[str, ...]) -> str:
            value = text(name)
            if value not in options:
                raise ConfigError(name, f"must be one of {', '.join(options)}, not {value!r}.")
            return value

        def matching(name: str, pattern: re.Pattern[str], hint: str) -> str:
            value = text(name)
            if not pattern.match(value):
                raise ConfigError(name, f"{hint}, not {value!r}.")
            return value

        terms = data.get("payment_terms_days", defaults.payment_terms_days)
        if isinstance(terms, bool) or not isinstance(terms, int):
            raise ConfigError("payment_terms_days", "must be a whole number of days.")
        if not 0 <= terms <= MAX_PAYMENT_TERMS_DAYS:
            raise ConfigError(
                "payment_terms_days", f"must be between 0 and {MAX_PAYMENT_TERMS_DAYS} days."
            )

        pattern = text("invoice_number_pattern")
        if pattern:
            validate_number_pattern(pattern)

        theme = text("branding_theme_id")
        if theme:
            try:
                theme = str(uuid.UUID(theme))
            except ValueError as exc:
                raise ConfigError("branding_theme_id", "must be a Xero BrandingThemeID.") from exc

        create_items = data.get("create_missing_items", defaults.create_missing_items)
        if not isinstance(create_items, bool):
            raise ConfigError("create_missing_items", "must be true or false.")

        stage = text("stage")
        if len(stage) > 255:
            raise ConfigError("stage", "must be a Salesforce stage name (at most 255 characters).")
        raw_start = data.get("start_date")
        start: dt.date | None = None
        if raw_start not in (None, ""):
            try:
                start = dt.date.fromisoformat(str(raw_start))
            except ValueError as exc:
                raise ConfigError("start_date", "must be a date (YYYY-MM-DD) or empty.") from exc

        return cls(
            invoice_status=choice("invoice_status", INVOICE_STATUSES),
            line_amount_types=choice("line_amount_types", LINE_AMOUNT_TYPES),
            payment_terms_days=terms,
            reference_field=matching(
                "reference_field", _FIELD_API_NAME, "must be a Salesforce field API name"
            ),
            invoice_number_pattern=pattern,
            sales_account_code=matching(
                "sales_account_code", _ACCOUNT_CODE, "must be a Xero account code (max 10)"
            ),
            default_tax_type=matching(
                "default_tax_type", _TAX_TYPE, "must be a Xero TaxType code or empty"
            ),
            branding_theme_id=theme,
            default_currency=matching(
                "default_currency", _CURRENCY, "must be a 3-letter currency code or empty"
            ),
            create_missing_items=create_items,
            contact_name_collision=choice("contact_name_collision", NAME_COLLISION_RULES),
            stage=stage,
            start_date=start,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON to store; ``from_json(to_json())`` gives back an equal config."""
        return {
            "invoice_status": self.invoice_status,
            "line_amount_types": self.line_amount_types,
            "payment_terms_days": self.payment_terms_days,
            "reference_field": self.reference_field,
            "invoice_number_pattern": self.invoice_number_pattern,
            "sales_account_code": self.sales_account_code,
            "default_tax_type": self.default_tax_type,
            "branding_theme_id": self.branding_theme_id,
            "default_currency": self.default_currency,
            "create_missing_items": self.create_missing_items,
            "contact_name_collision": self.contact_name_collision,
            "stage": self.stage,
            "start_date": self.start_date.isoformat() if self.start_date else "",
        }

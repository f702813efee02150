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
# How each line's TaxType is chosen: "xero_default" sends none (Xero applies the item's or the
# account's default); "single" sends default_tax_type; "rules" picks by the customer's billing
# country and region (integrations.rules.tax); "field" reads a Salesforce field holding the code.
TAX_MODES: Final = ("xero_default", "single", "rules", "field")
# A negative line item: kept as a negative line on the invoice, or moved to a credit note.
NEGATIVE_LINE_RULES: Final = ("line", "credit_note")

# Placeholders an invoice number pattern may use; `close_date` alone takes a strftime format.
NUMBER_PLACEHOLDERS: Final = frozenset({"opportunity_id", "name", "close_date", "account_id"})
_DATE_DIRECTIVES: Final = frozenset("Yymdj")

_FIELD_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# An Opportunity field, or a field of its Account (``Account.Tax_Code__c``).
_FIELD_OR_ACCOUNT_FIELD = re.compile(r"^(?:Account\.)?[A-Za-z][A-Za-z0-9_]{0,79}$")
# Salesforce picklist values hold at most 255 characters.
MAX_PICKLIST_VALUE: Final = 255
# Xero account codes: up to 10 characters, letters and digits (and a few separators).
_ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9._-]{1,10}$")
_TAX_TYPE = re.compile(r"^[A-Za-z0-9_]{0,50}$")
_CURRENCY = re.compile(r"^(?:[A-Z]{3})?$")
MAX_PAYMENT_TERMS_DAYS: Final = 3650

# What the write-back can copy from Xero onto the opportunity, by the kind of value each is.
WRITEBACK_SOURCES: Final[dict[str, str]] = {
    "xero_invoice_number": "text",
    "xero_invoice_status": "text",
    "xero_amount_due": "money",
    "xero_amount_paid": "money",
    "xero_credited_amount": "money",
    "xero_fully_paid_date": "date",
    "xero_invoice_url": "url",
}
# The Salesforce field types that can hold each kind of value.
WRITEBACK_FIELD_TYPES: Final[dict[str, frozenset[str]]] = {
    "text": frozenset({"string", "textarea", "picklist"}),
    "url": frozenset({"url", "string", "textarea"}),
    "money": frozenset({"currency", "double"}),
    "date": frozenset({"date"}),
}


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
    stage_confirmed: str = ""
    """The stage a person confirmed though Salesforce does not mark it won (see the setup
    check); a confirmation of another stage does not count."""
    start_date: dt.date | None = None
    """Only opportunities closing on or after this date; older ones need an explicit back-fill."""
    payment_method_field: str = ""
    """An Opportunity field (a picklist such as ``Payment_Method__c``) naming the payment
    method; empty: every opportunity takes ``default_payment_method``."""
    default_payment_method: str = ""
    """The payment method of opportunities whose field is blank; empty: none (no payment)."""
    tax_mode: str = ""
    """See :data:`TAX_MODES`. Left empty it is inferred: "single" when ``default_tax_type`` is
    set (what configurations written before tax modes existed meant), else "xero_default"."""
    tax_field: str = ""
    """Field mode: the field holding a TaxType or tax rate name; ``Account.X__c`` reads the
    Account's field."""
    export_tax_type: str = ""
    """Rules mode: the TaxType for customers outside the organisation's country when no rule
    names their country (e.g. zero-rated exports); empty: none."""
    credit_note_on_withdrawal: bool = False
    """Raise a credit note when an invoiced opportunity is reopened, lost or deleted."""
    void_unpaid_instead: bool = True
    """For those: void (AUTHORISED) or delete (DRAFT) an unpaid invoice instead of crediting it."""
    credit_note_on_amount_drop: bool = False
    """Credit the difference when the amount falls after the invoice was paid."""
    negative_lines: str = "line"
    """See :data:`NEGATIVE_LINE_RULES`."""
    enable_missing_currencies: bool = False
    """Enable in Xero a currency an opportunity uses that is not enabled yet (else: log it)."""
    use_salesforce_rates: bool = False
    """Send Salesforce's conversion rate as the invoice CurrencyRate; else Xero's daily rate."""
    writeback_enabled: bool = False
    """Copy what Xero says of the invoice (number, status, amounts...) onto the opportunity."""
    writeback_fields: tuple[tuple[str, str], ...] = ()
    """(source, Opportunity field API name) pairs, sources from :data:`WRITEBACK_SOURCES`, in
    that order; a tuple (not a dict) so the config stays hashable. Stored as a JSON object."""

    @property
    def writeback_map(self) -> dict[str, str]:
        """Source → Opportunity field."""
        return dict(self.writeback_fields)

    @property
    def writeback_on(self) -> bool:
        return self.writeback_enabled and bool(self.writeback_fields)

    def __post_init__(self) -> None:
        # Inferred here rather than in from_json, so that a SyncConfig built in code
        # (SyncConfig(default_tax_type="TAX001")) means what the same stored JSON means.
        if not self.tax_mode:
            object.__setattr__(
                self, "tax_mode", "single" if self.default_tax_type else "xero_default"
            )

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

        def optional(name: str, pattern: re.Pattern[str], hint: str) -> str:
            value = text(name)
            if value and not pattern.match(value):
                raise ConfigError(name, f"{hint}, not {value!r}.")
            return value

        def flag(name: str) -> bool:
            value = data.get(name, getattr(defaults, name))
            if not isinstance(value, bool):
                raise ConfigError(name, "must be true or false.")
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

        create_items = flag("create_missing_items")

        stage = text("stage")
        if len(stage) > 255:
            raise ConfigError("stage", "must be a Salesforce stage name (at most 255 characters).")
        stage_confirmed = text("stage_confirmed")
        if len(stage_confirmed) > 255:
            raise ConfigError("stage_confirmed", "must be a Salesforce stage name.")
        raw_start = data.get("start_date")
        start: dt.date | None = None
        if raw_start not in (None, ""):
            try:
                start = dt.date.fromisoformat(str(raw_start))
            except ValueError as exc:
                raise ConfigError("start_date", "must be a date (YYYY-MM-DD) or empty.") from exc

        default_tax_type = matching(
            "default_tax_type", _TAX_TYPE, "must be a Xero TaxType code or empty"
        )
        tax_field = optional(
            "tax_field",
            _FIELD_OR_ACCOUNT_FIELD,
            "must be a Salesforce field API name (or Account.<field>) or empty",
        )
        tax_mode = text("tax_mode") if "tax_mode" in data else ""
        if not tax_mode:
            tax_mode = "single" if default_tax_type else "xero_default"
        if tax_mode not in TAX_MODES:
            raise ConfigError(
                "tax_mode", f"must be one of {', '.join(TAX_MODES)}, not {tax_mode!r}."
            )
        if tax_mode == "single" and not default_tax_type:
            raise ConfigError(
                "default_tax_type", "choose the tax rate every line uses (tax mode 'single')."
            )
        if tax_mode == "field" and not tax_field:
            raise ConfigError(
                "tax_field", "choose the Salesforce field holding the tax code (tax mode 'field')."
            )
        payment_method_field = optional(
            "payment_method_field", _FIELD_API_NAME, "must be a Salesforce field API name or empty"
        )
        default_payment_method = text("default_payment_method")
        if len(default_payment_method) > MAX_PICKLIST_VALUE:
            raise ConfigError(
                "default_payment_method",
                f"must be a payment method name (at most {MAX_PICKLIST_VALUE} characters).",
            )

        return cls(
            writeback_enabled=flag("writeback_enabled"),
            writeback_fields=_writeback_fields(data.get("writeback_fields")),
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
            default_tax_type=default_tax_type,
            branding_theme_id=theme,
            default_currency=matching(
                "default_currency", _CURRENCY, "must be a 3-letter currency code or empty"
            ),
            create_missing_items=create_items,
            contact_name_collision=choice("contact_name_collision", NAME_COLLISION_RULES),
            stage=stage,
            stage_confirmed=stage_confirmed,
            start_date=start,
            payment_method_field=payment_method_field,
            default_payment_method=default_payment_method,
            tax_mode=tax_mode,
            tax_field=tax_field,
            export_tax_type=optional(
                "export_tax_type", _TAX_TYPE, "must be a Xero TaxType code or empty"
            ),
            credit_note_on_withdrawal=flag("credit_note_on_withdrawal"),
            void_unpaid_instead=flag("void_unpaid_instead"),
            credit_note_on_amount_drop=flag("credit_note_on_amount_drop"),
            negative_lines=choice("negative_lines", NEGATIVE_LINE_RULES),
            enable_missing_currencies=flag("enable_missing_currencies"),
            use_salesforce_rates=flag("use_salesforce_rates"),
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
            "stage_confirmed": self.stage_confirmed,
            "start_date": self.start_date.isoformat() if self.start_date else "",
            "payment_method_field": self.payment_method_field,
            "default_payment_method": self.default_payment_method,
            "tax_mode": self.tax_mode,
            "tax_field": self.tax_field,
            "export_tax_type": self.export_tax_type,
            "credit_note_on_withdrawal": self.credit_note_on_withdrawal,
            "void_unpaid_instead": self.void_unpaid_instead,
            "credit_note_on_amount_drop": self.credit_note_on_amount_drop,
            "negative_lines": self.negative_lines,
            "enable_missing_currencies": self.enable_missing_currencies,
            "use_salesforce_rates": self.use_salesforce_rates,
            "writeback_enabled": self.writeback_enabled,
            "writeback_fields": self.writeback_map,
        }


def _writeback_fields(raw: Any) -> tuple[tuple[str, str], ...]:
    """The stored mapping, checked: known sources, field API names, no field written twice.
    Sources mapped to "" (none) are left out."""
    name = "writeback_fields"
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigError(name, "must map each Xero value to an Opportunity field.")
    chosen: dict[str, str] = {}
    for source, target in raw.items():
        if source not in WRITEBACK_SOURCES:
            raise ConfigError(name, f"unknown Xero value {source!r}.")
        if not isinstance(target, str):
            raise ConfigError(name, f"{source}: must be a Salesforce field API name.")
        target = target.strip()
        if not target:
            continue
        if not _FIELD_API_NAME.match(target):
            raise ConfigError(name, f"{source}: {target!r} is not a Salesforce field API name.")
        if target in chosen.values():
            raise ConfigError(name, f"Opportunity.{target} is chosen for two Xero values.")
        chosen[source] = target
    return tuple((source, chosen[source]) for source in WRITEBACK_SOURCES if source in chosen)

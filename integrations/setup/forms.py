"""The setup wizard's forms, built per request from what Xero and Salesforce hold.

Each step form edits a few SyncConfig keys; :meth:`StepForm.config_data` gives them as the JSON
``config_update`` stores, and :meth:`StepForm.add_config_error` puts a ``ConfigError`` at its
field. Rule forms edit one row of a rule table and validate it through the model's
``full_clean()`` and constraints. Labels and help come from :mod:`integrations.setup.help`.

Dropdowns list what the customer's systems hold; a stored value missing from a list stays
selectable, marked as not found. Without a list (a system not connected or not readable), a
field falls back to a text box so the form still works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.utils import ErrorDict

from accounts.forms import PlainLabelsMixin
from integrations.core.config import (
    MAX_PAYMENT_TERMS_DAYS,
    ConfigError,
    SyncConfig,
    validate_number_pattern,
)
from integrations.core.models import Integration
from integrations.rules.countries import ISO_CODES, country_name
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.setup import sources as src
from integrations.setup.help import Help, help_for
from integrations.setup.sources import SALESFORCE, XERO, Choices, Sources

MAX_MAPPING_ROWS = 200
SWITCH = {"role": "switch"}


def _note(provider: str) -> str:
    name = src.PROVIDER_NAMES[provider]
    return f"(No list from {name} yet: type it as {name} shows it.)"


@dataclass(frozen=True)
class FieldHelp:
    """A bound field with its help, for the templates."""

    field: forms.BoundField
    help: Help
    anchor: str


class HelpMixin:
    """Labels and help text from :mod:`integrations.setup.help`; read-only on request."""

    fields: dict[str, forms.Field]
    help_prefix: ClassVar[str] = ""
    fallback_notes: dict[str, str]
    # Provided by Django's forms.
    is_bound: bool
    data: Any
    _errors: ErrorDict | None
    add_prefix: Callable[[str], str]
    # Each form knows where its values are stored (the config, or the rule row).
    saved: Callable[[str], str]

    def current(self, name: str) -> str:
        """The field's value: as posted when bound, else as stored."""
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name)) or "").strip()
        return self.saved(name)

    def silence(self) -> None:
        """Shows posted values without validating them (a form re-drawn after a change)."""
        self._errors = ErrorDict()

    def _apply_help(self, read_only: bool) -> None:
        for name, field in self.fields.items():
            info = self.help_of(name)
            if info is not None:
                field.label = info.label
                note = self.fallback_notes.get(name, "")
                field.help_text = f"{info.short} {note}".strip()
            if read_only:
                field.disabled = True

    def help_of(self, name: str) -> Help | None:
        try:
            return help_for(f"{self.help_prefix}{name}")
        except KeyError:
            return None

    def _choice(
        self,
        name: str,
        choices: Choices | None,
        *,
        current: str,
        provider: str,
        blank: str | None = None,
        max_length: int = 255,
    ) -> forms.Field:
        """A dropdown of ``choices`` (keeping ``current``); a text box when there is no list."""
        if choices is None:
            self.fallback_notes[name] = _note(provider)
            return forms.CharField(required=blank is None, max_length=max_length)
        options: list[Any] = [("", blank)] if blank is not None else []
        options += src.with_current(choices, current, provider)
        return forms.ChoiceField(choices=options, required=blank is None)


# --- Config steps ------------------------------------------------------------------------------


class StepForm(HelpMixin, PlainLabelsMixin, forms.Form):
    """A step's SyncConfig keys; subclasses add their fields in :meth:`build`."""

    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        stored: Mapping[str, Any],
        integration: Integration,
        sources: Sources,
        read_only: bool = False,
        reload_url: str = "",
    ) -> None:
        super().__init__(data, initial={k: stored[k] for k in self.keys if k in stored})
        self.stored = stored
        self.integration = integration
        self.sources = sources
        self.reload_url = reload_url
        self.fallback_notes = {}
        self.build()
        self._apply_help(read_only)

    def build(self) -> None:
        """Adds the step's fields (choices from ``self.sources``)."""

    def saved(self, name: str) -> str:
        """The stored value: kept selectable even when Xero or Salesforce no longer has it."""
        return str(self.stored.get(name) or "")

    def config_data(self) -> dict[str, Any]:
        """The cleaned values as SyncConfig's JSON."""
        data: dict[str, Any] = {}
        for key in self.keys:
            value = self.cleaned_data.get(key)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif value is None:
                value = ""
            elif isinstance(value, str):
                value = value.strip()
            data[key] = value
        return data

    def add_config_error(self, error: ConfigError) -> None:
        """A ``ConfigError`` at its field, or above the form when it is another step's."""
        message = error.message[:1].upper() + error.message[1:]
        if error.field in self.fields:
            self.add_error(error.field, message)
        else:
            info = self.help_of(error.field)
            label = info.label if info else error.field
            self.add_error(None, f"{label}: {error.message}")

    def rows(self) -> list[FieldHelp]:
        out = []
        for name in self.fields:
            info = self.help_of(name) or Help(str(self.fields[name].label or name), "")
            out.append(FieldHelp(self[name], info, f"field-{name}"))
        return out

    def reload_attrs(self) -> dict[str, str]:
        """htmx: re-draw the form (not saving) when this field changes."""
        if not self.reload_url:
            return {}
        return {
            "hx-post": self.reload_url,
            "hx-trigger": "change",
            "hx-target": "#step-form",
            "hx-select": "#step-form",
            "hx-swap": "outerHTML",
            "hx-vals": '{"_reload": "1"}',
        }


def _radio(choices: Sequence[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(choices=list(choices), widget=forms.RadioSelect)


def _switch() -> forms.BooleanField:
    return forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs=SWITCH))


class OpportunitiesForm(StepForm):
    keys = ("stage", "stage_confirmed", "start_date")

    def build(self) -> None:
        sf = self.sources.salesforce
        self.fields["stage"] = self._choice(
            "stage",
            src.stages(sf) if sf else None,
            current=self.saved("stage"),
            provider=SALESFORCE,
            blank="Any won stage (Salesforce's Won flag)",
        )
        self.fields["stage_confirmed"] = _switch()
        # Stored as the stage confirmed: a confirmation of another stage is not one of this.
        confirmed = self.saved("stage_confirmed")
        self.initial["stage_confirmed"] = bool(confirmed) and (
            confirmed.casefold() == self.saved("stage").casefold()
        )
        self.fields["start_date"] = forms.DateField(
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            error_messages={"invalid": "Enter the date as YYYY-MM-DD."},
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        stage = str(cleaned.get("stage") or "")
        sf = self.sources.salesforce
        info = sf.stage(stage) if sf and stage else None
        if info is not None and info.lost:
            self.add_error(
                "stage",
                f"Salesforce marks {stage!r} as closed and not won (lost): deals that were lost "
                "would be invoiced. Choose a won stage.",
            )
        elif info is not None and not info.won and not cleaned.get("stage_confirmed"):
            self.add_error(
                "stage_confirmed",
                f"Salesforce does not mark {stage!r} as won, so deals would be invoiced while "
                "still open. Tick this to confirm that is what you want, or choose a won stage.",
            )
        return cleaned

    def config_data(self) -> dict[str, Any]:
        data = super().config_data()
        data["stage_confirmed"] = data["stage"] if data.get("stage_confirmed") else ""
        return data


class CustomersForm(StepForm):
    keys = ("contact_name_collision", "create_missing_items")

    def build(self) -> None:
        self.fields["contact_name_collision"] = _radio(
            [
                ("suffix", "Add the Account id: a separate contact “Name (Account id)”"),
                ("link", "Use that contact: address the invoice to it anyway"),
            ]
        )
        self.fields["create_missing_items"] = _switch()


class InvoicesForm(StepForm):
    keys = (
        "invoice_status",
        "invoice_number_pattern",
        "reference_field",
        "payment_terms_days",
        "branding_theme_id",
        "sales_account_code",
        "line_amount_types",
    )

    def build(self) -> None:
        xero, sf = self.sources.xero, self.sources.salesforce
        self.fields["invoice_status"] = _radio(
            [
                ("DRAFT", "Draft"),
                ("SUBMITTED", "Awaiting approval (Submitted)"),
                ("AUTHORISED", "Approved (Authorised)"),
            ]
        )
        self.fields["invoice_number_pattern"] = forms.CharField(
            required=False,
            max_length=100,
            widget=forms.TextInput(attrs={"placeholder": "Xero's own numbering"}),
        )
        self.fields["reference_field"] = self._choice(
            "reference_field",
            src.reference_fields(sf) if sf else None,
            current=self.saved("reference_field"),
            provider=SALESFORCE,
            max_length=80,
        )
        self.fields["payment_terms_days"] = forms.IntegerField(
            min_value=0, max_value=MAX_PAYMENT_TERMS_DAYS
        )
        self.fields["branding_theme_id"] = self._choice(
            "branding_theme_id",
            src.branding_themes(xero) if xero else None,
            current=self.saved("branding_theme_id"),
            provider=XERO,
            blank="Xero's default theme",
            max_length=36,
        )
        self.fields["sales_account_code"] = self._choice(
            "sales_account_code",
            src.revenue_accounts(xero) if xero else None,
            current=self.saved("sales_account_code"),
            provider=XERO,
            max_length=10,
        )
        self.fields["line_amount_types"] = _radio(
            [
                ("Exclusive", "Tax exclusive: Xero adds tax to the Salesforce prices"),
                ("Inclusive", "Tax inclusive: Salesforce prices include tax"),
                ("NoTax", "No tax"),
            ]
        )

    def clean_invoice_number_pattern(self) -> str:
        pattern = str(self.cleaned_data.get("invoice_number_pattern") or "").strip()
        if pattern:
            try:
                validate_number_pattern(pattern)
            except ConfigError as exc:
                raise ValidationError(exc.message[:1].upper() + exc.message[1:]) from exc
        return pattern


class PaymentsForm(StepForm):
    keys = ("payment_method_field", "default_payment_method")

    def build(self) -> None:
        sf = self.sources.salesforce
        field = self.current("payment_method_field")
        self.fields["payment_method_field"] = self._choice(
            "payment_method_field",
            src.picklist_fields(sf) if sf else None,
            current=self.saved("payment_method_field"),
            provider=SALESFORCE,
            blank="None: every opportunity takes the default payment method",
            max_length=80,
        )
        self.fields["payment_method_field"].widget.attrs.update(self.reload_attrs())
        names = list(src.picklist_values(sf, field))
        rows = list(
            PaymentMethod.objects.filter(integration=self.integration).values_list(
                "name", flat=True
            )
        )
        names += [n for n in rows if n.casefold() not in {v.casefold() for v in names}]
        self.fields["default_payment_method"] = self._choice(
            "default_payment_method",
            [(n, n) for n in names] if (names or sf) else None,
            current=self.saved("default_payment_method"),
            provider=SALESFORCE,
            blank="None: such opportunities are invoiced without a payment",
        )


class TaxForm(StepForm):
    keys = ("tax_mode", "default_tax_type", "tax_field", "export_tax_type")

    def build(self) -> None:
        xero, sf = self.sources.xero, self.sources.salesforce
        self.fields["tax_mode"] = _radio(
            [
                ("xero_default", "Leave it to Xero (the account's or item's own tax rate)"),
                ("single", "One tax rate for every line"),
                ("rules", "By the customer's location (tax rules below)"),
                ("field", "From a Salesforce field holding the tax code"),
            ]
        )
        rates = src.sales_tax_rates(xero) if xero else None
        self.fields["default_tax_type"] = self._choice(
            "default_tax_type",
            rates,
            current=self.saved("default_tax_type"),
            provider=XERO,
            blank="None",
            max_length=50,
        )
        self.fields["tax_field"] = self._choice(
            "tax_field",
            src.text_fields_with_account(sf) if sf else None,
            current=self.saved("tax_field"),
            provider=SALESFORCE,
            blank="None",
            max_length=90,
        )
        self.fields["export_tax_type"] = self._choice(
            "export_tax_type",
            rates,
            current=self.saved("export_tax_type"),
            provider=XERO,
            blank="None: the default tax rate",
            max_length=50,
        )


class CurrenciesForm(StepForm):
    keys = ("default_currency", "enable_missing_currencies", "use_salesforce_rates")

    def build(self) -> None:
        xero = self.sources.xero
        self.fields["default_currency"] = self._choice(
            "default_currency",
            src.currencies(xero) if xero else None,
            current=self.saved("default_currency"),
            provider=XERO,
            blank="The Xero organisation's base currency",
            max_length=3,
        )
        self.fields["enable_missing_currencies"] = _switch()
        self.fields["use_salesforce_rates"] = _switch()

    def clean_default_currency(self) -> str:
        return str(self.cleaned_data.get("default_currency") or "").strip().upper()


class TrackingForm(StepForm):
    """No settings of its own: the tracking rules are the step."""


class CreditNotesForm(StepForm):
    keys = (
        "credit_note_on_withdrawal",
        "void_unpaid_instead",
        "credit_note_on_amount_drop",
        "negative_lines",
    )

    def build(self) -> None:
        self.fields["credit_note_on_withdrawal"] = _switch()
        self.fields["void_unpaid_instead"] = _switch()
        self.fields["credit_note_on_amount_drop"] = _switch()
        self.fields["negative_lines"] = _radio(
            [
                ("line", "Keep them on the invoice"),
                ("credit_note", "Move them to a credit note"),
            ]
        )


STEP_FORMS: dict[str, type[StepForm]] = {
    "opportunities": OpportunitiesForm,
    "customers": CustomersForm,
    "invoices": InvoicesForm,
    "payments": PaymentsForm,
    "tax": TaxForm,
    "currencies": CurrenciesForm,
    "tracking": TrackingForm,
    "credit_notes": CreditNotesForm,
}


# --- Mapping tables (inside a rule row) ---------------------------------------------------------


class MappingInput(forms.Widget):
    """Reads rows ``<name>-<i>-key`` / ``<name>-<i>-value`` for ``i < <name>-rows``.

    The rows are drawn by the rule row's template (see :meth:`RuleForm.mapping_rows`), not by
    this widget. Rows without a value are left out: emptying a value removes the row.
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in posted_rows(data, name) if v]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


def posted_rows(data: Any, name: str) -> list[tuple[str, str]]:
    try:
        count = min(int(data.get(f"{name}-rows") or 0), MAX_MAPPING_ROWS)
    except (TypeError, ValueError):
        count = 0
    return [
        (
            str(data.get(f"{name}-{i}-key") or "").strip(),
            str(data.get(f"{name}-{i}-value") or "").strip(),
        )
        for i in range(count)
    ]


class MappingField(forms.Field):
    """Key → value pairs from :class:`MappingInput`; a key listed twice is an error here (a
    dict would silently keep one)."""

    widget = MappingInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        out: dict[str, str] = {}
        for key, item in value or []:
            if key in out:
                raise ValidationError(f"{key!r} is listed twice: keep one row.")
            out[key] = item
        return out

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)


@dataclass(frozen=True)
class MappingRow:
    index: int
    key: str
    value: str
    fixed: bool
    """The key comes from a list (currencies, picklist values): shown, not typed."""
    key_name: str
    value_name: str
    choices: Choices | None
    """A dropdown for the value (keeping the stored one); None: a text box."""


# --- Rule rows ---------------------------------------------------------------------------------


class RuleForm(HelpMixin, PlainLabelsMixin, forms.ModelForm):  # type: ignore[type-arg]
    """One row of a rule table. ``full_clean()`` of the model runs through the ModelForm;
    :meth:`validate_row` adds the table's constraints (unique names, places, categories)."""

    table: ClassVar[str]
    mapping_name: ClassVar[str] = ""
    mapping_key_label: ClassVar[str] = ""
    mapping_value_label: ClassVar[str] = ""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        instance: models.Model,
        integration: Integration,
        config: SyncConfig,
        sources: Sources,
        read_only: bool = False,
        rules_url: str = "",
        action: str = "",
    ) -> None:
        prefix = f"{self.table}-{instance.pk or 'new'}"
        super().__init__(data, instance=instance, prefix=prefix)
        self.instance.integration = integration
        self.integration = integration
        self.config = config
        self.sources = sources
        self.read_only = read_only
        self.rules_url = rules_url
        self.action = action
        self.fallback_notes = {}
        self.build()
        self._apply_help(read_only)

    @property
    def anchor(self) -> str:
        return f"rule-{self.prefix}"

    def build(self) -> None:
        """Replaces the model's fields by ones fed from Xero and Salesforce."""

    def saved(self, name: str) -> str:
        """The saved row's value: kept selectable even when no longer in Xero or Salesforce."""
        if self.instance.pk is None:
            return ""
        return str(getattr(self.instance, name, "") or "")

    def reload_attrs(self) -> dict[str, str]:
        """htmx: re-draw this row (not saving) when the field changes."""
        if not self.rules_url:
            return {}
        return {
            "hx-post": self.rules_url,
            "hx-trigger": "change",
            "hx-target": f"#rules-{self.table}",
            "hx-swap": "outerHTML",
            "hx-vals": '{"action": "reload"}',
        }

    def validate_row(self) -> bool:
        """``is_valid()`` plus the table's constraints, checked against the saved rows."""
        if not self.is_valid():
            return False
        try:
            self.instance.validate_constraints()
        except ValidationError as exc:
            self.add_error(None, exc)
        return not self.errors

    def simple_rows(self) -> list[FieldHelp]:
        out = []
        for name in self.fields:
            if name == self.mapping_name:
                continue
            info = self.help_of(name) or Help(str(self.fields[name].label or name), "")
            out.append(FieldHelp(self[name], info, f"{self.anchor}-{name}"))
        return out

    def mapping_help(self) -> Help | None:
        return self.help_of(self.mapping_name) if self.mapping_name else None

    # Mapping rows -----------------------------------------------------------------------------

    def mapping_keys(self) -> list[str]:
        """Keys offered as fixed rows (currencies, picklist values)."""
        return []

    def mapping_value_choices(self) -> Choices | None:
        """A dropdown for the values; None: a text box (with suggestions)."""
        return None

    def mapping_key_suggestions(self) -> list[str]:
        return []

    def mapping_errors(self) -> list[str]:
        if not self.mapping_name or not self.is_bound:
            return []
        return [str(e) for e in self.errors.get(self.mapping_name) or []]

    def mapping_rows(self) -> list[MappingRow]:
        if not self.mapping_name:
            return []
        name = self.add_prefix(self.mapping_name)
        fixed = self.mapping_keys()
        pairs: list[tuple[str, str]]
        if self.is_bound:
            pairs = posted_rows(self.data, name)
            if self.action.startswith("drop:"):
                try:
                    dropped = int(self.action.removeprefix("drop:"))
                except ValueError:
                    dropped = -1
                pairs = [p for i, p in enumerate(pairs) if i != dropped]
            # A changed field or category brings its own fixed keys.
            known = {k for k, _ in pairs}
            pairs += [(k, "") for k in fixed if k not in known]
            if self.action == "more":
                pairs.append(("", ""))
            if not any(not k and not v for k, v in pairs):
                pairs.append(("", ""))
        else:
            stored = {
                str(k): str(v) for k, v in dict(self.initial.get(self.mapping_name) or {}).items()
            }
            pairs = [(k, stored.get(k, "")) for k in fixed]
            pairs += [(k, v) for k, v in stored.items() if k not in fixed]
            pairs.append(("", ""))
        fixed_set = set(fixed)
        choices = self.mapping_value_choices()
        return [
            MappingRow(
                index=i,
                key=key,
                value=value,
                fixed=bool(key) and key in fixed_set,
                key_name=f"{name}-{i}-key",
                value_name=f"{name}-{i}-value",
                choices=src.with_current(choices, value, XERO) if choices is not None else None,
            )
            for i, (key, value) in enumerate(pairs)
        ]

    def mapping_count_name(self) -> str:
        return f"{self.add_prefix(self.mapping_name)}-rows"


class PaymentMethodForm(RuleForm):
    table = "payment_methods"
    help_prefix = "payment_methods."
    mapping_name = "currency_accounts"
    mapping_key_label = "Currency"
    mapping_value_label = "Account"

    class Meta:
        model = PaymentMethod
        fields = (
            "name",
            "create_invoice",
            "apply_payment",
            "bank_account_code",
            "currency_accounts",
            "clearing_delay_days",
            "invoice_status",
            "payment_terms_days",
        )

    def build(self) -> None:
        xero, sf = self.sources.xero, self.sources.salesforce
        values = src.picklist_values(sf, self.config.payment_method_field)
        name = self.saved("name")
        if values:
            taken = {
                n.casefold()
                for n in PaymentMethod.objects.filter(integration=self.integration)
                .exclude(pk=self.instance.pk)
                .values_list("name", flat=True)
            }
            free = [(v, v) for v in values if v.casefold() not in taken]
            options: list[Any] = [("", "Choose a payment method")]
            options += src.with_current(free, name, SALESFORCE)
            self.fields["name"] = forms.ChoiceField(choices=options)
        else:
            self.fields["name"] = forms.CharField(max_length=255)
        self.fields["create_invoice"].widget = forms.CheckboxInput(attrs=SWITCH)
        self.fields["apply_payment"].widget = forms.CheckboxInput(attrs=SWITCH)
        self.fields["bank_account_code"] = self._choice(
            "bank_account_code",
            src.payment_accounts(xero) if xero else None,
            current=self.saved("bank_account_code"),
            provider=XERO,
            blank="None",
            max_length=10,
        )
        self.fields["currency_accounts"] = MappingField()
        self.fields["payment_terms_days"].widget.attrs["placeholder"] = "As the integration"

    def mapping_keys(self) -> list[str]:
        xero = self.sources.xero
        if xero is None:
            return []
        return sorted(c for c in xero.currencies if c != xero.base_currency)

    def mapping_value_choices(self) -> Choices | None:
        xero = self.sources.xero
        if xero is None:
            return None
        return [("", "The bank account above"), *src.payment_accounts(xero)]

    def mapping_key_suggestions(self) -> list[str]:
        xero = self.sources.xero
        return sorted(xero.currencies) if xero else []


class TaxRuleForm(RuleForm):
    table = "tax_rules"
    help_prefix = "tax_rules."

    class Meta:
        model = TaxRule
        fields = ("country", "region", "tax_type")

    def build(self) -> None:
        xero = self.sources.xero
        self.fields["country"].widget.attrs["list"] = "setup-countries"
        self.fields["country"].widget.attrs["autocomplete"] = "off"
        self.fields["tax_type"] = self._choice(
            "tax_type",
            src.sales_tax_rates(xero) if xero else None,
            current=self.saved("tax_type"),
            provider=XERO,
            max_length=50,
        )


def country_choices() -> list[tuple[str, str]]:
    """ISO codes with their English names, for the country suggestions."""
    return sorted(((c, country_name(c)) for c in ISO_CODES), key=lambda item: item[1])


class TrackingRuleForm(RuleForm):
    table = "tracking_rules"
    help_prefix = "tracking_rules."
    mapping_name = "mapping"
    mapping_key_label = "Salesforce value"
    mapping_value_label = "Xero option"

    class Meta:
        model = TrackingRule
        fields = (
            "category_name",
            "source",
            "fixed_option",
            "field",
            "mapping",
            "create_missing_options",
        )

    def build(self) -> None:
        xero, sf = self.sources.xero, self.sources.salesforce
        self.fields["category_name"] = self._choice(
            "category_name",
            src.tracking_categories(xero) if xero else None,
            current=self.saved("category_name"),
            provider=XERO,
            max_length=100,
        )
        self.fields["category_name"].widget.attrs.update(self.reload_attrs())
        self.fields["source"].widget = forms.RadioSelect(choices=TrackingRule.Source.choices)
        self.fields["fixed_option"].widget.attrs["list"] = f"{self.anchor}-options"
        self.fields["fixed_option"].widget.attrs["autocomplete"] = "off"
        self.fields["field"] = self._choice(
            "field",
            src.text_fields_with_account(sf, owner=True) if sf else None,
            current=self.saved("field"),
            provider=SALESFORCE,
            blank="None (always the same option)",
            max_length=100,
        )
        self.fields["field"].widget.attrs.update(self.reload_attrs())
        self.fields["mapping"] = MappingField()
        self.fields["create_missing_options"].widget = forms.CheckboxInput(attrs=SWITCH)

    def options(self) -> list[str]:
        """The Xero options of the row's category (of every category when not chosen yet)."""
        xero = self.sources.xero
        return src.tracking_options(xero, self.current("category_name")) if xero else []

    def mapping_keys(self) -> list[str]:
        return src.picklist_values(self.sources.salesforce, self.current("field"))

    def mapping_key_suggestions(self) -> list[str]:
        return self.mapping_keys()

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        xero = self.sources.xero
        if xero is None or self.cleaned_data.get("create_missing_options"):
            return cleaned
        category = xero.tracking_categories.get(str(self.cleaned_data.get("category_name")))
        if category is None:
            return cleaned
        known = ", ".join(self.options()) or "none yet"
        fixed = str(self.cleaned_data.get("fixed_option") or "").strip()
        is_fixed = self.cleaned_data.get("source") == TrackingRule.Source.FIXED
        if is_fixed and fixed and category.option(fixed) is None:
            self.add_error(
                "fixed_option",
                f"Xero's {category.name} category has no option {fixed!r} (it has "
                f"{known}): choose one, or turn on adding missing options.",
            )
        for value, option in dict(self.cleaned_data.get("mapping") or {}).items():
            if category.option(option) is None:
                self.add_error(
                    "mapping",
                    f"{value!r} maps to {option!r}, which is not an option of Xero's "
                    f"{category.name} category (it has {known}): choose one, or turn on "
                    "adding missing options.",
                )
                break
        return cleaned


RULE_FORMS: dict[str, type[RuleForm]] = {
    "payment_methods": PaymentMethodForm,
    "tax_rules": TaxRuleForm,
    "tracking_rules": TrackingRuleForm,
}
RULE_MODELS: dict[str, type[models.Model]] = {
    "payment_methods": PaymentMethod,
    "tax_rules": TaxRule,
    "tracking_rules": TrackingRule,
}


def rule_label(table: str, row: models.Model) -> str:
    """The row as problems and the audit log name it: ``tax_rules:US/NY``."""
    if isinstance(row, PaymentMethod):
        return f"{table}:{row.name}"
    if isinstance(row, TaxRule):
        place = f"{row.country}/{row.region}" if row.region else row.country
        return f"{table}:{place}"
    if isinstance(row, TrackingRule):
        return f"{table}:{row.category_name}"
    return f"{table}:{row.pk}"


def rule_snapshot(row: models.Model, fields: Sequence[str]) -> dict[str, Any]:
    """The row's editable values, for the audit log's before/after."""
    return {name: getattr(row, name) for name in fields}

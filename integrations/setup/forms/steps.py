"""The configuration steps' forms: each edits a few SyncConfig keys (:meth:`StepForm.config_data`
gives them as ``config_update`` stores them; :meth:`StepForm.add_config_error` puts a
``ConfigError`` at its field)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from accounts.forms import PlainLabelsMixin
from integrations.core.config import (
    MAX_PAYMENT_TERMS_DAYS,
    WRITEBACK_FIELD_TYPES,
    WRITEBACK_SOURCES,
    ConfigError,
    validate_number_pattern,
)
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from integrations.setup import sources as src
from integrations.setup.forms.base import SWITCH, FieldHelp, HelpMixin
from integrations.setup.help import Help
from integrations.setup.sources import SALESFORCE, XERO, Sources


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

    def summary_fields(self) -> list[str]:
        """The fields the review lists: one per SyncConfig key, unless a form says otherwise."""
        return list(self.keys)

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


WRITEBACK_PREFIX = "writeback_fields:"


class WritebackForm(StepForm):
    """On or off, and for each Xero value the Opportunity field it goes to (or none): the
    fields the connected user may edit, of a type that holds the value (describe)."""

    keys = ("writeback_enabled", "writeback_fields")

    def build(self) -> None:
        sf = self.sources.salesforce
        self.fields["writeback_enabled"] = _switch()
        chosen = self.stored.get("writeback_fields") or {}
        chosen = chosen if isinstance(chosen, Mapping) else {}
        for source, kind in WRITEBACK_SOURCES.items():
            name = f"{WRITEBACK_PREFIX}{source}"
            current = str(chosen.get(source) or "")
            self.fields[name] = self._choice(
                name,
                src.writable_fields(sf, WRITEBACK_FIELD_TYPES[kind]) if sf else None,
                current=current,
                provider=SALESFORCE,
                blank="Not written",
                max_length=80,
            )
            self.initial[name] = current

    def summary_fields(self) -> list[str]:
        return list(self.fields)

    def help_of(self, name: str) -> Help | None:
        # ``writeback_fields:<source>`` (the name problems use) has its help at ``.<source>``.
        return super().help_of(name.replace(":", ".", 1))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seen: dict[str, str] = {}
        for source in WRITEBACK_SOURCES:
            name = f"{WRITEBACK_PREFIX}{source}"
            value = str(cleaned.get(name) or "").strip()
            if value and value in seen:
                self.add_error(name, f"Opportunity.{value} is already chosen above.")
            elif value:
                seen[value] = source
        if cleaned.get("writeback_enabled") and not seen:
            self.add_error(
                "writeback_enabled", "Choose at least one field below, or leave write-back off."
            )
        return cleaned

    def config_data(self) -> dict[str, Any]:
        return {
            "writeback_enabled": bool(self.cleaned_data.get("writeback_enabled")),
            "writeback_fields": {
                source: str(self.cleaned_data.get(f"{WRITEBACK_PREFIX}{source}") or "").strip()
                for source in WRITEBACK_SOURCES
                if self.cleaned_data.get(f"{WRITEBACK_PREFIX}{source}")
            },
        }


STEP_FORMS: dict[str, type[StepForm]] = {
    "opportunities": OpportunitiesForm,
    "customers": CustomersForm,
    "invoices": InvoicesForm,
    "payments": PaymentsForm,
    "tax": TaxForm,
    "currencies": CurrenciesForm,
    "tracking": TrackingForm,
    "credit_notes": CreditNotesForm,
    "writeback": WritebackForm,
}

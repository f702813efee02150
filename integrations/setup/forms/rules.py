"""Rule rows: one form per rule table, validated through the model's ``full_clean()`` and
constraints; labels and snapshots for the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from accounts.forms import PlainLabelsMixin
from integrations.core.config import (
    SyncConfig,
)
from integrations.core.models import Integration
from integrations.rules.countries import ISO_CODES, country_name
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.setup import sources as src
from integrations.setup.forms.base import SWITCH, FieldHelp, HelpMixin
from integrations.setup.forms.mapping import MappingField, MappingRow, posted_rows
from integrations.setup.help import Help
from integrations.setup.sources import SALESFORCE, XERO, Choices, Sources


class RuleForm(HelpMixin, PlainLabelsMixin, forms.ModelForm):  # type: ignore[type-arg]
    """One row of a rule table. ``full_clean()`` of the model runs through the ModelForm;
    :meth:`validate_row` adds the table's constraints (unique names, places, categories)."""

    table: ClassVar[str]
    mapping_name: ClassVar[str] = ""
    mapping_key_label: ClassVar[str] = ""
    mapping_value_label: ClassVar[str] = ""
    mapping_more_label: ClassVar[str] = ""
    """The button adding a mapping row ("Add another currency")."""

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
    mapping_more_label = "Add another currency"

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
            # No picklist to choose from (no field saved yet, or Salesforce not read): the
            # name is typed, and the way to a list is said.
            self.fields["name"] = forms.CharField(max_length=255)
            self.fallback_notes["name"] = (
                "(Type it exactly as Salesforce stores it, or choose the payment method field "
                "above and save: its picklist values are then offered here.)"
            )
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
    mapping_more_label = "Add another Salesforce value"

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

"""The operator admin for integrations: their configuration and rules, and read-only sync logs.

Staff may edit an integration's configuration (JSON, checked by ``SyncConfig.from_json``), its
accounting rules and its pauses here; every such edit goes through the same audited services as
the configuration panel (``integrations.setup.services``, switching in ``setup.steps``, pauses
in ``core.pauses``), so the history shows it with the staff member's name. ``Connection`` is
not registered: its credentials are never shown. The ledger, operations, runs and log entries
are the sync's record of what happened, so they can be read here but not added, changed or
deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from accounts.models import User
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.models import Integration, IntegrationPause
from integrations.core.pauses import STORED_CAUSES, integration_pause, integration_resume
from integrations.rules.models import MAX_TRACKING_RULES, PaymentMethod, TaxRule, TrackingRule
from integrations.setup import steps
from integrations.setup.services import (
    config_update,
    rule_row_delete,
    rule_row_save,
    rule_snapshot,
)
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation

RULE_TABLES: Mapping[type[models.Model], str] = {
    PaymentMethod: "payment_methods",
    TaxRule: "tax_rules",
    TrackingRule: "tracking_rules",
}


class IntegrationForm(forms.ModelForm[Integration]):
    class Meta:
        model = Integration
        fields = ("account", "name", "is_enabled", "config", "created_by")
        help_texts = {
            "config": (
                "The integration's settings as JSON, e.g. "
                '{"invoice_status": "DRAFT", "tax_mode": "rules"}. Keys left out take their '
                "defaults; a wrong value is named here and not saved."
            ),
        }

    def clean_config(self) -> Any:
        config = self.cleaned_data.get("config")
        if config is None:
            # An emptied box means "all defaults", not NULL (the column is not nullable).
            config = {}
        try:
            SyncConfig.from_json(config)
        except ConfigError as exc:
            raise ValidationError(str(exc), code="invalid_config") from exc
        return config


class _RulesFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """An inline formset that also checks, across its rows, what the database would refuse.

    Each row's ``full_clean`` checks its constraints against saved rows only: two new rows
    "Card" and "card", or "Canada" and "CA" (normalised by ``clean()``), would pass one by one
    and fail at save. ``key`` gives a row's identity after its own ``clean()``.
    """

    key: Callable[[Any], Any] = staticmethod(lambda instance: instance.pk)
    duplicate_message = "Two rows say the same thing: keep one."

    def _kept(self) -> list[Any]:
        """The valid rows that will be saved: not deleted, not an untouched empty extra."""
        deleted = self.deleted_forms
        return [
            form
            for form in self.forms
            if form.is_valid()
            and form not in deleted
            and (form.has_changed() or form.instance.pk is not None)
        ]

    def clean(self) -> None:
        super().clean()
        seen: set[Any] = set()
        for form in self._kept():
            key = type(self).key(form.instance)
            if key in seen:
                raise ValidationError(self.duplicate_message)
            seen.add(key)


class PaymentMethodFormSet(_RulesFormSet):
    key = staticmethod(lambda m: m.name.strip().casefold())
    duplicate_message = "Two payment methods have the same name: keep one."


class TaxRuleFormSet(_RulesFormSet):
    key = staticmethod(lambda r: (r.country, r.region))
    duplicate_message = "Two tax rules are for the same country and region: keep one."


class TrackingRuleFormSet(_RulesFormSet):
    key = staticmethod(lambda r: r.category_name.strip().casefold())
    duplicate_message = "Two tracking rules are for the same category: keep one."

    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)
        # This formset counts the rows it keeps (clean() below); a row counting the saved ones
        # would refuse replacing a rule by another in a single save.
        form.instance._counted_by_formset = True

    def clean(self) -> None:
        super().clean()
        if len(self._kept()) > MAX_TRACKING_RULES:
            raise ValidationError(
                f"Xero has at most {MAX_TRACKING_RULES} active tracking categories, so an "
                f"integration has at most {MAX_TRACKING_RULES} tracking rules."
            )


_JSON_WIDGET: Mapping[type[models.Field[Any, Any]], Mapping[str, Any]] = {
    models.JSONField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 40})}
}


class PaymentMethodInline(admin.StackedInline[PaymentMethod, Integration]):
    model = PaymentMethod
    formset = PaymentMethodFormSet
    extra = 0
    formfield_overrides = _JSON_WIDGET


class TaxRuleInline(admin.TabularInline[TaxRule, Integration]):
    model = TaxRule
    formset = TaxRuleFormSet
    extra = 0


class TrackingRuleInline(admin.StackedInline[TrackingRule, Integration]):
    model = TrackingRule
    formset = TrackingRuleFormSet
    extra = 0
    max_num = MAX_TRACKING_RULES
    formfield_overrides = _JSON_WIDGET


class PauseInline(admin.TabularInline[IntegrationPause, Integration]):
    """Each pause cause on its own row: lifting one leaves the others in force."""

    model = IntegrationPause
    extra = 0
    fields = ("cause", "message", "since", "until", "by")
    readonly_fields = ("since", "by")

    def formfield_for_choice_field(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "cause":
            # Re-authorisation follows from the connections' status: it is not set by hand.
            kwargs["choices"] = [(c.value, c.label) for c in STORED_CAUSES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin[Integration]):
    form = IntegrationForm
    list_display = ("name", "account", "is_enabled", "watermark", "created_at")
    list_filter = ("is_enabled",)
    search_fields = ("name", "account__name", "account__slug")
    list_select_related = ("account",)
    raw_id_fields = ("account", "created_by")
    # The sync's own bookkeeping, and the connections (chosen through the OAuth flow, and never
    # to be pointed at another account's): visible, not editable.
    readonly_fields = (
        "salesforce_connection",
        "xero_connection",
        "watermark",
        "lifecycle_watermark",
        "sync_claimed_until",
        "sync_claimed_by",
        "created_at",
    )
    inlines = (PauseInline, PaymentMethodInline, TaxRuleInline, TrackingRuleInline)

    def save_model(
        self,
        request: HttpRequest,
        obj: Integration,
        form: forms.ModelForm[Integration],
        change: bool,
    ) -> None:
        """The configuration and the switch through their audited services; the rest as is."""
        if not change:
            obj.save()
            return
        user = _user(request)
        stored = Integration.objects.only("config", "is_enabled").get(pk=obj.pk)
        config, enabled = obj.config, obj.is_enabled
        obj.config, obj.is_enabled = stored.config, stored.is_enabled
        # Never a full save: the sync writes its claim, fencing token and watermarks on this row
        # while the page is open, and an old copy of them must not be written back.
        plain = [name for name in form.changed_data if name in ("name", "account", "created_by")]
        if plain:
            obj.save(update_fields=plain)
        if config != stored.config:
            config_update(integration=obj, data=dict(config or {}), user=user, replace=True)
        if enabled != stored.is_enabled:
            (steps.switch_on if enabled else steps.switch_off)(integration=obj, user=user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Rule rows and pauses through their services: each rule change in the history, each
        pause set or lifted on its own."""
        integration: Integration = form.instance
        user = _user(request)
        if formset.model is IntegrationPause:
            for pause in formset.save(commit=False):
                integration_pause(
                    integration_id=integration.pk,
                    cause=pause.cause,
                    message=pause.message,
                    until=pause.until,
                    user=user,
                )
            for pause in formset.deleted_objects:
                integration_resume(integration_id=integration.pk, cause=pause.cause)
            return
        table = RULE_TABLES[formset.model]
        fields = _rule_fields(formset.model)
        rows = formset.save(commit=False)
        for row in formset.deleted_objects:
            rule_row_delete(integration=integration, user=user, table=table, row=row, fields=fields)
        for row in rows:
            saved = type(row)._default_manager.filter(pk=row.pk).first() if row.pk else None
            rule_row_save(
                integration=integration,
                user=user,
                table=table,
                row=row,
                fields=fields,
                before=rule_snapshot(saved, fields) if saved is not None else None,
            )


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _rule_fields(model: type[models.Model]) -> list[str]:
    """The columns a person edits (not the id, nor the integration the row belongs to)."""
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name != "integration"
    ]


class _ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Viewable, never added, changed or deleted here: the sync owns these rows."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(_ReadOnlyAdmin):
    list_display = (
        "salesforce_id",
        "opportunity_name",
        "integration",
        "state",
        "xero_invoice_number",
        "updated_at",
    )
    list_filter = ("state", "withdrawn")
    search_fields = ("salesforce_id", "opportunity_name", "xero_invoice_number", "xero_invoice_id")
    list_select_related = ("integration",)


@admin.register(XeroOperation)
class XeroOperationAdmin(_ReadOnlyAdmin):
    """Every write to Xero, ahead of the call: what was sent, its key, its outcome."""

    list_display = ("id", "integration", "kind", "subject", "state", "attempts", "sent_at")
    list_filter = ("kind", "state")
    search_fields = ("subject", "idempotency_key", "result_id", "result_number")
    list_select_related = ("integration",)
    raw_id_fields = ("ledger", "payment", "credit_note")


@admin.register(SyncRun)
class SyncRunAdmin(_ReadOnlyAdmin):
    list_display = (
        "id",
        "integration",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "read_count",
        "created_count",
        "updated_count",
        "failed_count",
        "xero_calls",
    )
    list_filter = ("status", "trigger")
    search_fields = ("integration__name",)
    list_select_related = ("integration",)
    date_hierarchy = "started_at"


@admin.register(SyncLogEntry)
class SyncLogEntryAdmin(_ReadOnlyAdmin):
    list_display = ("created_at", "integration", "outcome", "salesforce_id", "message")
    list_filter = ("outcome",)
    search_fields = ("salesforce_id", "message")
    list_select_related = ("integration",)
    raw_id_fields = ("run", "ledger", "dismissed_by")

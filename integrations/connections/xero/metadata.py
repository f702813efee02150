"""Each Xero organisation's settings, read from Xero and cached per connection.

``organisation_metadata(connection)`` answers from the cache while it is younger than
``XERO_METADATA_MAX_AGE`` and otherwise reads ``/Organisation``, ``/TaxRates``,
``/Currencies``, ``/Accounts``, ``/TrackingCategories`` and ``/BrandingThemes`` (six calls).
A failed read keeps serving the last good copy (and records why); settings change rarely,
and an invoice rule working from hour-old tax rates beats a sync stopped by one bad minute.

The sync enables currencies and creates tracking options through its write protocol
(``integrations.sync.steps.organisation``) and notes them here in the cached copy
(``metadata_note_currency``, ``metadata_note_option``), so the next rule sees them without a
re-read.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from integrations.connections.metadata_cache import invalidate, read_through
from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.xero.client import XeroClient, note_short_code, xero_client
from integrations.connections.xero.metadata_types import (
    AccountInfo,
    OrganisationMetadata,
    TaxRateInfo,
    TrackingCategoryInfo,
    TrackingOptionInfo,
)

TRACKING_OPTION_NAME_MAX = 100


def organisation_metadata(
    connection: Connection,
    *,
    max_age: float | None = None,
    refresh: bool = False,
    client: XeroClient | None = None,
) -> OrganisationMetadata:
    """The organisation's settings: the cached copy when younger than ``max_age`` seconds
    (default ``XERO_METADATA_MAX_AGE``) and ``refresh`` is off, else a fresh read.

    A read that fails while a cached copy exists returns that copy (however old), records the
    error on it and logs a warning; without a copy, the client's error is raised
    (:class:`~integrations.connections.xero.client.XeroError`,
    :class:`~integrations.connections.providers.ReauthorizationRequired`...).
    """
    _require_xero(connection)
    return read_through(
        connection,
        max_age=float(settings.XERO_METADATA_MAX_AGE if max_age is None else max_age),
        refresh=refresh,
        # The caller's client when it has one (a sync run counts its calls on it).
        read=lambda: _read(client or xero_client(connection), connection),
        from_json=OrganisationMetadata.from_json,
        label="xero metadata",
    )


def metadata_invalidate(connection: Connection) -> None:
    """Makes the next ``organisation_metadata`` read Xero. The copy stays as the fallback."""
    invalidate(connection)


def metadata_note_currency(connection: Connection | None, code: str) -> None:
    """Records in the cached copy a currency just enabled (without making the copy look
    newer): the next invoice in it needs no re-read of the organisation's settings."""
    if connection is None:
        return

    def add(data: dict[str, Any]) -> None:
        data["currencies"] = sorted({*data.get("currencies", []), code})

    _update_cached(connection, add)


def metadata_note_option(
    connection: Connection | None, category_id: str, *, option_id: str, name: str
) -> None:
    """Records in the cached copy a tracking option just created."""
    if connection is None:
        return

    def add(data: dict[str, Any]) -> None:
        for category in data.get("tracking_categories", []):
            if str(category.get("category_id")) == category_id:
                options = category.setdefault("options", [])
                if not any(str(o.get("option_id")) == option_id for o in options):
                    options.append({"option_id": option_id, "name": name, "status": "ACTIVE"})

    _update_cached(connection, add)


# --- Reading -----------------------------------------------------------------------------------


def _read(client: XeroClient, connection: Connection) -> OrganisationMetadata:
    organisation = client.call("get_organisations").data.organisations[0]
    note_short_code(connection, _text(getattr(organisation, "short_code", "")))
    tax_rates = client.call("get_tax_rates").data.tax_rates or []
    currencies = client.call("get_currencies").data.currencies or []
    accounts = client.call("get_accounts").data.accounts or []
    # Without includeArchived Xero lists ACTIVE categories (and their ACTIVE options) only.
    categories = client.call("get_tracking_categories").data.tracking_categories or []
    themes = client.call("get_branding_themes").data.branding_themes or []
    base = _text(organisation.base_currency)
    return OrganisationMetadata(
        name=str(organisation.name or ""),
        country_code=_text(organisation.country_code),
        base_currency=base,
        tax_rates={
            str(rate.tax_type): TaxRateInfo(
                tax_type=str(rate.tax_type),
                name=str(rate.name or ""),
                status=_text(rate.status),
                can_apply_to_revenue=bool(rate.can_apply_to_revenue),
                # EffectiveRate, not DisplayTaxRate: Xero folds compound components into it.
                effective_rate=_decimal(rate.effective_rate),
            )
            for rate in tax_rates
            if rate.tax_type
        },
        currencies=frozenset({base, *(_text(c.code) for c in currencies)} - {""}),
        accounts=tuple(
            AccountInfo(
                account_id=str(account.account_id or ""),
                code=str(account.code or ""),
                name=str(account.name or ""),
                type=_text(account.type),
                status=_text(account.status),
                currency_code=_text(account.currency_code),
                enable_payments_to_account=bool(account.enable_payments_to_account),
            )
            for account in accounts
        ),
        tracking_categories={
            str(category.name): TrackingCategoryInfo(
                category_id=str(category.tracking_category_id),
                name=str(category.name),
                status=_text(category.status),
                options={
                    str(option.name): TrackingOptionInfo(
                        option_id=str(option.tracking_option_id),
                        name=str(option.name),
                        status=_text(option.status),
                    )
                    for option in category.options or []
                },
            )
            for category in categories
            if _text(category.status) == "ACTIVE"
        },
        branding_themes={str(theme.branding_theme_id): str(theme.name or "") for theme in themes},
    )


def _text(value: Any) -> str:
    """The SDK's enums (CurrencyCode, AccountType, statuses) and strings, as Xero spells them."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


# --- Writing -----------------------------------------------------------------------------------


def _update_cached(connection: Connection, change: Callable[[dict[str, Any]], None]) -> None:
    """Applies ``change`` to the cached copy (if any) without making it look newer."""
    with transaction.atomic():
        cached = ProviderSettings.objects.select_for_update().filter(connection=connection).first()
        if cached is None or not cached.data:
            return
        data = dict(cached.data)
        change(data)
        cached.data = data
        cached.save(update_fields=["data"])


def _require_xero(connection: Connection) -> None:
    if connection.provider != "xero":
        raise ValueError(f"Connection {connection.pk} is a {connection.provider} connection.")


__all__ = [
    "metadata_invalidate",
    "metadata_note_currency",
    "metadata_note_option",
    "organisation_metadata",
]

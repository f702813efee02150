"""Each Xero organisation's settings, read from Xero and cached per connection.

``organisation_metadata(connection)`` answers from the cache while it is younger than
``XERO_METADATA_MAX_AGE`` and otherwise reads ``/Organisation``, ``/TaxRates``,
``/Currencies``, ``/Accounts``, ``/TrackingCategories`` and ``/BrandingThemes`` (six calls).
A failed read keeps serving the last good copy (and records why); settings change rarely,
and an invoice rule working from hour-old tax rates beats a sync stopped by one bad minute.

The two writes the accounting rules need, ``currency_enable`` and ``tracking_options_create``,
change Xero and then the cached copy, so the next rule sees them without a re-read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from xero_python.accounting import Currency, CurrencyCode, TrackingOption

from integrations.connections.metadata_cache import invalidate, read_through
from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.xero.client import XeroClient, XeroValidationError, xero_client
from integrations.connections.xero.metadata_types import (
    AccountInfo,
    OrganisationMetadata,
    TaxRateInfo,
    TrackingCategoryInfo,
    TrackingOptionInfo,
)

TRACKING_OPTION_NAME_MAX = 100


def organisation_metadata(
    connection: Connection, *, max_age: float | None = None, refresh: bool = False
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
        read=lambda: _read(xero_client(connection)),
        from_json=OrganisationMetadata.from_json,
        label="xero metadata",
    )


def metadata_invalidate(connection: Connection) -> None:
    """Makes the next ``organisation_metadata`` read Xero. The copy stays as the fallback."""
    invalidate(connection)


def currency_enable(connection: Connection, code: str) -> None:
    """Adds ``code`` (e.g. ``"JPY"``) to the organisation's currencies (``PUT /Currencies``).

    Nothing is sent when the cached copy already lists it. Xero refuses a currency it already
    has; when our copy was stale, that refusal is confirmed by a re-read and not raised.
    Raises ``ValueError`` for a code Xero does not know, else the client's errors.
    """
    _require_xero(connection)
    wanted = code.strip().upper()
    try:
        enum = CurrencyCode(wanted)
    except ValueError:
        raise ValueError(f"{code!r} is not a currency code Xero knows.") from None
    if wanted in organisation_metadata(connection).currencies:
        return
    client = xero_client(connection)
    try:
        client.call(
            "create_currency",
            Currency(code=enum),
            idempotency_key=_key(connection, "currency", wanted),
        )
    except XeroValidationError:
        if wanted not in organisation_metadata(connection, refresh=True).currencies:
            raise
        return

    def add(data: dict[str, Any]) -> None:
        data["currencies"] = sorted({*data.get("currencies", []), wanted})

    _update_cached(connection, add)


def tracking_options_create(
    connection: Connection, category_id: str, names: list[str]
) -> dict[str, str]:
    """Makes sure the tracking category has an ACTIVE option of each name; returns each name
    (trimmed, as given) → its TrackingOptionID, for the new options and those already there.

    Options are created one request each (the SDK's ``create_tracking_options`` takes one),
    each with its own idempotency key. Names are matched case-insensitively, as Xero does.
    Raises ``ValueError`` for an empty name or one over 100 characters (before any call),
    else the client's errors (``XeroNotFound`` for an unknown category).
    """
    _require_xero(connection)
    wanted = _unique_names(names)
    found: dict[str, str] = {}
    known = _category(organisation_metadata(connection), category_id)
    missing = []
    for name in wanted:
        option = known.option(name) if known is not None else None
        if option is not None:
            found[name] = option.option_id
        else:
            missing.append(name)
    client: XeroClient | None = None
    created: list[TrackingOptionInfo] = []
    for name in missing:
        client = client or xero_client(connection)
        try:
            response = client.call(
                "create_tracking_options",
                category_id,
                TrackingOption(name=name),
                idempotency_key=_key(connection, "tracking-option", category_id, name.lower()),
            )
        except XeroValidationError:
            # Most likely there since our copy was read: look again before giving up.
            fresh = _category(organisation_metadata(connection, refresh=True), category_id)
            option = fresh.option(name) if fresh is not None else None
            if option is None:
                raise
            found[name] = option.option_id
            continue
        made = response.data.options[0]
        info = TrackingOptionInfo(
            option_id=str(made.tracking_option_id),
            name=str(made.name),
            status=_text(made.status) or "ACTIVE",
        )
        created.append(info)
        found[name] = info.option_id

    if created:

        def add(data: dict[str, Any]) -> None:
            for category in data.get("tracking_categories", []):
                if str(category.get("category_id")) == category_id:
                    options = category.setdefault("options", [])
                    for info in created:
                        options.append(
                            {"option_id": info.option_id, "name": info.name, "status": info.status}
                        )

        _update_cached(connection, add)
    return {name: found[name] for name in wanted}


# --- Reading -----------------------------------------------------------------------------------


def _read(client: XeroClient) -> OrganisationMetadata:
    organisation = client.call("get_organisations").data.organisations[0]
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


def _category(metadata: OrganisationMetadata, category_id: str) -> TrackingCategoryInfo | None:
    for category in metadata.tracking_categories.values():
        if category.category_id == category_id:
            return category
    return None


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


def _unique_names(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            raise ValueError("A tracking option needs a name.")
        if len(name) > TRACKING_OPTION_NAME_MAX:
            raise ValueError(
                f"Tracking option {name[:30]!r}... is longer than Xero's "
                f"{TRACKING_OPTION_NAME_MAX} characters."
            )
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def _key(connection: Connection, kind: str, *parts: str) -> str:
    """An Idempotency-Key in the sync engine's shape: the same write gives the same key."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"cto:{connection.pk}:{kind}:{digest}"


def _require_xero(connection: Connection) -> None:
    if connection.provider != "xero":
        raise ValueError(f"Connection {connection.pk} is a {connection.provider} connection.")


__all__ = [
    "currency_enable",
    "metadata_invalidate",
    "organisation_metadata",
    "tracking_options_create",
]

"""What the configuration panel knows of the customer's Xero and Salesforce, and the choices it
builds from it.

:func:`load_sources` reads both through their caches (``connections.xero.metadata``,
``connections.salesforce.metadata``). A read that fails never stops a page: the panel works
with what is known (the last good copy, or nothing) and says why the read failed. The choice
builders turn the metadata into ``(value, label)`` lists for the forms; a stored value missing
from a list stays selectable, marked "not found in Xero" (or Salesforce).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeVar

from django.utils import timezone
from django.utils.timesince import timesince

from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.providers import ProviderError
from integrations.connections.salesforce.metadata import salesforce_metadata
from integrations.connections.salesforce.metadata_types import (
    FieldInfo,
    ObjectInfo,
    SalesforceMetadata,
    StageInfo,
)
from integrations.connections.xero.metadata import organisation_metadata
from integrations.connections.xero.metadata_types import OrganisationMetadata
from integrations.core.models import Integration

XERO: Final = "xero"
SALESFORCE: Final = "salesforce"
PROVIDER_NAMES: Final = {XERO: "Xero", SALESFORCE: "Salesforce"}
# Xero account types invoice lines may be posted to.
REVENUE_TYPES: Final = frozenset({"REVENUE", "SALES", "OTHERINCOME"})

Choice = tuple[str, str]
# A flat list, or Django's grouped form: [(group label, [(value, label), ...]), ...].
Choices = Sequence[tuple[str, str | Sequence[Choice]]]


def ago(when: dt.datetime | None) -> str:
    """How long ago, for people: "just now", "5 minutes ago"; "" for None."""
    if when is None:
        return ""
    if timezone.now() - when < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(when)} ago"


@dataclass(frozen=True)
class ReadState:
    """How the panel's copy of one provider's settings came about."""

    provider: str
    connected: bool
    fetched_at: dt.datetime | None = None
    """When the copy in use was read; None when there is none."""
    error: str = ""
    """Why the last read failed, when it failed after (or without) the copy in use."""
    refreshed: bool = False
    """A fresh read was asked for on this request."""

    @property
    def name(self) -> str:
        return PROVIDER_NAMES[self.provider]

    @property
    def refresh_failed(self) -> bool:
        return self.refreshed and bool(self.error)

    @property
    def age(self) -> str:
        return ago(self.fetched_at)


@dataclass(frozen=True)
class Sources:
    xero: OrganisationMetadata | None
    salesforce: SalesforceMetadata | None
    xero_state: ReadState
    salesforce_state: ReadState

    @property
    def states(self) -> tuple[ReadState, ReadState]:
        return (self.xero_state, self.salesforce_state)


def load_sources(integration: Integration, *, refresh: Iterable[str] = ()) -> Sources:
    """Both providers' settings for ``integration``; ``refresh`` names those to read afresh."""
    wanted = set(refresh)
    xero, xero_state = _load_xero(integration.xero_connection, refresh=XERO in wanted)
    salesforce, sf_state = _load_salesforce(
        integration.salesforce_connection, refresh=SALESFORCE in wanted
    )
    return Sources(
        xero=xero, salesforce=salesforce, xero_state=xero_state, salesforce_state=sf_state
    )


def _load_xero(
    connection: Connection | None, *, refresh: bool
) -> tuple[OrganisationMetadata | None, ReadState]:
    return _load(XERO, connection, refresh, organisation_metadata)


def _load_salesforce(
    connection: Connection | None, *, refresh: bool
) -> tuple[SalesforceMetadata | None, ReadState]:
    return _load(SALESFORCE, connection, refresh, salesforce_metadata)


M = TypeVar("M")


def _load(
    kind: str,
    connection: Connection | None,
    refresh: bool,
    read: Callable[..., M],
) -> tuple[M | None, ReadState]:
    """The provider's settings (cached, or read afresh) and how that went, for the page."""
    if connection is None:
        return None, ReadState(kind, connected=False)
    metadata: M | None
    raised = ""
    try:
        metadata = read(connection, refresh=refresh)
    except ProviderError as exc:
        metadata, raised = None, exc.message
    row = ProviderSettings.objects.filter(connection=connection).first()
    fetched, stored_error = _cache_state(
        row.fetched_at if row else None,
        row.last_error if row else "",
        row.last_error_at if row else None,
    )
    return metadata, ReadState(
        kind,
        connected=True,
        fetched_at=fetched if metadata is not None else None,
        error=raised or stored_error,
        refreshed=refresh,
    )


def _cache_state(
    fetched_at: dt.datetime | None, last_error: str, last_error_at: dt.datetime | None
) -> tuple[dt.datetime | None, str]:
    """(when the copy was read, the error of a read that failed since then)."""
    if not last_error:
        return fetched_at, ""
    if fetched_at is None or last_error_at is None or last_error_at >= fetched_at:
        return fetched_at, last_error
    return fetched_at, ""


# --- Choices -----------------------------------------------------------------------------------


def with_current(
    choices: Choices, current: str, provider: str
) -> list[tuple[str, str | Sequence[Choice]]]:
    """``choices`` plus ``current`` when it is set and not among them, marked as missing."""
    if not current or current in _values(choices):
        return list(choices)
    return [*choices, (current, f"{current} — not found in {PROVIDER_NAMES[provider]}")]


def _values(choices: Choices) -> set[str]:
    found: set[str] = set()
    for value, label in choices:
        if not isinstance(label, str):
            found.update(v for v, _ in label)
        else:
            found.add(value)
    return found


def percent(rate: Decimal) -> str:
    """``Decimal("7.2500")`` as ``7.25%``, ``Decimal("15")`` as ``15%``."""
    text = format(rate.normalize(), "f")
    return f"{text}%"


def revenue_accounts(metadata: OrganisationMetadata) -> list[Choice]:
    return sorted(
        (a.code, f"{a.code} — {a.name}")
        for a in metadata.accounts
        if a.code and a.status == "ACTIVE" and a.type in REVENUE_TYPES
    )


def payment_accounts(metadata: OrganisationMetadata) -> list[Choice]:
    """Accounts payments can go into, with the currency each holds."""
    return sorted(
        (a.code, f"{a.code} — {a.name} ({a.currency_code or metadata.base_currency})")
        for a in metadata.accounts
        if a.code and a.accepts_payments
    )


def sales_tax_rates(metadata: OrganisationMetadata) -> list[Choice]:
    """Active rates usable on sales, as "Name (7.25%)", by name."""
    rates = [r for r in metadata.tax_rates.values() if r.usable_for_sales]
    return [
        (r.tax_type, f"{r.name} ({percent(r.effective_rate)})")
        for r in sorted(rates, key=lambda r: (r.name.lower(), r.tax_type))
    ]


def currencies(metadata: OrganisationMetadata) -> list[Choice]:
    base = metadata.base_currency
    return [
        (code, f"{code} (base currency)" if code == base else code)
        for code in sorted(metadata.currencies, key=lambda c: (c != base, c))
    ]


def branding_themes(metadata: OrganisationMetadata) -> list[Choice]:
    return sorted(metadata.branding_themes.items(), key=lambda item: item[1].lower())


def tracking_categories(metadata: OrganisationMetadata) -> list[Choice]:
    return [(name, name) for name in sorted(metadata.tracking_categories)]


def tracking_options(metadata: OrganisationMetadata, category: str) -> list[str]:
    """The ACTIVE options of a category (case-insensitive name), or of all when ``category`` is
    not one of them."""
    wanted = category.strip().lower()
    chosen = [c for c in metadata.tracking_categories.values() if c.name.lower() == wanted]
    cats = chosen or list(metadata.tracking_categories.values())
    names = {o.name for c in cats for o in c.options.values() if o.status == "ACTIVE"}
    return sorted(names, key=str.lower)


def field_label(info: FieldInfo, prefix: str = "") -> str:
    """ "Payment Method — Payment_Method__c (custom)"; just the name when the label is it."""
    custom = " (custom)" if info.custom else ""
    if info.label in ("", info.name):
        return f"{prefix}{info.name}{custom}"
    return f"{info.label} — {prefix}{info.name}{custom}"


def _fields(obj: ObjectInfo, *, picklist: bool = False) -> list[FieldInfo]:
    chosen = [f for f in obj.fields.values() if (f.is_picklist if picklist else f.is_text)]
    # Custom fields first (what people usually mean), then standard ones, by label.
    return sorted(chosen, key=lambda f: (not f.custom, f.label.lower(), f.name))


def stages(metadata: SalesforceMetadata) -> list[Choice]:
    def label(stage: StageInfo) -> str:
        if stage.won:
            return f"{stage.name} (won)"
        if stage.lost:
            return f"{stage.name} (lost: never invoiced)"
        return f"{stage.name} (open: not marked won)"

    return [(s.name, label(s)) for s in metadata.stages]


def reference_fields(metadata: SalesforceMetadata) -> list[Choice]:
    """Opportunity text fields, Name first."""
    chosen = [f for f in _fields(metadata.opportunity) if f.type != "id"]
    chosen.sort(key=lambda f: f.name != "Name")
    return [(f.name, field_label(f)) for f in chosen]


def picklist_fields(metadata: SalesforceMetadata) -> list[Choice]:
    """Opportunity picklists (for the payment method), except the stage."""
    return [
        (f.name, field_label(f))
        for f in _fields(metadata.opportunity, picklist=True)
        if f.name not in ("StageName", "ForecastCategoryName")
    ]


def text_fields_with_account(metadata: SalesforceMetadata, *, owner: bool = False) -> Choices:
    """Opportunity and Account text/picklist fields, grouped (for tax code and tracking)."""
    opportunity = [
        (f.name, field_label(f)) for f in _fields(metadata.opportunity) if f.type != "id"
    ]
    if owner:
        opportunity.append(("Owner.Name", "Opportunity Owner — Owner.Name"))
    account = [
        (f"Account.{f.name}", field_label(f, "Account."))
        for f in _fields(metadata.account)
        if f.type != "id"
    ]
    return [("Opportunity", opportunity), ("Account", account)]


def picklist_values(metadata: SalesforceMetadata | None, path: str) -> list[str]:
    """The picklist values of a field (``X__c``, ``Account.X__c``); [] when it has none."""
    if metadata is None or not path:
        return []
    info = metadata.resolve(path)
    return list(info.picklist_values) if info is not None else []


def writable_fields(metadata: SalesforceMetadata, types: frozenset[str]) -> list[Choice]:
    """Opportunity fields the connected user may edit, of these types (write-back targets)."""
    chosen = [f for f in metadata.opportunity.fields.values() if f.updateable and f.type in types]
    chosen.sort(key=lambda f: (not f.custom, f.label.lower(), f.name))
    return [(f.name, field_label(f)) for f in chosen]

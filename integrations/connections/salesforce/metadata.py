"""Each Salesforce org's objects (Opportunity and Account fields) and its stages, read from
describe and ``OpportunityStage`` and cached per connection.

``salesforce_metadata(connection)`` answers from the cache while it is younger than
``SALESFORCE_METADATA_MAX_AGE`` and otherwise describes Opportunity and Account and queries the
stages (three calls). A failed read keeps serving the last good copy (and records why): fields
change rarely, and a configuration panel working from an hour-old field list beats one that
cannot open.

Which stages are won or lost: describe's picklist entries for ``StageName`` carry only
``value``, ``label``, ``active``, ``defaultValue`` and ``validFor``; ``IsWon`` and ``IsClosed``
live on ``OpportunityStage``. Should that query be refused, a stage counts as won when its
value has the word "Won" in it and as lost when it has "Lost" (a guess, said so in the panel).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from django.conf import settings

from integrations.connections.metadata_cache import invalidate, read_through
from integrations.connections.models import Connection
from integrations.connections.salesforce.client import (
    SalesforceApiError,
    SalesforceClient,
    salesforce_client,
)
from integrations.connections.salesforce.metadata_types import (
    FieldInfo,
    ObjectInfo,
    SalesforceMetadata,
    StageInfo,
)

OBJECTS: Final = ("Opportunity", "Account")
logger = logging.getLogger(__name__)

READ_CALLS: Final = len(OBJECTS) + 1
_WON = re.compile(r"\bwon\b", re.IGNORECASE)
_LOST = re.compile(r"\blost\b", re.IGNORECASE)
STAGES_SOQL: Final = (
    "SELECT ApiName, MasterLabel, IsClosed, IsWon FROM OpportunityStage "
    "WHERE IsActive = true ORDER BY SortOrder"
)


def salesforce_metadata(
    connection: Connection, *, max_age: float | None = None, refresh: bool = False
) -> SalesforceMetadata:
    """The org's Opportunity and Account fields: the cached copy when younger than ``max_age``
    seconds (default ``SALESFORCE_METADATA_MAX_AGE``) and ``refresh`` is off, else a fresh read.

    A read that fails while a cached copy exists returns that copy (however old), records the
    error on it and logs a warning; without a copy, the client's error is raised
    (:class:`~integrations.connections.salesforce.client.SalesforceApiError`,
    :class:`~integrations.connections.providers.ReauthorizationRequired`...).
    """
    _require_salesforce(connection)

    def read() -> SalesforceMetadata:
        with salesforce_client(connection) as client:
            return _read(client)

    return read_through(
        connection,
        max_age=float(settings.SALESFORCE_METADATA_MAX_AGE if max_age is None else max_age),
        refresh=refresh,
        read=read,
        from_json=SalesforceMetadata.from_json,
        label="salesforce metadata",
    )


def salesforce_metadata_invalidate(connection: Connection) -> None:
    """Makes the next ``salesforce_metadata`` read Salesforce. The copy stays as the fallback."""
    invalidate(connection)


# --- Reading -----------------------------------------------------------------------------------


def _read(client: SalesforceClient) -> SalesforceMetadata:
    opportunity = _object(client.describe("Opportunity"), "Opportunity")
    account = _object(client.describe("Account"), "Account")
    stage = opportunity.field("StageName")
    picklist = stage.picklist_values if stage else ()
    stages = _stages(client, picklist)
    return SalesforceMetadata(
        opportunity=opportunity,
        account=account,
        # CurrencyIsoCode exists only in multi-currency orgs (ARCHITECTURE §5).
        multi_currency=opportunity.field("CurrencyIsoCode") is not None,
        stages=stages,
    )


def is_won_stage(value: str) -> bool:
    """Describe does not say which stages are won (see the module's docstring): a guess."""
    return bool(_WON.search(value))


def _stages(client: SalesforceClient, picklist: tuple[str, ...]) -> tuple[StageInfo, ...]:
    """The active stages with Salesforce's won and closed flags, in the picklist's order."""
    try:
        rows = [r for page in client.query_pages(STAGES_SOQL) for r in page.get("records", [])]
    except SalesforceApiError as exc:
        logger.info("OpportunityStage not readable (%s); guessing from the names", exc)
        return tuple(
            StageInfo(v, is_won_stage(v), is_won_stage(v) or bool(_LOST.search(v)))
            for v in picklist
        )
    found = {
        str(r.get("ApiName") or r.get("MasterLabel")): StageInfo(
            str(r.get("ApiName") or r.get("MasterLabel")),
            bool(r.get("IsWon")),
            bool(r.get("IsClosed")),
        )
        for r in rows
    }
    ordered = [found.pop(v) for v in picklist if v in found]
    return (*ordered, *found.values())


def _object(described: Mapping[str, Any], name: str) -> ObjectInfo:
    fields: dict[str, FieldInfo] = {}
    for raw in described.get("fields") or []:
        if not isinstance(raw, Mapping) or not raw.get("name"):
            continue
        field_name = str(raw["name"])
        fields[field_name] = FieldInfo(
            name=field_name,
            label=str(raw.get("label") or field_name),
            type=str(raw.get("type") or ""),
            custom=bool(raw.get("custom")),
            picklist_values=_active_values(raw.get("picklistValues") or []),
            updateable=bool(raw.get("updateable")),
        )
    return ObjectInfo(name=str(described.get("name") or name), fields=fields)


def _active_values(entries: Iterable[Any]) -> tuple[str, ...]:
    """Active picklist values in Salesforce's order: inactive ones can no longer be chosen."""
    values: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("active", True) and entry.get("value"):
            value = str(entry["value"])
            if value not in values:
                values.append(value)
    return tuple(values)


def _require_salesforce(connection: Connection) -> None:
    if connection.provider != "salesforce":
        raise ValueError(f"Connection {connection.pk} is a {connection.provider} connection.")


__all__ = ["is_won_stage", "salesforce_metadata", "salesforce_metadata_invalidate"]

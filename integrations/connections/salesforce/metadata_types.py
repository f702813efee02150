"""What the product knows about one Salesforce org's objects, as plain frozen values.

Read from ``/sobjects/<Object>/describe`` (Opportunity, Account, OpportunityLineItem) and cached
per connection by ``connections.salesforce.metadata``; the configuration panel offers fields
from it (payment method picklists, tax code and tracking fields, reference fields) and checks a
stored configuration against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Field types whose values read as text a person can map (picklists, text, ids...).
TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "textarea", "email", "phone", "url", "id", "combobox"}
)


@dataclass(frozen=True)
class FieldInfo:
    name: str
    """API name, e.g. ``Payment_Method__c``."""
    label: str
    type: str
    """Salesforce field type: string, picklist, double, reference, boolean, date..."""
    custom: bool = False
    picklist_values: tuple[str, ...] = ()
    """Active picklist values, in Salesforce's order."""
    updateable: bool = False
    """The connected user may write it (describe's ``updateable``: field-level security)."""

    @property
    def is_picklist(self) -> bool:
        return self.type in ("picklist", "multipicklist")

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)
    """By API name."""

    def field(self, name: str) -> FieldInfo | None:
        return self.fields.get(name)


class StageInfo(NamedTuple):
    """One Opportunity stage and what Salesforce says of it (``OpportunityStage``)."""

    name: str
    won: bool
    closed: bool

    @property
    def lost(self) -> bool:
        return self.closed and not self.won


@dataclass(frozen=True)
class SalesforceMetadata:
    opportunity: ObjectInfo
    account: ObjectInfo
    multi_currency: bool = False
    """The org has ``CurrencyIsoCode`` (multi-currency)."""
    stages: tuple[StageInfo, ...] = ()
    """The Opportunity stages in Salesforce's order, each marked won and closed."""

    def stage(self, name: str) -> StageInfo | None:
        folded = name.casefold()
        return next((s for s in self.stages if s.name.casefold() == folded), None)

    def resolve(self, path: str) -> FieldInfo | None:
        """``Field__c`` on Opportunity, or ``Account.Field__c``; ``Owner.Name`` is known."""
        if path.startswith("Account."):
            return self.account.field(path.removeprefix("Account."))
        if path == "Owner.Name":
            return FieldInfo(name="Owner.Name", label="Opportunity Owner", type="string")
        return self.opportunity.field(path)

    def to_json(self) -> dict[str, Any]:
        def obj(info: ObjectInfo) -> dict[str, Any]:
            return {
                "name": info.name,
                "fields": [
                    {
                        "name": f.name,
                        "label": f.label,
                        "type": f.type,
                        "custom": f.custom,
                        "picklist_values": list(f.picklist_values),
                        "updateable": f.updateable,
                    }
                    for f in info.fields.values()
                ],
            }

        return {
            "opportunity": obj(self.opportunity),
            "account": obj(self.account),
            "multi_currency": self.multi_currency,
            "stages": [[s.name, s.won, s.closed] for s in self.stages],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SalesforceMetadata:
        def obj(raw: Mapping[str, Any]) -> ObjectInfo:
            return ObjectInfo(
                name=str(raw.get("name", "")),
                fields={
                    str(f["name"]): FieldInfo(
                        name=str(f["name"]),
                        label=str(f.get("label", "")),
                        type=str(f.get("type", "")),
                        custom=bool(f.get("custom")),
                        picklist_values=tuple(str(v) for v in f.get("picklist_values", [])),
                        # Copies cached before writability was read: assumed writable until
                        # the next read (a refused write says otherwise at once).
                        updateable=bool(f.get("updateable", True)),
                    )
                    for f in raw.get("fields", [])
                },
            )

        return cls(
            opportunity=obj(data.get("opportunity", {})),
            account=obj(data.get("account", {})),
            multi_currency=bool(data.get("multi_currency")),
            stages=tuple(
                # Copies cached before the closed flag was read: a won stage is closed.
                StageInfo(str(s[0]), bool(s[1]), bool(s[2]) if len(s) > 2 else bool(s[1]))
                for s in data.get("stages", [])
            ),
        )

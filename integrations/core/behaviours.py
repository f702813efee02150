"""The parts of the sync a configuration problem can hold back, and the problems themselves.

The configuration check (``integrations.setup.validation``) stores what it finds on the
integration; the sync reads it through :func:`paused_behaviours` and holds back only the part
affected:

- ``invoices``: new invoices (the sales account, reference field, branding theme, the stage);
- ``tax``: the tax rates invoice lines carry — an invoice cannot be sent without them;
- ``tracking``: the tracking options invoice lines carry — likewise;
- ``currencies``: invoices (and payments) in a currency Xero has not enabled;
- ``payments``: recording payments (bank accounts, the payment method field);
- ``credit_notes``: credit notes, which use the same accounts as the invoices;
- ``writeback``: writing Xero's invoice values onto opportunities (a chosen field missing or
  not writable);
- ``matching``: values that match nothing (a payment method name that is not a picklist
  value). Advisory: a person should know, but holding anything back would not help.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from integrations.core.models import Integration


class Behaviour(StrEnum):
    INVOICES = "invoices"
    PAYMENTS = "payments"
    CREDIT_NOTES = "credit_notes"
    TAX = "tax"
    CURRENCIES = "currencies"
    TRACKING = "tracking"
    WRITEBACK = "writeback"
    MATCHING = "matching"


BEHAVIOURS: Final = tuple(Behaviour)
ADVISORY_BEHAVIOURS: Final = frozenset({Behaviour.MATCHING})
"""Problems of these behaviours are told to people but hold nothing back."""
BEHAVIOUR_LABELS: Final[Mapping[str, str]] = {
    Behaviour.INVOICES: "Invoices",
    Behaviour.PAYMENTS: "Payments",
    Behaviour.CREDIT_NOTES: "Credit notes",
    Behaviour.TAX: "Tax",
    Behaviour.CURRENCIES: "Currencies",
    Behaviour.TRACKING: "Tracking",
    Behaviour.WRITEBACK: "Write-back to Salesforce",
    Behaviour.MATCHING: "Matching Salesforce values",
}


@dataclass(frozen=True)
class ConfigProblem:
    """One mismatch between the configuration and Xero or Salesforce, for a business owner."""

    field: str
    """A SyncConfig key, or ``payment_methods:<name>``, ``tax_rules:<country>[/<region>]``,
    ``tracking_rules:<category>`` (or the table, ``payment_methods``, ``tracking_rules``)."""
    message: str
    """What is wrong and what to do, in a sentence or two."""
    behaviour: str
    """One of :class:`Behaviour`: what it affects."""

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}")

    @property
    def advisory(self) -> bool:
        return self.behaviour in ADVISORY_BEHAVIOURS

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "behaviour": str(self.behaviour)}

    @classmethod
    def from_json(cls, data: Any) -> ConfigProblem | None:
        """The stored problem; None for a row this version cannot read (never an error)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                field=str(data["field"]),
                message=str(data["message"]),
                behaviour=str(data["behaviour"]),
            )
        except (KeyError, ValueError):
            return None


def stored_problems(integration: Integration) -> list[ConfigProblem]:
    """The problems the last check stored on the integration."""
    problems: list[ConfigProblem] = []
    for raw in integration.config_problems or []:
        problem = ConfigProblem.from_json(raw)
        if problem is not None:
            problems.append(problem)
    return problems


def paused_behaviours(integration: Integration) -> frozenset[str]:
    """The behaviours the sync should hold back, from the problems the last check stored.

    Advisory problems (:data:`ADVISORY_BEHAVIOURS`) hold nothing back. No database query: it
    reads the integration as loaded.
    """
    return frozenset(
        p.behaviour for p in stored_problems(integration) if p.behaviour not in ADVISORY_BEHAVIOURS
    )


def config_required_summary(integration: Integration) -> str:
    """One line for the "Configuration required" badge: what the stored problems hold back;
    ``""`` when nothing is (no problem, or only advisory ones)."""
    held = paused_behaviours(integration)
    names = [BEHAVIOUR_LABELS[b].lower() for b in BEHAVIOURS if b in held]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if integration.is_enabled:
        return f"Holding back {listed} until the settings match Xero and Salesforce again."
    return f"Settings for {listed} to fix before syncing can be switched on."

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Literal:
    kind: str
    """string, number, boolean, null, date, datetime, dateliteral"""
    value: Any
    text: str
    pos: int


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str
    """=, !=, <, <=, >, >=, LIKE, IN, NOT IN"""
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class Aggregate:
    """``SUM(Amount) total``: an aggregate function of one field, with its alias if given."""

    function: str
    """COUNT, COUNT_DISTINCT, SUM, AVG, MIN or MAX"""
    field: FieldRef
    pos: int
    alias: str | None = None

    @property
    def text(self) -> str:
        return f"{self.function}({self.field.text})"


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef | Aggregate
    descending: bool
    nulls_first: bool


@dataclass
class Select:
    sobject: str
    sobject_pos: int
    fields: list[FieldRef | Select | Aggregate] = field(default_factory=list)
    count: bool = False
    where: Condition | None = None
    group_by: list[FieldRef] = field(default_factory=list)
    aliases: dict[int, str] = field(default_factory=dict)
    """Aliases of plain fields, by their index in ``fields`` (aggregate queries only)."""
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    pos: int = 0

    @property
    def aggregated(self) -> bool:
        """Answered as AggregateResult rows: an aggregate function or a GROUP BY."""
        return bool(self.group_by) or any(isinstance(f, Aggregate) for f in self.fields)

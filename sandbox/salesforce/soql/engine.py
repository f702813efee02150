"""Evaluates a parsed query against the org's rows through the ORM.

A query runs in two steps: the matching primary keys in order (one SQL query, kept in a
:class:`QueryCursor` when they span several pages), then each page is rendered in bulk: one
``values()`` query for the page's rows and their parents, one per child subquery.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate as OrmAggregate
from django.db.models import Avg, Case, Count, F, Max, Min, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import Expression, OrderBy
from django.db.models.functions import Lower, NullIf
from django.utils import timezone

from sandbox.salesforce.describe import (
    NUMBER_TYPES,
    STRING_TYPES,
    FieldDef,
    ObjectDef,
    get_object,
)
from sandbox.salesforce.ids import BASE62, to_18
from sandbox.salesforce.models import QueryCursor, SalesforceOrg, SObject
from sandbox.salesforce.soql.ast import (
    Aggregate,
    BoolOp,
    Comparison,
    Condition,
    FieldRef,
    Literal,
    Not,
    Select,
)
from sandbox.salesforce.soql.errors import SoqlError, located
from sandbox.salesforce.soql.parser import parse

MAX_OFFSET = 2000
IN_CHUNK = 10_000
CURSOR_TTL = dt.timedelta(minutes=15)
_TEXT = STRING_TYPES - {"id", "reference"}


@dataclass(frozen=True)
class Column:
    ref: FieldRef
    hops: tuple[FieldDef, ...]
    """The reference fields crossed, e.g. (AccountId,) for Account.Name."""
    field: FieldDef
    orm: str

    @property
    def rel_names(self) -> tuple[str, ...]:
        return tuple(h.relationship_name or "" for h in self.hops)


@dataclass
class Plan:
    obj: ObjectDef
    select: Select
    columns: list[Column]
    children: list[tuple[int, Plan, str]] = field(default_factory=list)
    """(index in the select list, the child's plan, the child's foreign key)"""
    where: Q = field(default_factory=Q)
    order: list[OrderBy] = field(default_factory=list)
    aggregates: list[tuple[Aggregate, Column]] = field(default_factory=list)
    """An aggregate query's functions, in select-list order."""
    groups: list[Column] = field(default_factory=list)


class Engine:
    def __init__(self, org: SalesforceOrg, soql: str, version: str) -> None:
        self.org = org
        self.soql = soql
        self.version = version
        self.today = timezone.now().date()

    # --- resolving names --------------------------------------------------------------------

    def fail(self, code: str, pos: int, text: str) -> SoqlError:
        return SoqlError(code, located(self.soql, pos, text))

    def resolve_field(self, obj: ObjectDef, ref: FieldRef) -> Column:
        path = list(ref.path)
        if len(path) > 1 and path[0].lower() == obj.name.lower() and not obj.relationship(path[0]):
            path = path[1:]
        hops: list[FieldDef] = []
        current = obj
        prefix = ""
        for name in path[:-1]:
            hop = current.relationship(name)
            if hop is None or hop.reference_to is None:
                raise self.fail(
                    "INVALID_FIELD",
                    ref.pos,
                    f"Didn't understand relationship '{name}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.",
                )
            hops.append(hop)
            prefix += f"{hop.fk}__"
            target = get_object(hop.reference_to)
            assert target is not None
            current = target
        found = current.field(path[-1], self.org)
        if found is None:
            raise self.fail(
                "INVALID_FIELD",
                ref.pos,
                f"No such column '{path[-1]}' on entity '{current.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        return Column(ref, tuple(hops), found, prefix + found.orm)

    def plan(self, select: Select, obj: ObjectDef | None = None) -> Plan:
        if obj is None:
            found = get_object(select.sobject, self.org)
            if found is None:
                raise self.fail(
                    "INVALID_TYPE",
                    select.sobject_pos,
                    f"sObject type '{select.sobject}' is not supported. If you are attempting "
                    "to use a custom object, be sure to append the '__c' after the entity "
                    "name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                )
            obj = found
        plan = Plan(obj, select, [])
        seen: set[str] = set()
        for index, item in enumerate(select.fields):
            if isinstance(item, Select):
                child = obj.child(item.sobject)
                if child is None:
                    raise self.fail(
                        "INVALID_TYPE",
                        item.sobject_pos,
                        f"Didn't understand relationship '{item.sobject}' in FROM part of "
                        "query call. If you are attempting to use a custom relationship, be "
                        "sure to append the '__r' after the custom relationship name.",
                    )
                child_obj = get_object(child.child)
                assert child_obj is not None
                plan.children.append((index, self.plan(item, child_obj), child.fk))
                continue
            if isinstance(item, Aggregate):
                plan.aggregates.append((item, self.aggregated_column(obj, item)))
                continue
            column = self.resolve_field(obj, item)
            key = column.orm
            if key in seen:
                raise self.fail(
                    "MALFORMED_QUERY", item.pos, f"duplicate field selected: {item.text}"
                )
            seen.add(key)
            plan.columns.append(column)
        if select.where is not None:
            plan.where = self.condition(obj, select.where)
        if select.aggregated:
            self.plan_aggregate(plan)
            return plan
        for order_item in select.order_by:
            if isinstance(order_item.field, Aggregate):
                raise self.fail(
                    "MALFORMED_QUERY",
                    order_item.field.pos,
                    "Aggregate functions can only be ordered by in an aggregate query",
                )
            column = self.resolve_field(obj, order_item.field)
            if not column.field.filterable:
                raise self.fail(
                    "INVALID_FIELD",
                    order_item.field.pos,
                    f"field '{column.field.name}' can not be sorted in a query call",
                )
            plan.order.extend(_order(column, order_item.descending, order_item.nulls_first))
        if select.offset is not None and select.offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        return plan

    # --- aggregate queries -------------------------------------------------------------------

    def aggregated_column(self, obj: ObjectDef, aggregate: Aggregate) -> Column:
        column = self.resolve_field(obj, aggregate.field)
        kind = column.field.type
        allowed = column.field.filterable and (
            kind in NUMBER_TYPES
            if aggregate.function in ("SUM", "AVG")
            else kind != "boolean"
            if aggregate.function in ("MIN", "MAX")
            else True
        )
        if not allowed:
            raise self.fail(
                "INVALID_FIELD",
                aggregate.field.pos,
                f"field {column.field.name} does not support aggregate operator "
                f"{aggregate.function}",
            )
        return column

    def plan_aggregate(self, plan: Plan) -> None:
        """GROUP BY columns, and the checks Salesforce makes: every plain field grouped, no
        subqueries, ordering by grouped fields or aggregates only, unique aliases."""
        select = plan.select
        if plan.children:
            raise self.fail(
                "MALFORMED_QUERY", select.pos, "aggregate queries cannot contain subqueries"
            )
        for ref in select.group_by:
            column = self.resolve_field(plan.obj, ref)
            if column.field.type in UNGROUPABLE or not column.field.filterable:
                raise self.fail(
                    "INVALID_FIELD",
                    ref.pos,
                    f"field '{column.field.name}' can not be grouped in a query call",
                )
            plan.groups.append(column)
        grouped = {column.orm for column in plan.groups}
        for column in plan.columns:
            if column.orm not in grouped:
                raise self.fail(
                    "MALFORMED_QUERY",
                    column.ref.pos,
                    f"Field must be grouped or aggregated: {column.field.name}",
                )
        keys = aggregate_keys(plan)
        seen: set[str] = set()
        for key in keys:
            if key.lower() in seen:
                raise self.fail("MALFORMED_QUERY", select.pos, f"duplicate alias: {key}")
            seen.add(key.lower())
        for order_item in select.order_by:
            if isinstance(order_item.field, Aggregate):
                self.aggregated_column(plan.obj, order_item.field)
                continue
            column = self.resolve_field(plan.obj, order_item.field)
            if column.orm not in grouped:
                raise self.fail(
                    "MALFORMED_QUERY",
                    order_item.field.pos,
                    f"Ordered field must be grouped or aggregated: {column.field.name}",
                )

    def run_aggregate(self, plan: Plan, include_deleted: bool) -> dict[str, Any]:
        """AggregateResult records: one per group (one in all without GROUP BY), all at once
        (Salesforce pages no aggregate query)."""
        qs = self.queryset(plan, include_deleted)
        select = plan.select
        functions: dict[str, OrmAggregate] = {
            f"a{i}": _orm_aggregate(aggregate.function, column)
            for i, (aggregate, column) in enumerate(plan.aggregates)
        }
        group_names = {column.orm: f"g{i}" for i, column in enumerate(plan.groups)}
        order: list[OrderBy] = []
        extra = len(functions)
        for order_item in select.order_by:
            if isinstance(order_item.field, Aggregate):
                column = self.aggregated_column(plan.obj, order_item.field)
                name = f"a{extra}"
                extra += 1
                functions[name] = _orm_aggregate(order_item.field.function, column)
            else:
                name = group_names[self.resolve_field(plan.obj, order_item.field).orm]
            nulls: dict[str, bool] = (
                {"nulls_first": True} if order_item.nulls_first else {"nulls_last": True}
            )
            expr = F(name)
            order.append(expr.desc(**nulls) if order_item.descending else expr.asc(**nulls))
        rows: list[dict[str, Any]]
        if plan.groups:
            group_exprs = {group_names[c.orm]: _group_expression(c) for c in plan.groups}
            order.extend(F(name).asc(nulls_first=True) for name in group_exprs)
            offset = select.offset or 0
            end = None if select.limit is None else offset + select.limit
            grouped = qs.order_by().values(**group_exprs).annotate(**functions).order_by(*order)
            rows = list(grouped[offset:end])
        else:
            rows = [qs.aggregate(**functions)] if select.limit != 0 and not select.offset else []
        keys = aggregate_keys(plan)
        records = []
        for row in rows:
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            column_iter = iter(plan.columns)
            aggregate_index = 0
            for key, item in zip(keys, select.fields, strict=True):
                if isinstance(item, Aggregate):
                    aggregate, column = plan.aggregates[aggregate_index]
                    record[key] = _aggregate_value(
                        aggregate.function, column, row[f"a{aggregate_index}"]
                    )
                    aggregate_index += 1
                else:
                    column = next(column_iter)
                    record[key] = render_value(column.field, row[group_names[column.orm]])
            records.append(record)
        return {"totalSize": len(records), "done": True, "records": records}

    # --- WHERE ------------------------------------------------------------------------------

    def condition(self, obj: ObjectDef, cond: Condition) -> Q:
        if isinstance(cond, Not):
            return ~self.condition(obj, cond.item)
        if isinstance(cond, BoolOp):
            out = Q()
            for i, item in enumerate(cond.items):
                q = self.condition(obj, item)
                out = q if i == 0 else (out & q if cond.op == "AND" else out | q)
            return out
        return self.comparison(obj, cond)

    def comparison(self, obj: ObjectDef, cmp: Comparison) -> Q:
        column = self.resolve_field(obj, cmp.field)
        f = column.field
        if not f.filterable:
            raise self.fail(
                "INVALID_FIELD",
                cmp.field.pos,
                f"field '{f.name}' can not be filtered in a query call",
            )
        path = column.orm
        if cmp.op in {"IN", "NOT IN"}:
            assert isinstance(cmp.value, tuple)
            q = Q(pk__in=[])
            for lit in cmp.value:
                q |= self.equals(f, path, lit)
            return ~q if cmp.op == "NOT IN" else q
        assert isinstance(cmp.value, Literal)
        lit = cmp.value
        if cmp.op == "LIKE":
            if f.type not in _TEXT:
                raise self.fail(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    cmp.field.pos,
                    f"invalid operator on {f.type} field: LIKE",
                )
            return Q(**{f"{path}__iregex": _like_regex(lit.value)})
        if cmp.op == "=":
            return self.equals(f, path, lit)
        if cmp.op == "!=":
            return ~self.equals(f, path, lit)
        if f.type == "boolean":
            raise self.fail(
                "INVALID_QUERY_FILTER_OPERATOR",
                lit.pos,
                f"invalid operator on boolean field: {cmp.op}",
            )
        if lit.kind == "null":
            return Q(pk__in=[])
        value = self.value(f, lit)
        if isinstance(value, tuple):
            start, end = value
            bounds = {
                "<": ("lt", start),
                "<=": ("lte", end),
                ">": ("gt", end),
                ">=": ("gte", start),
            }
            lookup, bound = bounds[cmp.op]
            if f.type == "datetime":
                # Ranges are [start, end) instants: "<= TODAY" means before tomorrow starts.
                lookup = {"lte": "lt", "gt": "gte"}.get(lookup, lookup)
            return Q(**{f"{path}__{lookup}": bound})
        lookup = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[cmp.op]
        return Q(**{f"{path}__{lookup}": value})

    def equals(self, f: FieldDef, path: str, lit: Literal) -> Q:
        if lit.kind == "null" or (lit.kind == "string" and lit.value == "" and f.type in _TEXT):
            if f.type in _TEXT:
                return Q(**{path: ""}) | Q(**{f"{path}__isnull": True})
            return Q(**{f"{path}__isnull": True})
        value = self.value(f, lit)
        if isinstance(value, tuple):
            start, end = value
            if f.type == "datetime":
                return Q(**{f"{path}__gte": start, f"{path}__lt": end})
            return Q(**{f"{path}__gte": start, f"{path}__lte": end})
        if f.type in _TEXT:
            return Q(**{f"{path}__iexact": value})
        return Q(**{path: value})

    def value(self, f: FieldDef, lit: Literal) -> Any:
        """The Python value of ``lit`` for field ``f``; a (start, end) pair for date ranges."""
        kind = lit.kind
        if f.type in STRING_TYPES:
            if kind != "string":
                raise self._type_error(f, lit, "string", "should be enclosed in quotes")
            if f.type in {"id", "reference"}:
                full = to_18(lit.value)
                if full is None:
                    raise self.fail(
                        "INVALID_QUERY_FILTER_OPERATOR", lit.pos, f"invalid ID field: {lit.value}"
                    )
                return full
            return str(lit.value).replace("\\%", "%").replace("\\_", "_")
        if f.type in NUMBER_TYPES:
            if kind != "number":
                raise self._type_error(f, lit, "number", "should not be enclosed in quotes")
            return lit.value if f.type != "int" else int(lit.value)
        if f.type == "boolean":
            if kind != "boolean":
                raise self._type_error(f, lit, "boolean", "should not be enclosed in quotes")
            return lit.value
        if f.type == "date":
            if kind == "date":
                return lit.value
            if kind == "dateliteral":
                return self._date_range(lit)
            raise self._type_error(f, lit, "date", "should not be enclosed in quotes")
        if f.type == "datetime":
            if kind == "datetime":
                return lit.value
            if kind == "dateliteral":
                start, end = self._date_range(lit)
                if end == dt.date.max:  # the range's end instant would be past the calendar
                    raise self.fail("MALFORMED_QUERY", lit.pos, f"invalid date literal: {lit.text}")
                return (_midnight(start), _midnight(end + dt.timedelta(days=1)))
            raise self._type_error(f, lit, "dateTime", "should not be enclosed in quotes")
        raise self._type_error(f, lit, f.type, "")

    def _type_error(self, f: FieldDef, lit: Literal, expected: str, hint: str) -> SoqlError:
        return self.fail(
            "INVALID_FIELD",
            lit.pos,
            f"value of filter criterion for field '{f.name}' must be of type {expected}"
            + (f" and {hint}" if hint else ""),
        )

    def _date_range(self, lit: Literal) -> tuple[dt.date, dt.date]:
        name, n = lit.value
        today = self.today
        one = dt.timedelta(days=1)
        if name == "TODAY":
            return today, today
        if name == "YESTERDAY":
            return today - one, today - one
        if name == "TOMORROW":
            return today + one, today + one
        try:
            if name == "LAST_N_DAYS":
                return today - dt.timedelta(days=n), today
            return today + one, today + dt.timedelta(days=n)
        except OverflowError:
            raise self.fail(
                "MALFORMED_QUERY", lit.pos, f"invalid date literal: {lit.text}"
            ) from None

    # --- running ----------------------------------------------------------------------------

    def queryset(self, plan: Plan, include_deleted: bool) -> QuerySet[SObject]:
        qs: QuerySet[SObject] = plan.obj.model.objects.filter(org=self.org)  # type: ignore[attr-defined]
        if not include_deleted:
            qs = qs.filter(is_deleted=False)
        return qs.filter(plan.where)

    def render_rows(
        self, plan: Plan, pks: list[int], include_deleted: bool
    ) -> list[dict[str, Any]]:
        paths = {"pk", "sf_id"}
        for column in plan.columns:
            paths.add(column.orm)
            prefix = ""
            for hop in column.hops:
                prefix += f"{hop.fk}__"
                paths.add(prefix + "sf_id")
        rows: dict[int, dict[str, Any]] = {}
        # Chunked: SQLite caps the number of bound parameters in one statement.
        for start in range(0, len(pks), IN_CHUNK):
            chunk = pks[start : start + IN_CHUNK]
            for row in plan.obj.model.objects.filter(pk__in=chunk).values(*paths):  # type: ignore[attr-defined]
                rows[row["pk"]] = row
        children = [
            (index, self.child_results(child_plan, fk, pks, include_deleted, position))
            for position, (index, child_plan, fk) in enumerate(plan.children)
        ]
        item_keys = self._item_keys(plan)
        keys = list(dict.fromkeys(item_keys))
        out = []
        for pk in pks:
            record = self.record(plan, rows[pk])
            if children:
                for index, results in children:
                    record[item_keys[index]] = results.get(pk)
                # Keep the select list's order: subqueries sit where they were written.
                record = {"attributes": record["attributes"], **{k: record[k] for k in keys}}
            out.append(record)
        return out

    def _item_keys(self, plan: Plan) -> list[str]:
        keys: list[str] = []
        column_iter = iter(plan.columns)
        for item in plan.select.fields:
            if isinstance(item, Select):
                child = plan.obj.child(item.sobject)
                assert child is not None
                keys.append(child.name)
            else:
                column = next(column_iter)
                keys.append(column.rel_names[0] if column.hops else column.field.name)
        return keys

    def record(self, plan: Plan, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": self.attributes(plan.obj.name, row["sf_id"])}
        for column in plan.columns:
            target = record
            prefix = ""
            alive = True
            for hop in column.hops:
                prefix += f"{hop.fk}__"
                name = hop.relationship_name or ""
                if name not in target:
                    parent_id = row[prefix + "sf_id"]
                    target[name] = (
                        None
                        if parent_id is None
                        else {"attributes": self.attributes(hop.reference_to or "", parent_id)}
                    )
                nested = target[name]
                if nested is None:
                    alive = False
                    break
                target = nested
            if alive:
                target[column.field.name] = render_value(column.field, row[column.orm])
        return record

    def attributes(self, sobject: str, sf_id: str) -> dict[str, str]:
        return {
            "type": sobject,
            "url": f"/services/data/v{self.version}/sobjects/{sobject}/{sf_id}",
        }

    def child_results(
        self, plan: Plan, fk: str, parent_pks: list[int], include_deleted: bool, position: int
    ) -> dict[int, dict[str, Any]]:
        qs = plan.obj.model.objects.filter(**{f"{fk}_id__in": parent_pks})  # type: ignore[attr-defined]
        if not include_deleted:
            qs = qs.filter(is_deleted=False)
        pairs = qs.filter(plan.where).order_by(*plan.order, "pk").values_list(f"{fk}_id", "pk")
        grouped: dict[int, list[int]] = defaultdict(list)
        for parent, pk in pairs:
            grouped[parent].append(pk)
        page_size = self.org.child_page_size
        limit = plan.select.limit
        shown: list[int] = []
        pages: dict[int, tuple[list[int], list[int]]] = {}
        for parent, pks in grouped.items():
            if limit is not None:
                pks = pks[:limit]
            pages[parent] = (pks, pks[:page_size])
            shown.extend(pks[:page_size])
        rendered = iter(self.render_rows(plan, shown, include_deleted))
        out: dict[int, dict[str, Any]] = {}
        for parent, (all_pks, page) in pages.items():
            if not all_pks:
                continue
            result: dict[str, Any] = {"totalSize": len(all_pks), "done": len(page) == len(all_pks)}
            if len(page) < len(all_pks):
                cursor = self.save_cursor(
                    QueryCursor.Kind.CHILD,
                    include_deleted,
                    all_pks,
                    page_size,
                    child_index=position,
                )
                result["nextRecordsUrl"] = self.next_url(cursor.locator, len(page))
            result["records"] = [next(rendered) for _ in page]
            out[parent] = result
        return out

    # --- cursors ----------------------------------------------------------------------------

    def save_cursor(
        self, kind: str, include_deleted: bool, pks: list[int], batch: int, child_index: int = 0
    ) -> QueryCursor:
        locator = "01g" + "".join(secrets.choice(BASE62) for _ in range(15))
        QueryCursor.objects.filter(org=self.org, expires_at__lte=timezone.now()).delete()
        return QueryCursor.objects.create(
            locator=locator,
            org=self.org,
            kind=kind,
            soql=self.soql,
            include_deleted=include_deleted,
            child_index=child_index,
            pks=pks,
            batch_size=batch,
            expires_at=timezone.now() + CURSOR_TTL,
        )

    def page(
        self,
        plan: Plan,
        pks: list[int],
        offset: int,
        batch: int,
        include_deleted: bool,
        kind: str,
        cursor: QueryCursor | None,
    ) -> dict[str, Any]:
        page = pks[offset : offset + batch]
        result: dict[str, Any] = {"totalSize": len(pks), "done": offset + len(page) >= len(pks)}
        if not result["done"]:
            if cursor is None:
                cursor = self.save_cursor(kind, include_deleted, pks, batch)
            result["nextRecordsUrl"] = self.next_url(cursor.locator, offset + len(page))
        result["records"] = self.render_rows(plan, page, include_deleted)
        return result

    def next_url(self, locator: str, offset: int) -> str:
        return f"/services/data/v{self.version}/query/{locator}-{offset}"


# Salesforce groups by text, picklists, ids, booleans, dates and integers; not by amounts,
# decimals or instants.
UNGROUPABLE = frozenset({"currency", "double", "percent", "datetime"})


def aggregate_keys(plan: Plan) -> list[str]:
    """Each select item's name in an AggregateResult: its alias, the field's own name, or
    ``expr0``, ``expr1``... for unaliased functions, numbered in order."""
    keys: list[str] = []
    column_iter = iter(plan.columns)
    implied = 0
    for index, item in enumerate(plan.select.fields):
        if isinstance(item, Aggregate):
            if item.alias:
                keys.append(item.alias)
            else:
                keys.append(f"expr{implied}")
                implied += 1
        elif not isinstance(item, Select):
            column = next(column_iter)
            keys.append(plan.select.aliases.get(index) or column.field.name)
    return keys


def _group_expression(column: Column) -> Expression | F:
    # Salesforce has no empty strings: an empty text and a null are one group.
    if column.field.type in _TEXT:
        return NullIf(column.orm, Value(""))
    return F(column.orm)


def _orm_aggregate(function: str, column: Column) -> OrmAggregate:
    path = column.orm
    # Empty text is null in Salesforce, and every function but COUNT() ignores nulls.
    not_empty = ~Q(**{path: ""}) if column.field.type in _TEXT else None
    if function == "COUNT":
        return Count(path, filter=not_empty)
    if function == "COUNT_DISTINCT":
        return Count(path, distinct=True, filter=not_empty)
    if function == "SUM":
        return Sum(path)
    if function == "AVG":
        return Avg(path)
    return (Min if function == "MIN" else Max)(path, filter=not_empty)


def _aggregate_value(function: str, column: Column, value: Any) -> Any:
    if function in ("COUNT", "COUNT_DISTINCT"):
        return int(value or 0)
    if value is None:
        return None
    if function == "AVG" or (function == "SUM" and column.field.type != "int"):
        return Decimal(str(value))
    return render_value(column.field, value)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _like_regex(pattern: str) -> str:
    out = ["^"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    out.append("$")
    return "".join(out)


def _order(column: Column, descending: bool, nulls_first: bool) -> list[OrderBy]:
    path = column.orm
    if column.field.type in _TEXT:
        empty = Case(
            When(Q(**{path: ""}) | Q(**{f"{path}__isnull": True}), then=Value(0)),
            default=Value(1),
        )
        text = Lower(path)
        return [
            empty.asc() if nulls_first else empty.desc(),
            text.desc() if descending else text.asc(),
        ]
    nulls: dict[str, bool] = {"nulls_first": True} if nulls_first else {"nulls_last": True}
    expr = F(path)
    return [expr.desc(**nulls) if descending else expr.asc(**nulls)]


def render_value(f: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if f.type in _TEXT:
        return value or None
    if f.type == "datetime":
        return format_datetime(value)
    if f.type == "date":
        return value.isoformat()
    if f.type == "double" and f.scale > 2:
        # A double such as ConversionRate goes out as Salesforce writes it (0.79, 1.0), not
        # with the column's six places.
        number = Decimal(value).normalize()
        return number.quantize(Decimal("0.1")) if number == number.to_integral() else number
    if f.type in {"currency", "double", "percent"}:
        return Decimal(value)
    return value


def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def run_query(
    org: SalesforceOrg, soql: str, *, version: str, include_deleted: bool, batch_size: int
) -> dict[str, Any]:
    engine = Engine(org, soql, version)
    plan = engine.plan(parse(soql))
    qs = engine.queryset(plan, include_deleted)
    select = plan.select
    offset = select.offset or 0
    end = None if select.limit is None else offset + select.limit
    if select.aggregated:
        return engine.run_aggregate(plan, include_deleted)
    if select.count:
        return {
            "totalSize": len(qs.values_list("pk", flat=True)[offset:end]),
            "done": True,
            "records": [],
        }
    pks = list(qs.order_by(*plan.order, "pk").values_list("pk", flat=True)[offset:end])
    return engine.page(plan, pks, 0, batch_size, include_deleted, QueryCursor.Kind.ROOT, None)


def query_more(org: SalesforceOrg, locator: str, offset: int, *, version: str) -> dict[str, Any]:
    cursor = QueryCursor.objects.filter(
        org=org, locator=locator, expires_at__gt=timezone.now()
    ).first()
    if cursor is None or offset < 0 or offset > len(cursor.pks):
        raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
    engine = Engine(org, cursor.soql, version)
    plan = engine.plan(parse(cursor.soql))
    if cursor.kind == QueryCursor.Kind.CHILD:
        plan = plan.children[cursor.child_index][1]
    return engine.page(
        plan,
        list(cursor.pks),
        offset,
        cursor.batch_size,
        cursor.include_deleted,
        cursor.kind,
        cursor,
    )

"""Xero's ``where`` and ``order`` query parameters, parsed for real and turned into ORM queries.

A small tokenizer and recursive-descent parser for the forms a product sends::

    Name=="Acme" AND (Status!="DELETED" OR Type=="ACCREC")
    Name.Contains("acme")   Name.StartsWith("Ac")   Name.ToLower()=="acme"
    Date >= DateTime(2024, 01, 01)   Contact.ContactID == guid("...")   AmountDue > 0

Anything else raises :class:`FilterError` (the API answers 400): a filter is never ignored.
String comparisons are case-insensitive, as Xero's are.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.db.models import Q

Kind = Literal["str", "date", "datetime", "uuid", "decimal", "bool"]


@dataclass(frozen=True)
class Field:
    lookup: str
    kind: Kind


class FilterError(ValueError):
    """A ``where``/``order`` Xero cannot parse; answered as a QueryParseException."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||>|<|=|!)
      | (?P<punct>[().,])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Unexpected character at position {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


Value = str | Decimal | bool | dt.datetime | uuid.UUID | None


MAX_NESTING = 100
"""Deeper parentheses or NOTs are refused: recursion is bounded long before Python's limit."""


class _Parser:
    def __init__(self, text: str, fields: dict[str, Field]) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.fields = fields
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of expression")
        if (text is not None and token.text.upper() != text.upper()) or (
            kind is not None and token.kind != kind
        ):
            raise FilterError(f"Expected {text or kind} but found {token.text!r}")
        self.pos += 1
        return token

    def accept(self, *texts: str) -> bool:
        token = self.peek()
        if token is not None and token.text.upper() in texts:
            self.pos += 1
            return True
        return False

    def parse(self) -> Q:
        q = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return q

    def or_expr(self) -> Q:
        q = self.and_expr()
        while self.accept("OR", "||"):
            q = q | self.and_expr()
        return q

    def and_expr(self) -> Q:
        q = self.unary()
        while self.accept("AND", "&&"):
            q = q & self.unary()
        return q

    def unary(self) -> Q:
        if self.depth >= MAX_NESTING:
            raise FilterError("The expression is nested too deeply")
        self.depth += 1
        try:
            if self.accept("NOT", "!"):
                return ~self.unary()
            if self.accept("("):
                q = self.or_expr()
                self.take(")")
                return q
            return self.predicate()
        finally:
            self.depth -= 1

    def field_path(self) -> tuple[str, str | None]:
        """The field name and an optional trailing method (Contains, StartsWith, ToLower...)."""
        parts = [self.take(kind="ident").text]
        method: str | None = None
        while self.accept("."):
            name = self.take(kind="ident").text
            if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                method = name
                break
            parts.append(name)
        return ".".join(parts), method

    def resolve(self, name: str) -> Field:
        for key, field in self.fields.items():
            if key.lower() == name.lower():
                return field
        raise FilterError(f"No property or field '{name}' exists")

    def predicate(self) -> Q:
        name, method = self.field_path()
        field = self.resolve(name)
        if method is not None:
            self.take("(")
            lowered = method.lower()
            if lowered in ("tolower", "toupper"):
                self.take(")")
            elif lowered in ("contains", "startswith", "endswith"):
                value = self.value()
                self.take(")")
                if field.kind != "str" or not isinstance(value, str):
                    raise FilterError(f"{method} applies to text fields and a string argument")
                lookup = {"contains": "icontains", "startswith": "istartswith"}.get(
                    lowered, "iendswith"
                )
                return Q(**{f"{field.lookup}__{lookup}": value})
            else:
                raise FilterError(f"Method '{method}' is not supported")
        op = self.take(kind="op").text
        if op == "=":
            op = "=="
        if op not in ("==", "!=", ">", ">=", "<", "<="):
            raise FilterError(f"Operator '{op}' is not supported")
        operand = _coerce(self.value(), field, name)
        if operand is None:
            q = Q(**{f"{field.lookup}__isnull": True}) | (
                Q(**{field.lookup: ""}) if field.kind == "str" else Q(pk__in=[])
            )
            if op not in ("==", "!="):
                raise FilterError("null can only be compared with == or !=")
            return q if op == "==" else ~q
        if op in ("==", "!="):
            lookup = f"{field.lookup}__iexact" if field.kind == "str" else field.lookup
            q = Q(**{lookup: operand})
            return q if op == "==" else ~q
        if field.kind in ("bool", "uuid"):
            raise FilterError(f"Operator '{op}' incompatible with '{name}'")
        suffix = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
        return Q(**{f"{field.lookup}__{suffix}": operand})

    def value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            if "\x00" in token.text:
                # No stored text holds NUL (PostgreSQL refuses it): no filter may name one.
                raise FilterError("A string may not contain NUL characters")
            return token.text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "ident":
            word = token.text.lower()
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
            if word == "datetime":
                return self._datetime()
            if word == "guid":
                self.take("(")
                raw = self.take(kind="string").text[1:-1]
                self.take(")")
                try:
                    return uuid.UUID(raw)
                except ValueError as exc:
                    raise FilterError(f"Invalid guid {raw!r}") from exc
        raise FilterError(f"Unexpected {token.text!r}")

    def _datetime(self) -> dt.datetime:
        self.take("(")
        numbers: list[int] = []
        if self.peek() is not None and self.peek().kind == "string":  # type: ignore[union-attr]
            raw = self.take(kind="string").text[1:-1]
            self.take(")")
            try:
                parsed = dt.datetime.fromisoformat(raw)
            except ValueError as exc:
                raise FilterError(f"Invalid DateTime {raw!r}") from exc
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        while True:
            number = self.take(kind="number").text
            if not number.lstrip("-").isdigit():
                raise FilterError(f"DateTime takes whole numbers, not {number}")
            numbers.append(int(number))
            if not self.accept(","):
                break
        self.take(")")
        if len(numbers) not in (3, 6):
            raise FilterError("DateTime takes (year, month, day[, hour, minute, second])")
        try:
            year, month, day, hour, minute, second = (*numbers, 0, 0, 0)[:6]
            return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
        except (ValueError, OverflowError) as exc:
            raise FilterError(str(exc)) from exc


def _coerce(value: Value, field: Field, name: str) -> Value | dt.date:
    if value is None:
        return None
    ok: bool
    if field.kind == "str":
        ok = isinstance(value, str)
    elif field.kind == "uuid":
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                ok = False
            else:
                ok = True
        else:
            ok = isinstance(value, uuid.UUID)
    elif field.kind == "decimal":
        ok = isinstance(value, Decimal)
    elif field.kind == "bool":
        ok = isinstance(value, bool)
    elif field.kind == "date":
        ok = isinstance(value, dt.datetime)
        if ok:
            return value.date()  # type: ignore[union-attr]
    else:
        ok = isinstance(value, dt.datetime)
    if not ok:
        raise FilterError(f"Operator incompatible with operand types of '{name}' and {value!r}")
    return value


def where_q(text: str, fields: dict[str, Field]) -> Q:
    if not text.strip():
        return Q()
    try:
        return _Parser(text, fields).parse()
    except (InvalidOperation, IndexError) as exc:
        raise FilterError(str(exc)) from exc


def order_by(text: str, fields: dict[str, Field]) -> list[str]:
    """``order=Name ASC, Date DESC`` to ORM ordering."""
    result: list[str] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise FilterError(f"Invalid order {part.strip()!r}")
        field = _Parser("", fields).resolve(words[0])
        descending = len(words) == 2 and words[1].upper() == "DESC"
        result.append(("-" if descending else "") + field.lookup)
    return result

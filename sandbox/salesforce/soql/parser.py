"""Recursive descent over the supported grammar:

query     := SELECT items FROM name [WHERE cond] [GROUP BY field (, field)*]
             [ORDER BY order] [LIMIT n] [OFFSET n]
items     := COUNT() | item (, item)*
item      := field [alias] | function ( field ) [alias]
             | ( SELECT fields FROM relationship [WHERE] [ORDER BY] [LIMIT] )
function  := COUNT | COUNT_DISTINCT | SUM | AVG | MIN | MAX
order     := (field | function ( field )) [ASC | DESC] [NULLS FIRST | LAST] (, ...)*
cond      := unary (AND unary)* | unary (OR unary)*      -- mixing needs parentheses
unary     := NOT unary | ( cond ) | field op value | field [NOT] IN (values)
             | field LIKE 'pattern'
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sandbox.salesforce.soql.ast import (
    Aggregate,
    BoolOp,
    Comparison,
    Condition,
    FieldRef,
    Literal,
    Not,
    OrderItem,
    Select,
)
from sandbox.salesforce.soql.errors import SoqlError, located
from sandbox.salesforce.soql.lexer import Token, tokenize

DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
N_DATE_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
AGGREGATE_FUNCTIONS = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
UNSUPPORTED = frozenset(
    {"HAVING", "WITH", "FOR", "USING", "TYPEOF", "INCLUDES", "EXCLUDES", "ROLLUP"}
)
RESERVED = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "GROUP",
        "AND",
        "OR",
        "NOT",
        "ORDER",
        "BY",
        "LIMIT",
        "OFFSET",
        "IN",
        "LIKE",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "NULL",
        "TRUE",
        "FALSE",
    }
    | UNSUPPORTED
)


MAX_NESTING = 100
"""Conditions nested deeper than this (parentheses or NOTs) are refused: recursion is bounded
long before Python's own limit."""
MAX_INTEGER = 2**31 - 1
"""LIMIT and OFFSET are Salesforce integers (32 bits)."""


class Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, token: Token | None = None, text: str | None = None) -> SoqlError:
        token = token or self.tok
        if text is None:
            if token.kind == "eof":
                text = "unexpected end of query"
            elif token.is_kw(*UNSUPPORTED):
                text = f"unexpected token: '{token.text}' (not supported by the sandbox)"
            else:
                text = f"unexpected token: '{token.text}'"
        return SoqlError("MALFORMED_QUERY", located(self.soql, token.pos, text))

    def expect_kw(self, *words: str) -> Token:
        if not self.tok.is_kw(*words):
            raise self.error()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.tok.kind != "punct" or self.tok.text != char:
            raise self.error()
        return self.advance()

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == char

    # --- query ------------------------------------------------------------------------------

    def parse(self) -> Select:
        select = self.select(nested=False)
        if self.tok.kind != "eof":
            raise self.error()
        return select

    def select(self, *, nested: bool) -> Select:
        start = self.expect_kw("SELECT")
        fields: list[FieldRef | Select | Aggregate] = []
        aliases: dict[int, Token] = {}
        count = False
        if self.tok.is_kw("COUNT") and self.at_call() and self.tokens[self.i + 2].text == ")":
            if nested:
                raise self.error()
            self.i += 3
            count = True
        else:
            while True:
                if self.at_punct("("):
                    if nested:
                        raise self.error()
                    self.advance()
                    fields.append(self.select(nested=True))
                    self.expect_punct(")")
                elif self.tok.is_kw(*AGGREGATE_FUNCTIONS) and self.at_call():
                    if nested:
                        raise self.error()
                    aggregate = self.aggregate()
                    alias = self.alias()
                    if alias is not None:
                        aggregate = Aggregate(
                            aggregate.function, aggregate.field, aggregate.pos, alias.text
                        )
                    fields.append(aggregate)
                else:
                    ref = self.field_ref()
                    if self.at_punct("("):
                        raise self.error(
                            text=f"unexpected token: '(' (function {ref.text} is not "
                            "supported by the sandbox)"
                        )
                    alias = self.alias()
                    if alias is not None:
                        aliases[len(fields)] = alias
                    fields.append(ref)
                if not self.at_punct(","):
                    break
                self.advance()
        self.expect_kw("FROM")
        name = self.tok
        if name.kind != "ident" or "." in name.text or name.text.upper() in RESERVED:
            raise self.error()
        self.advance()
        select = Select(name.text, name.pos, fields, count, pos=start.pos)
        select.aliases = {index: token.text for index, token in aliases.items()}
        if self.tok.is_kw("WHERE"):
            self.advance()
            select.where = self.condition()
        if self.tok.is_kw("GROUP"):
            if nested or count:
                raise self.error()
            self.advance()
            self.expect_kw("BY")
            select.group_by = [self.field_ref()]
            while self.at_punct(","):
                self.advance()
                select.group_by.append(self.field_ref())
        if aliases and not select.aggregated:
            # Salesforce takes aliases in aggregate queries only.
            raise self.error(next(iter(aliases.values())))
        if self.tok.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            select.order_by = self.order_items()
        if self.tok.is_kw("LIMIT"):
            self.advance()
            select.limit = self.integer()
        if self.tok.is_kw("OFFSET"):
            if nested:
                raise self.error()
            self.advance()
            select.offset = self.integer()
        return select

    def at_call(self) -> bool:
        """The current word is followed by ``(``: a function call."""
        following = self.tokens[self.i + 1]
        return following.kind == "punct" and following.text == "("

    def aggregate(self) -> Aggregate:
        token = self.advance()
        self.expect_punct("(")
        if self.at_punct(")"):
            raise self.error(
                text=f"{token.text.upper()}() takes a field here: COUNT() stands alone"
            )
        ref = self.field_ref()
        self.expect_punct(")")
        return Aggregate(token.text.upper(), ref, token.pos)

    def alias(self) -> Token | None:
        token = self.tok
        if (
            token.kind == "ident"
            and token.text.upper() not in RESERVED
            and "." not in token.text
            and ":" not in token.text
        ):
            return self.advance()
        return None

    def field_ref(self) -> FieldRef:
        token = self.tok
        if token.kind != "ident" or token.text.upper() in RESERVED or ":" in token.text:
            raise self.error()
        self.advance()
        return FieldRef(tuple(token.text.split(".")), token.pos)

    def integer(self) -> int:
        token = self.tok
        if token.kind != "number" or not token.text.isdigit():
            raise self.error()
        if int(token.text) > MAX_INTEGER:
            raise self.error(text=f"number out of range: {token.text}")
        self.advance()
        return int(token.text)

    def order_items(self) -> list[OrderItem]:
        items = []
        while True:
            ref: FieldRef | Aggregate
            if self.tok.is_kw(*AGGREGATE_FUNCTIONS) and self.at_call():
                ref = self.aggregate()
            else:
                ref = self.field_ref()
            descending = False
            if self.tok.is_kw("ASC", "DESC"):
                descending = self.advance().text.upper() == "DESC"
            nulls_first = not descending
            if self.tok.is_kw("NULLS"):
                self.advance()
                nulls_first = self.expect_kw("FIRST", "LAST").text.upper() == "FIRST"
            items.append(OrderItem(ref, descending, nulls_first))
            if not self.at_punct(","):
                return items
            self.advance()

    # --- conditions -------------------------------------------------------------------------

    def condition(self) -> Condition:
        first = self.unary()
        if not self.tok.is_kw("AND", "OR"):
            return first
        op = self.tok.text.upper()
        items = [first]
        while self.tok.is_kw("AND", "OR"):
            if self.tok.text.upper() != op:
                # Salesforce refuses "a AND b OR c": the grouping must be explicit.
                raise self.error()
            self.advance()
            items.append(self.unary())
        return BoolOp(op, tuple(items))

    def unary(self) -> Condition:
        if self.depth >= MAX_NESTING:
            raise self.error(text="conditions are nested too deeply")
        self.depth += 1
        try:
            if self.tok.is_kw("NOT"):
                self.advance()
                return Not(self.unary())
            if self.at_punct("("):
                self.advance()
                inner = self.condition()
                self.expect_punct(")")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Comparison:
        ref = self.field_ref()
        token = self.tok
        if token.kind == "op":
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(ref, op, self.literal())
        if token.is_kw("LIKE"):
            self.advance()
            value = self.literal()
            if value.kind != "string":
                raise self.error(text="LIKE needs a string pattern")
            return Comparison(ref, "LIKE", value)
        negated = False
        if token.is_kw("NOT"):
            self.advance()
            negated = True
            if not self.tok.is_kw("IN"):
                raise self.error()
        if self.tok.is_kw("IN"):
            self.advance()
            self.expect_punct("(")
            if self.tok.is_kw("SELECT"):
                raise self.error(text="semi-join subqueries are not supported by the sandbox")
            values = [self.literal()]
            while self.at_punct(","):
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(ref, "NOT IN" if negated else "IN", tuple(values))
        raise self.error()

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "string":
            return Literal("string", token.value, token.text, token.pos)
        if token.kind == "number":
            try:
                return Literal("number", Decimal(token.text), token.text, token.pos)
            except InvalidOperation:
                raise self.error(token) from None
        if token.kind == "date":
            try:
                return Literal("date", dt.date.fromisoformat(token.text), token.text, token.pos)
            except ValueError:
                raise self.error(token, f"invalid date: {token.text}") from None
        if token.kind == "datetime":
            return Literal("datetime", self._datetime(token), token.text, token.pos)
        if token.kind == "ident":
            word = token.text.upper()
            if word in {"TRUE", "FALSE"}:
                return Literal("boolean", word == "TRUE", token.text, token.pos)
            if word == "NULL":
                return Literal("null", None, token.text, token.pos)
            if word in DATE_LITERALS:
                return Literal("dateliteral", (word, 0), token.text, token.pos)
            name, _, number = word.partition(":")
            if name in N_DATE_LITERALS and number:
                return Literal("dateliteral", (name, int(number)), token.text, token.pos)
        raise self.error(token)

    def _datetime(self, token: Token) -> dt.datetime:
        text = token.text.replace("Z", "+00:00")
        if text[-5] in "+-" and text[-3] != ":":
            text = f"{text[:-2]}:{text[-2:]}"
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise self.error(token, f"invalid dateTime: {token.text}") from None


def parse(soql: str) -> Select:
    return Parser(soql).parse()

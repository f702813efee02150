from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.salesforce.soql.errors import SoqlError, located


@dataclass(frozen=True)
class Token:
    kind: str
    """ident, string, number, date, datetime, op, punct, eof"""
    text: str
    pos: int
    value: str = ""

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
_TOKEN = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<datetime>{_DATETIME})
  | (?P<date>\d{{4}}-\d{{2}}-\d{{2}})(?![\dT:])
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+))(?![\w.])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<string>')
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN.match(soql, pos)
        if match is None:
            raise SoqlError(
                "MALFORMED_QUERY", located(soql, pos, f"unexpected token: '{soql[pos]}'")
            )
        kind = match.lastgroup or ""
        if kind == "ws":
            pos = match.end()
            continue
        if kind == "string":
            value, end = _read_string(soql, pos)
            tokens.append(Token("string", soql[pos:end], pos, value))
            pos = end
            continue
        tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "", len(soql)))
    return tokens


def _read_string(soql: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    pos = start + 1
    while pos < len(soql):
        char = soql[pos]
        if char == "\\":
            nxt = soql[pos + 1 : pos + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in {"%", "_"}:
                # Kept escaped: only LIKE gives them meaning, and it unescapes them itself.
                out.append("\\" + nxt)
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    located(soql, pos, "Invalid string literal: illegal escape sequence"),
                )
            pos += 2
            continue
        if char == "'":
            return "".join(out), pos + 1
        if char == "\x00":
            # No stored text holds NUL (PostgreSQL refuses it), so no filter may name one.
            raise SoqlError(
                "MALFORMED_QUERY", located(soql, pos, "Invalid string literal: illegal character")
            )
        out.append(char)
        pos += 1
    raise SoqlError("MALFORMED_QUERY", located(soql, start, "unterminated string literal"))

from __future__ import annotations


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` is what its JSON error carries."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status


def located(soql: str, pos: int, text: str) -> str:
    """Salesforce's message layout: the query, a caret under the offending token, the text."""
    line_start = soql.rfind("\n", 0, pos) + 1
    row = soql.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"

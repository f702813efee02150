"""Mapping tables inside a rule row: Salesforce value → Xero value pairs, posted as rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from integrations.setup.forms.base import MAX_MAPPING_ROWS
from integrations.setup.sources import Choices


class MappingInput(forms.Widget):
    """Reads rows ``<name>-<i>-key`` / ``<name>-<i>-value`` for ``i < <name>-rows``.

    The rows are drawn by the rule row's template (see :meth:`RuleForm.mapping_rows`), not by
    this widget. Rows without a value are left out: emptying a value removes the row.
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in posted_rows(data, name) if v]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


def posted_rows(data: Any, name: str) -> list[tuple[str, str]]:
    try:
        count = min(int(data.get(f"{name}-rows") or 0), MAX_MAPPING_ROWS)
    except (TypeError, ValueError):
        count = 0
    return [
        (
            str(data.get(f"{name}-{i}-key") or "").strip(),
            str(data.get(f"{name}-{i}-value") or "").strip(),
        )
        for i in range(count)
    ]


class MappingField(forms.Field):
    """Key → value pairs from :class:`MappingInput`; a key listed twice is an error here (a
    dict would silently keep one)."""

    widget = MappingInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        out: dict[str, str] = {}
        for key, item in value or []:
            if key in out:
                raise ValidationError(f"{key!r} is listed twice: keep one row.")
            out[key] = item
        return out

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)


@dataclass(frozen=True)
class MappingRow:
    index: int
    key: str
    value: str
    fixed: bool
    """The key comes from a list (currencies, picklist values): shown, not typed."""
    key_name: str
    value_name: str
    choices: Choices | None
    """A dropdown for the value (keeping the stored one); None: a text box."""

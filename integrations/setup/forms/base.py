"""What every setup form shares: help from :mod:`integrations.setup.help` at each field, a note
when a system cannot be read, and the limits of the mapping tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.forms.utils import ErrorDict

from integrations.setup import sources as src
from integrations.setup.help import Help, help_for
from integrations.setup.sources import Choices

MAX_MAPPING_ROWS = 200
SWITCH = {"role": "switch"}


def _note(provider: str) -> str:
    name = src.PROVIDER_NAMES[provider]
    return f"(No list from {name} yet: type it as {name} shows it.)"


@dataclass(frozen=True)
class FieldHelp:
    """A bound field with its help, for the templates."""

    field: forms.BoundField
    help: Help
    anchor: str


class HelpMixin:
    """Labels and help text from :mod:`integrations.setup.help`; read-only on request."""

    fields: dict[str, forms.Field]
    help_prefix: ClassVar[str] = ""
    fallback_notes: dict[str, str]
    # Provided by Django's forms.
    is_bound: bool
    data: Any
    _errors: ErrorDict | None
    add_prefix: Callable[[str], str]
    # Each form knows where its values are stored (the config, or the rule row).
    saved: Callable[[str], str]

    def current(self, name: str) -> str:
        """The field's value: as posted when bound, else as stored."""
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name)) or "").strip()
        return self.saved(name)

    def silence(self) -> None:
        """Shows posted values without validating them (a form re-drawn after a change)."""
        self._errors = ErrorDict()

    def _apply_help(self, read_only: bool) -> None:
        for name, field in self.fields.items():
            info = self.help_of(name)
            if info is not None:
                field.label = info.label
                note = self.fallback_notes.get(name, "")
                field.help_text = f"{info.short} {note}".strip()
            if read_only:
                field.disabled = True

    def help_of(self, name: str) -> Help | None:
        try:
            return help_for(f"{self.help_prefix}{name}")
        except KeyError:
            return None

    def _choice(
        self,
        name: str,
        choices: Choices | None,
        *,
        current: str,
        provider: str,
        blank: str | None = None,
        max_length: int = 255,
    ) -> forms.Field:
        """A dropdown of ``choices`` (keeping ``current``); a text box when there is no list."""
        if choices is None:
            self.fallback_notes[name] = _note(provider)
            return forms.CharField(required=blank is None, max_length=max_length)
        options: list[Any] = [("", blank)] if blank is not None else []
        options += src.with_current(choices, current, provider)
        return forms.ChoiceField(choices=options, required=blank is None)

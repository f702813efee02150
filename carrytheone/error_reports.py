"""What Django's error reports show (the technical 500 page with ``DEBUG``, error emails):
secrets masked by the same rule as our logs and Sentry events (``carrytheone.scrub``)."""

from __future__ import annotations

from collections.abc import ItemsView, Mapping
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.template.defaultfilters import pprint
from django.views.debug import SafeExceptionReporterFilter

from carrytheone.scrub import SECRET_KEY, scrub_data, scrub_text


class _Shown:
    """A frame variable the report shows as this (scrubbed) text instead of its repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter — settings and request headers by name, ``sensitive_variables`` and
    ``sensitive_post_parameters`` — also with ``DEBUG`` on (whoever makes ``make run`` fail
    reads the technical page, and a password posted to it shows there otherwise), and every
    form field and frame variable named like a credential masked, the other variables
    scrubbed of secret-looking text.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if request is None or not any(SECRET_KEY.search(key) for key in params):
            return params
        cleansed = params.copy()
        for key in cleansed:
            if SECRET_KEY.search(key):
                cleansed[key] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        return {
            name: self.cleansed_substitute if SECRET_KEY.search(name) else self._scrubbed(value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        }.items()

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str | Mapping | list | tuple):
            return scrub_data(value)
        text = pprint(value)
        scrubbed = scrub_text(text)
        return value if scrubbed == text else _Shown(scrubbed)

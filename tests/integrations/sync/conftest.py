"""Fixtures for the engine's end-to-end tests: an integration wired to both simulators."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from integrations.connections.xero.client import XeroClient
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every Xero API method the product calls, counted."""
    seen: Counter[str] = Counter()
    original = XeroClient.call

    def counting(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        seen[method] += 1
        return original(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroClient, "call", counting)
    return seen


@pytest.fixture
def integration(sandbox_url: str, settings: Any) -> Integration:
    point_at_sandbox(settings, sandbox_url)
    return sandbox_integration(
        sandbox_url, is_enabled=True, config=SyncConfig(default_currency="USD").to_json()
    )

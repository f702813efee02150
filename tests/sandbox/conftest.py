from __future__ import annotations

import pytest


@pytest.fixture
def sandbox_url(live_server, settings) -> str:
    """The live test server's base URL, which the simulators use to describe themselves."""
    settings.SANDBOX_BASE_URL = live_server.url
    return str(live_server.url)

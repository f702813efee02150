"""Where the product looks for Xero and Salesforce is decided by settings alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = [
    "XERO_API_URL",
    "XERO_CONNECTIONS_URL",
    "XERO_AUTHORIZE_URL",
    "XERO_TOKEN_URL",
    "XERO_REVOKE_URL",
    "SALESFORCE_LOGIN_URL",
]


def _run_django(code: str, tmp_path: Path, **env: str) -> str:
    """Runs ``code`` after django.setup() in a fresh process; returns its last output line."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {*KEYS, "SANDBOX_ENABLED", "SANDBOX_DATABASE_URL"}
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "carrytheone.settings",
            "DEBUG": "1",
            "VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def _settings(tmp_path: Path, **env: str) -> dict[str, str]:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{k: getattr(settings, k) for k in {KEYS!r}}}))"
    )
    return dict(json.loads(_run_django(code, tmp_path, **env)))


def test_real_services_by_default(tmp_path):
    urls = _settings(tmp_path, SANDBOX_ENABLED="0")
    assert urls == {
        "XERO_API_URL": "https://api.xero.com/api.xro/2.0",
        "XERO_CONNECTIONS_URL": "https://api.xero.com/connections",
        "XERO_AUTHORIZE_URL": "https://login.xero.com/identity/connect/authorize",
        "XERO_TOKEN_URL": "https://identity.xero.com/connect/token",
        "XERO_REVOKE_URL": "https://identity.xero.com/connect/revocation",
        "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
    }


def test_sandbox_urls_when_enabled(tmp_path):
    urls = _settings(tmp_path, SANDBOX_ENABLED="1", SANDBOX_BASE_URL="http://127.0.0.1:9000/")
    assert urls["XERO_API_URL"] == "http://127.0.0.1:9000/sandbox/xero/api.xro/2.0"
    assert urls["XERO_TOKEN_URL"] == "http://127.0.0.1:9000/sandbox/xero/identity/connect/token"
    assert urls["SALESFORCE_LOGIN_URL"] == "http://127.0.0.1:9000"


def test_an_explicit_url_wins(tmp_path):
    urls = _settings(tmp_path, SANDBOX_ENABLED="1", XERO_API_URL="https://proxy.example/xero")
    assert urls["XERO_API_URL"] == "https://proxy.example/xero"


def test_sandbox_routes_exist_only_when_enabled(tmp_path):
    code = (
        "from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox/'); print('mounted')\n"
        "except Resolver404:\n    print('absent')"
    )
    assert _run_django(code, tmp_path, SANDBOX_ENABLED="1") == "mounted"
    assert _run_django(code, tmp_path, SANDBOX_ENABLED="0") == "absent"


def test_the_sandbox_exists_only_when_enabled(tmp_path):
    """Its apps (so its tables), its URLs and its database are there only with it on."""
    code = (
        "import json; from django.apps import apps; from django.conf import settings; "
        "from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox/'); routed = True\n"
        "except Resolver404:\n    routed = False\n"
        "print(json.dumps([apps.is_installed('sandbox.xero'), "
        "apps.is_installed('sandbox.salesforce'), 'sandbox' in settings.DATABASES, routed]))"
    )
    assert json.loads(_run_django(code, tmp_path, SANDBOX_ENABLED="0")) == [
        False,
        False,
        False,
        False,
    ]
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    # On, with SQLite: the simulators get a database file of their own...
    on = _run_django(code, tmp_path, SANDBOX_ENABLED="1", DATABASE_URL=sqlite)
    assert json.loads(on) == [True, True, True, True]
    # ... unless told to share the product's (the test suite does).
    shared = _run_django(
        code, tmp_path, SANDBOX_ENABLED="1", DATABASE_URL=sqlite, SANDBOX_DATABASE_URL=""
    )
    assert json.loads(shared) == [True, True, False, True]


def test_sqlite_waits_for_the_write_lock_instead_of_failing(tmp_path):
    code = (
        "import json; from django.conf import settings\n"
        "o = settings.DATABASES['default']['OPTIONS']\n"
        "print(json.dumps([o['transaction_mode'], o['timeout'], 'journal_mode=WAL' in "
        "o['init_command']]))"
    )
    clean_db = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    assert json.loads(_run_django(code, tmp_path, **clean_db)) == ["IMMEDIATE", 20.0, True]


def test_make_run_listens_on_port_and_site_url_follows(tmp_path):
    out = subprocess.run(
        ["make", "-n", "run", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={k: v for k, v in os.environ.items() if k not in {"SITE_URL", "PORT"}},
    ).stdout
    assert "PORT=8123 SITE_URL=${SITE_URL:-http://127.0.0.1:8123}" in out
    assert "honcho --procfile Procfile start --port 8123" in out
    assert "127.0.0.1:$PORT" in (ROOT / "Procfile").read_text()

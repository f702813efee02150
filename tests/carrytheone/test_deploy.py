"""Production configuration: deploy checks, required secrets, docker-compose entry points."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "ZGVwbG95LWNoZWNrLXRlc3Qta2V5LTMyLWJ5dGVzISE="


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "FIELD_ENCRYPTION_KEYS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="p" + "r0duct10n-s3cret-with-enough-entropy-and-length-xyzzy-42",
        ALLOWED_HOSTS="app.carrytheone.example",
        FIELD_ENCRYPTION_KEYS=FERNET_KEY,
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_requires_encryption_keys(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        DEBUG="0",
        SECRET_KEY="p" + "r0duct10n-s3cret-with-enough-entropy-and-length-xyzzy-42",
        ALLOWED_HOSTS="app.carrytheone.example",
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "integrations.E001" in result.stderr


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = _manage("check", DEBUG="0", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("f" + "ile-based-secret-with-enough-entropy-and-length-abcdefghij-99")
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="x.example",
        FIELD_ENCRYPTION_KEYS=FERNET_KEY,
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_docker_compose_services_name_real_entry_points():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert (ROOT / "Dockerfile").is_file()

    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["build"] in (".", {"context": "."}), name
        command = service["command"]
        argv = shlex.split(command) if isinstance(command, str) else command
        if argv[0] == "gunicorn":
            module, _, attr = argv[-1].partition(":")
            assert _module_exists(module), argv
            assert hasattr(importlib.import_module(module), attr), argv
        elif argv[0] == "celery":
            app_module = argv[argv.index("-A") + 1]
            assert _module_exists(app_module), argv
            assert argv[argv.index("-A") + 2] in {"worker", "beat"}, argv
        else:
            raise AssertionError(f"unexpected command for {name}: {argv}")
        environment = service.get("environment", {})
        assert "DATABASE_URL" in environment, name
        assert "REDIS_URL" in environment, name
        assert environment.get("DEBUG", "0") in {"0", 0}, name

    # Migrations run once, before the web, worker and beat start.
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert (ROOT / "manage.py").is_file()
    for name in ("web", "worker", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_check_deploy_warns_behind_a_proxy_without_trusted_client_ips(tmp_path):
    """USE_X_FORWARDED_PROTO says a proxy is in front; without TRUSTED_PROXY_COUNT every
    visitor would share its IP (one bad guesser would slow everybody's logins)."""
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "p" + "r0duct10n-s3cret-with-enough-entropy-and-length-xyzzy-42",
        "ALLOWED_HOSTS": "app.carrytheone.example",
        "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
        "VAR_DIR": str(tmp_path),
        "USE_X_FORWARDED_PROTO": "1",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "accounts.W001" in result.stdout + result.stderr
    result = _manage("check", "--deploy", "--fail-level", "WARNING", TRUSTED_PROXY_COUNT="1", **env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_login_policy_fails_the_checks(tmp_path):
    result = _manage("check", DEBUG="1", VAR_DIR=str(tmp_path), LOGIN_FAILED_RATE_LIMIT="10/m")
    assert result.returncode != 0
    assert "accounts.E001" in result.stdout + result.stderr

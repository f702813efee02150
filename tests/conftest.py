from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import settings as hypothesis_settings

from accounts.models import Role
from tests.factories import AccountFactory, MembershipFactory, UserFactory


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# CI replays the same examples every run (a failure there reproduces here with CI=true), with
# no per-example deadline on its loaded machine; a developer's run explores new ones. Tests'
# own @settings (example counts) still apply.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if _in_ci():
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Services a test is marked for must be there; in CI their absence fails, never skips."""
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    has_redis = bool(settings.REDIS_URL)
    if _in_ci() and not (on_postgres and has_redis):
        raise pytest.UsageError(
            "CI=true needs DATABASE_URL (PostgreSQL) and REDIS_URL; refusing to skip their tests."
        )
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Rate-limit counters live in the cache; one test's failed logins must not lock out another.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _reference_rows_after_a_flush(request: pytest.FixtureRequest) -> None:
    """Under pytest-xdist, the rows the migrations seed (the reference plan) come back before
    each database test. Serially pytest-django runs every transactional test — whose teardown
    flushes the tables — after all the others; a worker given whole files cannot, so a file
    run after another's transactional test would find the plan gone."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = bool(marker.kwargs.get("transaction")) or bool(marker.args and marker.args[0])
    request.getfixturevalue("transactional_db" if transactional else "db")
    import importlib

    from django.apps import apps

    from billing.models import Plan

    if not Plan.objects.filter(code="standard").exists():
        importlib.import_module("billing.migrations.0003_seed_reference_plan").seed(apps, None)


@pytest.fixture
def account(db):
    return AccountFactory.create()


def _member_client(account, role: Role) -> tuple[Client, object]:
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=role)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def owner_client(account):
    client, _ = _member_client(account, Role.OWNER)
    return client


@pytest.fixture
def admin_client_(account):
    client, _ = _member_client(account, Role.ADMIN)
    return client


@pytest.fixture
def support_client(account):
    client, _ = _member_client(account, Role.SUPPORT)
    return client


@pytest.fixture
def outsider_client(db):
    """An owner of a different account: must see nothing of ``account``."""
    other = AccountFactory.create()
    client, _ = _member_client(other, Role.OWNER)
    client.own_account = other  # type: ignore[attr-defined]
    return client


@pytest.fixture
def sandbox_url(live_server, settings) -> str:
    """The live test server's base URL, which the simulators use to describe themselves."""
    settings.SANDBOX_BASE_URL = live_server.url
    return str(live_server.url)

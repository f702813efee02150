"""The dashboard of an account with a year of history, rendered over real HTTP, logged in.

    python -m bench.dashboard_bench [--days 365] [--deals-per-day 100] [--requests 100]
                                    [--database auto|postgres|sqlite]

One account, one integration with ``days`` of history at ``deals_per_day`` won deals a day
(by default about 36,500 ledger rows, 73,000 Xero writes, 100,000 log entries and 35,000 runs —
a poll every 15 minutes), seeded by bulk inserts; a second account with the same history, so
the queries must pick this account's rows out of a table that holds more. Then the account's
home (the account dashboard) and the integration's page are each fetched ``requests`` times,
one after the other, from a gunicorn server of the product, production settings (DEBUG off,
static files collected). The result — the latency percentiles in milliseconds — is the last
line of stdout, as JSON.

Run alone, it uses a database of its own (``BENCH_DASHBOARD_DATABASE``, default
``carrytheone_bench_dashboard``, dropped and created; SQLite when PostgreSQL does not answer)
and ``REDIS_URL`` if set. Called from a process where Django is already set up (the ``make
bench`` orchestrator), it seeds and serves that process's database and environment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.push_bench import percentile
from bench.sync_bench import (
    ROOT,
    VAR,
    bench_env,
    choose_database,
    free_port,
    log,
    sandbox_server,
)

DATABASE = os.environ.get("BENCH_DASHBOARD_DATABASE", "carrytheone_bench_dashboard")
BATCH = 5_000
RUNS_PER_DAY = 96
WARM_UP = 5


def run_dashboard_bench(
    *, days: int = 365, deals_per_day: int = 100, requests: int = 100, database: str = "auto"
) -> dict[str, float]:
    """Seeds the account and measures its dashboard pages: p50 and p95 in milliseconds."""
    from django.apps import apps

    if apps.ready:
        env = dict(os.environ)
        _collect_static(env)
    else:
        env = _standalone_env(database)
    from django.db import connections

    account_slug, integration_id, session_key = _seed(days=days, deals_per_day=deals_per_day)
    connections.close_all()
    port = free_port()
    env.update({"SANDBOX_BASE_URL": f"http://127.0.0.1:{port}"})
    with sandbox_server(env, port) as base:
        home = f"{base}/a/{account_slug}/"
        detail = f"{base}/a/{account_slug}/integrations/{integration_id}/"
        log(f"dashboard: measuring {requests} requests of {home} and of {detail}")
        account_ms = _measure(home, session_key, requests)
        integration_ms = _measure(detail, session_key, requests)
    return {
        "dashboard_p95_ms": round(percentile(account_ms, 0.95), 1),
        "dashboard_p50_ms": round(statistics.median(account_ms), 1),
        "integration_dashboard_p95_ms": round(percentile(integration_ms, 0.95), 1),
        "integration_dashboard_p50_ms": round(statistics.median(integration_ms), 1),
    }


def _standalone_env(mode: str) -> dict[str, str]:
    VAR.mkdir(parents=True, exist_ok=True)
    database_url, label = choose_database(mode, DATABASE)
    redis_url = os.environ.get("REDIS_URL", "")
    env = bench_env(database_url=database_url, port=free_port(), redis=False)
    static_root = VAR / "dashboard-static"
    env["STATIC_ROOT"] = str(static_root)
    if redis_url:
        env.update({"REDIS_URL": redis_url, "CACHE_KEY_PREFIX": "c1dashbench"})
    log(f"dashboard: database {label}; cache and limiter: {redis_url or 'files in var/bench'}")
    os.environ.update(env)
    for name in set(os.environ) - set(env):
        del os.environ[name]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    _collect_static(env)
    log("dashboard: migrated, static files collected")
    return env


def _collect_static(env: dict[str, str]) -> None:
    """DEBUG is off, as in production: pages need the collected, hashed static files (in the
    server's STATIC_ROOT, which the server process reads from ``env``)."""
    env.setdefault("STATIC_ROOT", str(VAR / "dashboard-static"))
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _seed(*, days: int, deals_per_day: int) -> tuple[str, int, str]:
    """Two accounts with the same history; the first one's slug, integration and session."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    started = time.monotonic()
    rng = random.Random(16)  # noqa: S311 - a reproducible history, not a secret
    user_model = get_user_model()
    owner = user_model.objects.create_user(email=f"dashboard-{time.time_ns()}@bench.example")
    slug, integration_id = _account(owner, "Dashboard Bench", rng, days, deals_per_day)
    _account(None, "Another Customer", rng, days, deals_per_day)
    _settled()
    client = Client()
    client.force_login(owner)
    log(f"dashboard: seeded 2 accounts in {time.monotonic() - started:.1f} s")
    return slug, integration_id, client.cookies["sessionid"].value


def _settled() -> None:
    """What autovacuum does soon after bulk inserts on PostgreSQL: planner statistics, and the
    visibility map that lets index-only scans skip the table."""
    from django.db import connection

    from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (LedgerEntry, SyncLogEntry, SyncRun, XeroOperation):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _account(
    owner: Any, name: str, rng: random.Random, days: int, deals_per_day: int
) -> tuple[str, int]:
    from django.contrib.auth import get_user_model

    from accounts.services import account_create
    from integrations.connections.models import Connection
    from integrations.core.models import Integration

    if owner is None:
        owner = get_user_model().objects.create_user(email=f"other-{time.time_ns()}@bench.example")
    account = account_create(owner=owner, name=name)
    connections = {
        provider: Connection.objects.create(
            account=account,
            provider=provider,
            external_id=f"{provider}-{account.pk}",
            display_name=f"{name} {provider}",
            credentials={},
        )
        for provider in ("xero", "salesforce")
    }
    now = dt.datetime.now(dt.UTC)
    integration = Integration.objects.create(
        account=account,
        name=f"{name} sync",
        is_enabled=True,
        xero_connection=connections["xero"],
        salesforce_connection=connections["salesforce"],
        last_success_at=now,
        watermark=now,
    )
    _history(integration.pk, rng, now=now, days=days, deals_per_day=deals_per_day)
    return account.slug, int(integration.pk)


def _history(
    integration_id: int, rng: random.Random, *, now: dt.datetime, days: int, deals_per_day: int
) -> None:
    from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun, XeroOperation

    start = now - dt.timedelta(days=days)
    ledger: list[LedgerEntry] = []
    operations: list[XeroOperation] = []
    entries: list[SyncLogEntry] = []
    runs: list[SyncRun] = []
    serial = 0

    def flush(force: bool = False) -> None:
        batches: tuple[tuple[Any, list[Any]], ...] = (
            (LedgerEntry, ledger),
            (XeroOperation, operations),
            (SyncLogEntry, entries),
            (SyncRun, runs),
        )
        for model, rows in batches:
            if rows and (force or len(rows) >= BATCH):
                model.objects.bulk_create(rows, batch_size=BATCH)
                rows.clear()

    for day in range(days):
        midnight = start + dt.timedelta(days=day)
        for _ in range(deals_per_day):
            serial += 1
            won = midnight + dt.timedelta(seconds=rng.randrange(86_400))
            invoiced = won + dt.timedelta(seconds=rng.randrange(5, 600))
            sf_id = f"006{integration_id:05d}{serial:010d}"
            ledger.append(
                LedgerEntry(
                    integration_id=integration_id,
                    salesforce_id=sf_id,
                    opportunity_name=f"Deal {serial}",
                    customer_name=f"Customer {serial % 2000}",
                    system_modstamp=won,
                    state=LedgerEntry.State.SYNCED,
                    xero_invoice_number=f"INV-{serial:06d}",
                    first_seen_won_at=won,
                    invoiced_at=invoiced,
                )
            )
            operations += [
                _operation(integration_id, XeroOperation.Kind.INVOICE, f"i{serial}", invoiced),
                _operation(
                    integration_id,
                    XeroOperation.Kind.PAYMENT,
                    f"p{serial}",
                    invoiced + dt.timedelta(hours=rng.randrange(1, 48)),
                ),
            ]
            if rng.random() < 0.03:
                operations.append(
                    _operation(integration_id, XeroOperation.Kind.CREDIT_NOTE, f"c{serial}", won)
                )
            entries += [
                _entry(integration_id, sf_id, "created", "invoice", invoiced),
                _entry(integration_id, sf_id, "created", "payment", invoiced),
                _entry(integration_id, sf_id, rng.choice(("updated", "skipped")), "invoice", won),
            ]
            if rng.random() < 0.04:
                entries.append(
                    _entry(
                        integration_id,
                        sf_id,
                        rng.choice(("failed", "attention")),
                        rng.choice(("invoice", "payment", "contact", "credit_note")),
                        won,
                    )
                )
        for n in range(RUNS_PER_DAY):
            at = midnight + dt.timedelta(minutes=15 * n)
            runs.append(
                SyncRun(
                    integration_id=integration_id,
                    status=SyncRun.Status.SUCCEEDED,
                    started_at=at,
                    finished_at=at + dt.timedelta(seconds=3),
                    read_count=deals_per_day // RUNS_PER_DAY + 1,
                    created_count=deals_per_day // RUNS_PER_DAY,
                    xero_calls=rng.randrange(0, 8),
                )
            )
        flush()
    flush(force=True)


def _operation(integration_id: int, kind: str, subject: str, at: dt.datetime) -> Any:
    from integrations.sync.models import XeroOperation

    return XeroOperation(
        integration_id=integration_id,
        kind=kind,
        state=XeroOperation.State.DONE,
        subject=subject,
        attempts=1,
        sent_at=at,
        finished_at=at,
        created_at=at,
    )


def _entry(integration_id: int, sf_id: str, outcome: str, step: str, at: dt.datetime) -> Any:
    from integrations.sync.models import SyncLogEntry

    return SyncLogEntry(
        integration_id=integration_id,
        salesforce_id=sf_id,
        record_name=f"Deal {sf_id[-6:]}",
        step=step,
        outcome=outcome,
        message=f"{step} {outcome}",
        created_at=at,
    )


def _measure(url: str, session_key: str, requests_: int) -> list[float]:
    import requests

    session = requests.Session()
    session.cookies.set("sessionid", session_key)
    timings: list[float] = []
    for n in range(requests_ + WARM_UP):
        began = time.perf_counter()
        response = session.get(url, timeout=60, allow_redirects=False)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200 or "dashboard-data" not in response.text:
            raise SystemExit(f"{url} answered {response.status_code}, not the dashboard")
        if n >= WARM_UP:
            timings.append(elapsed)
    return timings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_bench", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--deals-per-day", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    options = parser.parse_args(argv)
    result = run_dashboard_bench(
        days=options.days,
        deals_per_day=options.deals_per_day,
        requests=options.requests,
        database=options.database,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

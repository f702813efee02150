"""``make bench``: the sync engine against the sandbox, 10,000 won opportunities, over real HTTP.

    python -m bench.sync_bench [--opportunities N] [--naive N] [--database auto|postgres|sqlite]
                               [--profile FILE]

What it does, in order (progress on stderr, the result as the last line of stdout):

1. A database of its own: ``carrytheone_bench`` on the PostgreSQL at 127.0.0.1:5432 (dropped
   and created each run) when it answers, else a fresh SQLite file ``var/bench/bench.sqlite3``.
   Never the ``make run`` or test databases. Migrated from scratch.
2. Seeds the simulators in bulk (:mod:`bench.seed`): one Salesforce org with 10,000 won
   opportunities of 2,000 customers, 3 line items each from 30 products; two Xero organisations
   (one for the engine, one for the naive baseline) where about 20% of the customers and
   products already exist. The sandbox's rate limits are lifted in its database, and the
   product's own limiter through its settings (``XERO_LIMIT_*``, ``SALESFORCE_API_HEADROOM``).
3. Serves the sandbox from a separate process (gunicorn, 2 workers, a free loopback port), so
   that its CPU time is not the engine's.
4. Runs the engine in a fresh process exactly as a Celery worker would:
   ``sync_integration(integration_id=...)``, again while a run stops early. That process
   measures its wall time, the time spent waiting on HTTP (:mod:`bench.probe`), the requests
   made, and its peak RSS.
5. Runs the naive one-at-a-time sync (:mod:`bench.naive`) on the first 1,000 opportunities in
   another fresh process, into the second Xero organisation.
6. Counts duplicates in the sandbox's Xero database and prints the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import io
import json
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.seed import Seeded

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DATABASE = "carrytheone_bench"
# A Redis database of the benchmark's own: flushed at the start of each run (the limiter's
# counters would otherwise carry over, the tenant ids being the same every run).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Used only by the benchmark's throwaway database.
BENCH_FERNET_KEY = "YmVuY2gtb25seS1rZXktbm90LWZvci1wcm9kLTAwMDE="
LIFTED = str(10**9)
MAX_RUNS = 20
# One clock for the log lines of every benchmark process (workers inherit the start).
_STARTED = float(os.environ.get("BENCH_STARTED") or time.time())


def log(message: str) -> None:
    print(f"[bench {time.time() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the environment ---------------------------------------------------------------------------


def _psycopg2() -> Any:
    # A project dependency without type stubs; used here before Django is set up.
    return importlib.import_module("psycopg2")


def _postgres_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
    except OSError:
        return False
    try:
        _psycopg2().connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=2
        ).close()
    except Exception:  # any failure means "use SQLite instead"
        return False
    return True


def _postgres_recreate(database: str = PG_DATABASE) -> str:
    psycopg2 = _psycopg2()
    sql = importlib.import_module("psycopg2.sql")
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            name = sql.Identifier(database)
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(name))
    finally:
        conn.close()
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def choose_database(mode: str, database: str = PG_DATABASE) -> tuple[str, str]:
    """(DATABASE_URL, label): PostgreSQL when it answers (or is asked for), else SQLite.
    ``database`` names both the PostgreSQL database and the SQLite file (another benchmark
    may run beside this one)."""
    if mode in ("auto", "postgres") and _postgres_answers():
        return _postgres_recreate(database), f"postgresql {PG_HOST}:{PG_PORT}/{database}"
    if mode == "postgres":
        raise SystemExit(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT}")
    path = VAR / ("bench.sqlite3" if database == PG_DATABASE else f"{database}.sqlite3")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}", f"sqlite {path}"


def _redis_flushed() -> bool:
    """Empties the benchmark's Redis database; False when there is no Redis to use."""
    if not REDIS_URL:
        return False
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(*, database_url: str, port: int, redis: bool) -> dict[str, str]:
    """The environment of every benchmark process: production-like settings, sandbox on."""
    env = dict(os.environ)
    # Anything that would point the product elsewhere than this run's sandbox.
    for name in (
        "XERO_API_URL",
        "XERO_CONNECTIONS_URL",
        "XERO_AUTHORIZE_URL",
        "XERO_TOKEN_URL",
        "XERO_REVOKE_URL",
        "SALESFORCE_LOGIN_URL",
        "XERO_CLIENT_ID",
        "XERO_CLIENT_SECRET",
        "SALESFORCE_CLIENT_ID",
        "SALESFORCE_CLIENT_SECRET",
        "CELERY_BROKER_URL",
        "REDIS_URL",
    ):
        env.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    env.update(
        {
            "BENCH_STARTED": str(_STARTED),
            "DJANGO_SETTINGS_MODULE": "carrytheone.settings",
            "PYTHONPATH": str(ROOT),
            # DEBUG off as in production: with it on, Django keeps every SQL query in memory.
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret-key-not-for-production",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "FIELD_ENCRYPTION_KEYS": BENCH_FERNET_KEY,
            "VAR_DIR": str(VAR),
            "DATABASE_URL": database_url,
            "SANDBOX_ENABLED": "1",
            "SANDBOX_BASE_URL": base,
            "SITE_URL": base,
            "LOG_LEVEL": "WARNING",
            "EXTERNAL_HTTP_TIMEOUT": "300",
            # The product's own limiter, lifted (harmless where it does not exist yet).
            "XERO_LIMIT_PER_MINUTE": LIFTED,
            "XERO_LIMIT_CONCURRENT": LIFTED,
            "XERO_LIMIT_PER_DAY": LIFTED,
            "XERO_DAY_RESERVE": "0",
            "XERO_LIMIT_MAX_WAIT": "60",
            "SALESFORCE_API_HEADROOM": "0.0",
        }
    )
    if redis:
        env.update({"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": "c1bench"})
    return env


@contextlib.contextmanager
def sandbox_server(env: dict[str, str], port: int) -> Iterator[str]:
    """Serves this project (the simulators) with gunicorn on ``port`` until the block ends."""
    base = f"http://127.0.0.1:{port}"
    logfile = VAR / "sandbox-server.log"
    with logfile.open("w") as out:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "carrytheone.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "600",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(f"{base}/healthz", server, logfile)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the sandbox server exited; see {logfile}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our loopback server
                return
        except urllib.error.HTTPError:
            return  # it answers, which is all we need
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the sandbox server did not start within 60 s; see {logfile}")


def run_worker(env: dict[str, str], args: Sequence[str]) -> dict[str, Any]:
    """Runs ``python -m bench.sync_bench --role ...`` in a fresh process; its JSON result."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "bench.sync_bench", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise SystemExit(f"the {args[1]} process failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- the worker processes: the engine, the naive sync ------------------------------------------


def _engine(integration_id: int) -> dict[str, Any]:
    from integrations.connections.providers import ProviderError
    from integrations.sync.models import SyncRun
    from integrations.sync.run import sync_integration

    runs: list[SyncRun] = []
    for attempt in range(1, MAX_RUNS + 1):
        try:
            run = sync_integration(integration_id=integration_id)
        except ProviderError as exc:
            log(f"engine run {attempt} raised a transient error ({exc.message}); again")
            continue
        if run is None:
            raise SystemExit("the integration is claimed by another worker")
        runs.append(run)
        log(
            f"engine run {attempt}: {run.status}, read {run.read_count}, created "
            f"{run.created_count}, failed {run.failed_count}, {run.xero_calls} Xero calls"
        )
        if not run.error:
            break
        log(f"  stopped early: {run.error}")
    return {
        "opportunities": sum(r.created_count + r.updated_count + r.failed_count for r in runs),
        "runs": len(runs),
        "failed": sum(r.failed_count for r in runs),
        "run_xero_calls": sum(r.xero_calls for r in runs),
        "run_salesforce_calls": sum(r.salesforce_calls for r in runs),
    }


def worker(role: str, integration_id: int, limit: int, profile: str) -> None:
    import django

    django.setup()
    from django.db import connection

    from bench.naive import naive_sync
    from bench.probe import HttpProbe, peak_rss_mb, rss_mb
    from integrations.sync import run  # noqa: F401 - imported before the baseline

    gc.collect()
    baseline = rss_mb()
    queries: Counter[str] = Counter()

    def counting(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        queries[_query_kind(sql)] += 1
        return execute(sql, *args)

    profiler = cProfile.Profile() if profile else None
    probe = HttpProbe(on_request=_progress(role)).install()
    with connection.execute_wrapper(counting):
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        if role == "engine":
            result = _engine(integration_id)
        else:
            result = {"opportunities": naive_sync(integration_id=integration_id, limit=limit)}
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - start
    probe.uninstall()
    if profiler is not None:
        profiler.dump_stats(profile)
        _print_profile(profiler, role)
    result.update(
        {
            "wall_seconds": wall,
            "http_wait_seconds": probe.wait_seconds,
            "xero_calls": probe.xero_calls,
            "salesforce_calls": probe.salesforce_calls,
            "other_http_calls": probe.other_calls,
            "db_queries": queries.total(),
            "db_queries_by_kind": dict(queries.most_common(12)),
            "http_calls_by_kind": dict(probe.by_kind.most_common()),
            "baseline_rss_mb": baseline,
            "peak_rss_mb": peak_rss_mb(),
            "profiled": profiler is not None,
        }
    )
    print(json.dumps(result))


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


def _query_kind(sql: str) -> str:
    """``INSERT integrations_synclogentry``: the verb and the first table of a statement."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1) if table else ''}".strip()


def _progress(role: str) -> Callable[[str], None]:
    """Logs every 1,000 invoices sent (by counting invoice writes: the engine sends 50 a call)."""
    every = 20 if role == "engine" else 1_000
    state = {"writes": 0, "start": time.perf_counter()}

    def seen(kind: str) -> None:
        if kind in ("PUT /Invoices", "POST /Invoices"):
            state["writes"] += 1
            if state["writes"] % every == 0:
                elapsed = time.perf_counter() - state["start"]
                log(f"{role}: {state['writes']} invoice writes in {elapsed:.0f} s")

    return seen


def _print_profile(profiler: cProfile.Profile, role: str) -> None:
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(30)
        log(f"{role} profile by {order}:\n{text.getvalue()}")


# --- the orchestrator ----------------------------------------------------------------------


def _duplicates(org_name: str) -> dict[str, int]:
    """Extra copies in a sandbox Xero organisation: invoices per Reference, contacts per name,
    items per code (live documents only)."""
    from sandbox.xero.models import Contact, Invoice, Item

    def extra(values: Iterator[str] | list[str]) -> int:
        return sum(n - 1 for n in Counter(values).values() if n > 1)

    invoices = list(
        Invoice.objects.filter(organisation__name=org_name, type="ACCREC")
        .exclude(status__in=("DELETED", "VOIDED"))
        .values_list("reference", flat=True)
    )
    contacts = [
        name.lower()
        for name in Contact.objects.filter(organisation__name=org_name)
        .exclude(status="ARCHIVED")
        .values_list("name", flat=True)
    ]
    items = [
        c.lower()
        for c in Item.objects.filter(organisation__name=org_name).values_list("code", flat=True)
    ]
    return {
        "invoices": len(invoices),
        "duplicate_invoices": extra(invoices),
        "duplicate_contacts": extra(contacts),
        "duplicate_items": extra(items),
    }


def _figures(measured: dict[str, Any], dupes: dict[str, int], full: int) -> dict[str, Any]:
    """The issue's keys (plus a few that show how they were computed)."""
    count = max(int(measured["opportunities"]), 1)
    xero = int(measured["xero_calls"])
    wall = float(measured["wall_seconds"])
    engine_seconds = wall - float(measured["http_wait_seconds"])
    return {
        "opportunities_per_second": round(count / wall, 1),
        "xero_calls_per_opportunity": round(xero / count, 4),
        "salesforce_calls": int(measured["salesforce_calls"]),
        "peak_memory_mb": round(float(measured["peak_rss_mb"]), 1),
        "engine_ms_per_opportunity": round(engine_seconds * 1000 / count, 3),
        "duplicates": dupes["duplicate_invoices"]
        + dupes["duplicate_contacts"]
        + dupes["duplicate_items"],
        # What a customer waits at Xero's 60 calls a minute, for all `full` opportunities.
        "minutes_under_xero_limits": round(xero / count * full / 60, 1),
        "opportunities": count,
        "xero_calls": xero,
        "wall_seconds": round(wall, 1),
        "baseline_memory_mb": round(float(measured["baseline_rss_mb"]), 1),
        "memory_growth_mb": round(
            float(measured["peak_rss_mb"]) - float(measured["baseline_rss_mb"]), 1
        ),
        "db_queries_per_opportunity": round(int(measured["db_queries"]) / count, 2),
    }


# The organisation's settings the sync reads before anything else (organisation, tax rates,
# currencies, accounts, tracking categories, branding themes): it cannot choose tax or
# accounts without them.
METADATA_READS = 6
WRITE_BATCH = 50
CONTACTS_PER_PAGE = 1000


def xero_calls_lower_bound(seeded: Seeded) -> int:
    """The fewest Xero calls the benchmark's data needs: one write per 50 documents of each
    kind it creates or links (invoices, contacts, our ContactNumber on the contacts found by
    name, items), plus the reads that cannot be avoided (the settings, one page of contacts per
    1,000 that exist, one lookup of the item codes)."""

    def writes(count: int) -> int:
        return -(-count // WRITE_BATCH)

    return (
        writes(seeded.opportunities)
        + writes(seeded.customers - seeded.existing_contacts)
        + writes(seeded.existing_contacts)
        + writes(seeded.products - seeded.existing_items)
        + METADATA_READS
        + max(1, -(-seeded.existing_contacts // CONTACTS_PER_PAGE))
        + 1
    )


def orchestrate(options: argparse.Namespace) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    database_url, label = choose_database(options.database)
    redis = _redis_flushed()
    shutil.rmtree(VAR / "ratelimit", ignore_errors=True)
    port = free_port()
    env = bench_env(database_url=database_url, port=port, redis=redis)
    log(f"database: {label}; cache and limiter: {REDIS_URL if redis else 'files in var/bench'}")
    os.environ.update(env)
    for name in set(os.environ) - set(env):
        del os.environ[name]

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from bench.seed import ENGINE_XERO_ORG, NAIVE_XERO_ORG, Shape, connect, sandbox_seed

    shape = Shape(
        opportunities=options.opportunities,
        customers=options.customers,
        products=options.products,
        lines=options.lines,
        open_opportunities=options.push + 4 * options.burst,
    )
    call_command("migrate", verbosity=0, interactive=False)
    log("migrated")
    seeded = sandbox_seed(shape)
    log(f"seeded: {dict(asdict(seeded), open_opportunities=len(seeded.open_opportunities))}")
    integrations = connect(base_url=env["SANDBOX_BASE_URL"])
    connections.close_all()

    with sandbox_server(env, port) as base:
        log(f"sandbox served by gunicorn at {base}; engine running (a few minutes)...")
        engine_args = ["--role", "engine", "--integration", str(integrations.engine_id)]
        if options.profile:
            engine_args += ["--profile-to", str(Path(options.profile).resolve())]
        engine = run_worker(env, engine_args)
        log(f"engine: {engine}")
        naive: dict[str, Any] | None = None
        if options.naive:
            log(f"naive sync of {options.naive} opportunities, one at a time...")
            naive = run_worker(
                env,
                [
                    "--role",
                    "naive",
                    "--integration",
                    str(integrations.naive_id),
                    "--limit",
                    str(options.naive),
                ],
            )
            log(f"naive: {naive}")
        pushed: dict[str, Any] | None = None
        if options.push:
            from bench.push_bench import measure
            from bench.seed import SALESFORCE_ORG

            pushed = measure(
                env=env,
                base=base,
                integration_id=integrations.engine_id,
                salesforce_org=SALESFORCE_ORG,
                xero_org=ENGINE_XERO_ORG,
                open_opportunities=seeded.open_opportunities,
                steady=options.push,
                burst=options.burst,
                payments=options.payments,
                log=log,
                var=VAR,
            )

    engine_dupes = _duplicates(ENGINE_XERO_ORG)
    log(f"engine organisation after the run: {engine_dupes}")
    won = seeded.opportunities + (
        int(pushed["push_steady"]["opportunities"]) + int(pushed["push_bursts"]["opportunities"])
        if pushed
        else 0
    )
    if engine_dupes["invoices"] != won:
        log(f"WARNING: {engine_dupes['invoices']} invoices for {won} won opportunities")
    result = _figures(engine, engine_dupes, seeded.opportunities)
    bound = xero_calls_lower_bound(seeded)
    result["xero_calls_lower_bound"] = bound
    result["xero_calls_lower_bound_per_opportunity"] = round(bound / seeded.opportunities, 4)
    result["xero_calls_over_lower_bound"] = round(int(engine["xero_calls"]) / bound, 2)
    if pushed is not None:
        result.update(pushed)
    if naive is not None:
        naive_dupes = _duplicates(NAIVE_XERO_ORG)
        log(f"naive organisation after the run: {naive_dupes}")
        result["naive"] = _figures(naive, naive_dupes, seeded.opportunities)
    result["database"] = label.split()[0]
    result["profiled"] = bool(engine["profiled"])
    result["bench_seconds"] = round(time.time() - _STARTED, 1)
    print(json.dumps(result))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_bench", description=__doc__)
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--lines", type=int, default=3, help="line items per opportunity")
    parser.add_argument(
        "--naive", type=int, default=1_000, help="opportunities for the naive sync (0: skip)"
    )
    parser.add_argument(
        "--push",
        type=int,
        default=200,
        help="opportunities closed one a second for the push benchmark (0: skip push)",
    )
    parser.add_argument("--burst", type=int, default=50, help="push bursts: 4 of this many")
    parser.add_argument(
        "--payments", type=int, default=60, help="payments recorded in Xero for the write-back"
    )
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument(
        "--profile",
        default="",
        help="run the engine under cProfile, dump the stats here and print the top entries "
        "(its timings are then inflated by the profiler)",
    )
    # The worker processes the orchestrator starts.
    parser.add_argument("--role", choices=("engine", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--integration", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", default="", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role:
        worker(options.role, options.integration, options.limit, options.profile_to)
    else:
        orchestrate(options)


if __name__ == "__main__":
    main()

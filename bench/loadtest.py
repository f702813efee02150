"""``make loadtest``: thousands of customers on one deployment.

    python -m bench.loadtest [--small] [--accounts N] [--integrations N] [--entries N]
                             [--users 20] [--seconds S] [--warmup S] [--generators 2]
                             [--gunicorn-workers 3] [--gunicorn-threads 4] [--celery-workers 4]
                             [--neighbour/--no-neighbour] [--var DIR]

It starts what it needs on its own ports and stops it all at the end:

- a private PostgreSQL cluster (:class:`bench.chaos_servers.PrivatePostgres`): fresh every run,
  sized for a million rows (shared buffers, no fsync), and no load on the machine's own server,
  which the other engineers' test suites share; a private Redis (broker, cache, rate limiter);
- gunicorn with production settings (``DEBUG=0``, the gthread worker as the Procfile runs it),
  ``--celery-workers`` Celery worker processes on the Redis broker, and beat.

1. Seeds ``--accounts`` accounts (an owner each, with a password; a few staff users), two
   integrations per account with both connections usable (encrypted fake tokens whose URLs lead
   to a closed local port: nothing can leave the machine), sync runs, ledger rows, Xero
   operations and ``--entries`` log entries, skewed (a few integrations with 100k+ entries, most
   with hundreds), with COPY and the log's indexes built after the load.
2. Counts the queries of each page in-process (``CaptureQueriesContext``) for a small and a
   large integration: a page that queries per row shows two different numbers.
3. Times the beat passes in-process over every integration: ``poll_integrations``,
   ``check_configurations`` and ``evaluate_alerts`` (median of 5 after a warm-up). What they
   publish goes to the private Redis and is purged after each pass, before any worker runs:
   thousands of syncs against fake tokens measure nothing about the pages.
4. Starts the stack and loads four pages — the account dashboard, the integration's page, a
   record's page and a log search — with ``--users`` concurrent logged-in users (closed loop,
   each its own session and keep-alive connection, pausing ``--think-ms`` on average between
   pages as a person reading them does, spread over ``--generators`` processes so the generator
   does not starve on one core), each page alone then all four mixed; then the mixed load
   again with no pause at all (``capacity``: the most pages a second, reported, not judged).
   Beat runs meanwhile (the polls and configuration checks set apart beyond the run, see 3;
   the alert evaluation runs every minute on the workers, against the same database).
5. Once that stack is down, the noisy-neighbour benchmark (``bench/neighbour.py``) on a stack
   of its own, merged under ``neighbour`` (``--no-neighbour`` leaves it out).

The last line of stdout is the JSON summary (also ``var/loadtest/summary.json``); the exit code
is 0 only when it passed: every p95 under ``--p95-limit`` ms, the poll pass under
``--beat-limit`` s, no request answered other than 200, and every page's query count the same
for a small and a large integration.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import http.client
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from bench.chaos import Stack, _wait_http, beat_argv, chaos_env, web_argv, worker_argv
from bench.chaos_servers import PrivatePostgres, PrivateRedis, free_port
from bench.console_bench import (
    CAUSES,
    COMPANIES,
    DEALS,
    OUTCOMES,
    _IndexesDeferred,
    _load,
    load_log_entries,
)
from bench.push_bench import percentile

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "carrytheone_loadtest"
PASSWORD = "loadtest-password-1"  # noqa: S105 - the seeded users' password, a throwaway cluster
# Where every provider URL leads: the discard port, closed, so a call fails at once and locally.
NOWHERE = "http://127.0.0.1:9"
PAGES = ("dashboard", "integration", "record", "log_search")
BIG_INTEGRATIONS = 4
BIG_SHARE = 0.12  # of all entries, each of the big integrations
ENTRIES_PER_RECORD = 5
STAFF_USERS = 3
BEAT_PASSES = 5
# Memory for a million-row log on a 2-core machine; fsync off: a throwaway cluster.
POSTGRES_OPTIONS = (
    "-c shared_buffers=256MB -c effective_cache_size=1GB -c work_mem=16MB "
    "-c maintenance_work_mem=256MB -c max_wal_size=4GB -c synchronous_commit=off "
    "-c random_page_cost=1.1"
)
_STARTED = time.time()


def log(message: str) -> None:
    print(f"[loadtest {time.time() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class Target:
    """One account's pages, as one user loads them."""

    account: int
    slug: str
    integration_id: int
    ledger_id: int
    search: str
    session: str = ""

    def paths(self) -> dict[str, str]:
        base = f"/a/{self.slug}/"
        integration = f"{base}integrations/{self.integration_id}/"
        return {
            "dashboard": base,
            "integration": integration,
            "record": f"{integration}records/{self.ledger_id}/",
            "log_search": f"{integration}log/?q={self.search}&show=all",
        }


@dataclass
class Seeded:
    accounts: int = 0
    integrations: int = 0
    entries: int = 0
    users: int = 0
    # integration id → (account index, slug, log entries)
    by_integration: dict[int, tuple[int, str, int]] = field(default_factory=dict)
    sample_ledger: dict[int, tuple[int, str]] = field(default_factory=dict)


def _entry_counts(integrations: int, entries: int, rng: random.Random) -> list[int]:
    """Log entries per integration: the first few big, the rest a few hundred, unevenly."""
    big = min(BIG_INTEGRATIONS, max(1, integrations // 25))
    counts = [int(entries * BIG_SHARE)] * big
    rest = entries - sum(counts)
    weights = [rng.uniform(0.2, 1.8) for _ in range(integrations - big)]
    total = sum(weights) or 1.0
    counts += [int(rest * w / total) for w in weights]
    counts[-1] += entries - sum(counts)
    return counts


def _connection(provider: str, external_id: str, **made: Any) -> Any:
    """A usable connection (active, tokens valid for years) whose URLs lead nowhere."""
    from integrations.connections.models import Connection

    account, n = made.pop("account"), made.pop("n")
    return Connection(
        account=account,
        provider=provider,
        external_id=external_id,
        display_name=f"{account.name} {provider} {n}",
        connected_by=made.pop("owner"),
        credentials={
            "access_token": f"{provider}-access-{n}",
            "refresh_token": f"{provider}-refresh-{n}",
            "expires_at": made.pop("expires"),
            **made,
        },
    )


def seed(*, accounts: int, integrations: int, entries: int, rng: random.Random) -> Seeded:
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Account, Membership, Role, User
    from billing.models import Subscription
    from billing.services import subscription_start_trial
    from integrations.connections.models import Connection
    from integrations.core.models import Integration
    from integrations.sync.models import LedgerEntry, SyncRun, XeroOperation

    now = timezone.now()
    seeded = Seeded(accounts=accounts, integrations=integrations, entries=entries)
    # One hash for every owner: hashing a thousand passwords would take minutes, and each can
    # still log in through the form with PASSWORD.
    password = make_password(PASSWORD)
    with transaction.atomic():
        owners = User.objects.bulk_create(
            [
                User(email=f"owner{a}@loadtest.example", full_name=f"Owner {a}", password=password)
                for a in range(accounts)
            ]
        )
        User.objects.bulk_create(
            [
                User(email=f"staff{s}@loadtest.example", password=password, is_staff=True)
                for s in range(STAFF_USERS)
            ]
        )
        rows = Account.objects.bulk_create(
            [
                Account(name=f"{rng.choice(COMPANIES)} {a}", slug=f"loadtest-{a:04d}")
                for a in range(accounts)
            ]
        )
        # Verified addresses: a login is refused until the address is confirmed.
        EmailAddress.objects.bulk_create(
            [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in owners]
        )
        Membership.objects.bulk_create(
            [
                Membership(user=user, account=account, role=Role.OWNER)
                for user, account in zip(owners, rows, strict=True)
            ]
        )
        for account in rows:
            subscription_start_trial(account=account)
        # Most customers pay; a tenth still in their trial (checked by the poll's billing step).
        Subscription.objects.filter(account__in=rows[accounts // 10 :]).update(
            status=Subscription.Status.ACTIVE
        )
        expires = (now + dt.timedelta(days=3650)).isoformat()
        links: list[tuple[Connection, Connection]] = []
        for i in range(integrations):
            account, owner = rows[i % accounts], owners[i % accounts]

            made = {"account": account, "owner": owner, "n": i, "expires": expires}
            xero = _connection("xero", f"00000000-0000-4000-8000-{i:012d}", **made)
            salesforce = _connection(
                "salesforce", f"00D{i:015d}", **made, instance_url=NOWHERE, login_url=NOWHERE
            )
            links.append((xero, salesforce))
        Connection.objects.bulk_create([c for pair in links for c in pair], batch_size=2000)
        created = Integration.objects.bulk_create(
            [
                Integration(
                    account=rows[i % accounts],
                    name=f"Sync {i // accounts + 1}",
                    is_enabled=True,
                    xero_connection=xero,
                    salesforce_connection=salesforce,
                    created_by=owners[i % accounts],
                    last_success_at=now - dt.timedelta(minutes=1),
                    watermark=now - dt.timedelta(minutes=1),
                )
                for i, (xero, salesforce) in enumerate(links)
            ],
            batch_size=2000,
        )
    seeded.users = accounts + STAFF_USERS
    ids = [int(i.pk) for i in created]
    counts = _entry_counts(integrations, entries, rng)
    for i, (integration_id, count) in enumerate(zip(ids, counts, strict=True)):
        seeded.by_integration[integration_id] = (i % accounts, rows[i % accounts].slug, count)
    log(f"{accounts} accounts, {seeded.users} users, {integrations} integrations")

    # Ledger rows (a record per five entries), one Xero invoice operation each, and runs.
    span = dt.timedelta(days=90)
    # The ledger's indexes (trigram ones too) built once after the load, not row by row.
    with _IndexesDeferred([LedgerEntry._meta.db_table]), transaction.atomic():
        ledger_rows = (
            {
                "integration_id": integration_id,
                "salesforce_id": f"006{integration_id:07d}{k:08d}",
                "opportunity_name": f"{rng.choice(COMPANIES)} {rng.choice(DEALS)} #{k + 1}",
                "customer_name": f"{rng.choice(COMPANIES)} {integration_id}",
                "state": LedgerEntry.State.SYNCED,
                "xero_invoice_number": f"INV-{k + 1:06d}",
                "xero_invoice_id": f"00000000-0000-4000-9000-{integration_id:04d}{k:08d}",
                "invoiced_at": now - rng.random() * span,
                "updated_at": now,
            }
            for integration_id, count in zip(ids, counts, strict=True)
            for k in range(max(1, count // ENTRIES_PER_RECORD))
        )
        ledgers = _load(LedgerEntry, ledger_rows)
        runs_of = {i: (500 if c >= 50_000 else 30) for i, c in zip(ids, counts, strict=True)}
        _load(
            SyncRun,
            (
                {
                    "integration_id": integration_id,
                    "trigger": SyncRun.Trigger.POLL,
                    "status": SyncRun.Status.SUCCEEDED,
                    "started_at": now - span + r * (span / runs),
                    "finished_at": now - span + r * (span / runs) + dt.timedelta(seconds=4),
                    "read_count": 12,
                    "created_count": 8,
                    "xero_calls": 9,
                }
                for integration_id, runs in runs_of.items()
                for r in range(runs)
            ),
        )
    with connection.cursor() as cursor:
        # The operations straight from the ledger: one statement instead of a million rows
        # through Python.
        cursor.execute(
            f"INSERT INTO {XeroOperation._meta.db_table} (integration_id, kind, state, subject, "  # noqa: S608
            "ledger_id, content_hash, idempotency_key, batch_key, fence, body, lookup, "
            "result_id, result_number, attempts, last_error, sent_at, finished_at, created_at, "
            "updated_at) SELECT integration_id, %s, %s, 'i' || id, id, '', '', '', 0, '{}', "
            "'{}', xero_invoice_id, xero_invoice_number, 1, '', invoiced_at, invoiced_at, "
            f"invoiced_at, invoiced_at FROM {LedgerEntry._meta.db_table}",
            [XeroOperation.Kind.INVOICE, XeroOperation.State.DONE],
        )
    ledger_of: dict[int, list[tuple[int, str, str, str, str]]] = defaultdict(list)
    for pk, integration_id, sf, name, customer, number in LedgerEntry.objects.values_list(
        "pk", "integration_id", "salesforce_id", "opportunity_name", "customer_name",
        "xero_invoice_number",
    ).order_by("pk").iterator(chunk_size=20_000):  # fmt: skip
        ledger_of[integration_id].append((pk, sf, name, customer, number))
    run_ids: dict[int, list[int]] = defaultdict(list)
    for pk, integration_id in SyncRun.objects.values_list("pk", "integration_id").order_by("pk"):
        run_ids[integration_id].append(pk)
    for integration_id, records in ledger_of.items():
        pk, _sf, name, _customer, _number = records[len(records) // 2]
        seeded.sample_ledger[integration_id] = (pk, name.split(" ")[0].lower())
    log(f"{ledgers} ledger rows and Xero operations, {sum(runs_of.values())} runs")

    def log_rows() -> Iterator[dict[str, Any]]:
        for integration_id, count in zip(ids, counts, strict=True):
            records = ledger_of[integration_id]
            runs = run_ids[integration_id]
            for n in range(count):
                pk, sf, name, customer, number = records[n // ENTRIES_PER_RECORD % len(records)]
                age = rng.random()
                at = now - age * span
                roll = rng.random()
                dismissed = None
                problem = ""
                if roll < 0.05:
                    step, outcome, problem, template = rng.choice(CAUSES)
                    message = template.format(name=name, org="Demo Pty Ltd", number=number)
                    if age > 0.05 or rng.random() < 0.6:
                        dismissed = at + dt.timedelta(hours=6)
                else:
                    step, outcome, template = next(
                        (s, o, t) for upto, s, o, t in OUTCOMES if roll < upto
                    )
                    message = template.format(number=number, customer=customer)
                yield {
                    "run_id": runs[min(len(runs) - 1, int((1 - age) * len(runs)))],
                    "integration_id": integration_id,
                    "ledger_id": pk,
                    "salesforce_id": sf,
                    "record_name": name,
                    "customer_name": customer,
                    "document_number": number if outcome != "skipped" else "",
                    "step": step,
                    "problem_field": problem,
                    "outcome": outcome,
                    "message": message,
                    "created_at": at,
                    "dismissed_at": dismissed,
                }

    written = load_log_entries(log_rows())
    log(f"{written} log entries (indexes built); vacuum analyze...")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return seeded


def sessions_for(users: int, seeded: Seeded, rng: random.Random) -> list[Target]:
    """``users`` targets: the owners of the big integrations first, then owners drawn at random;
    a session of its own each, created server-side as a login would."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    by_size = sorted(seeded.by_integration.items(), key=lambda kv: -kv[1][2])
    chosen = by_size[:BIG_INTEGRATIONS]
    others = by_size[BIG_INTEGRATIONS:]
    chosen += rng.sample(others, min(len(others), max(0, users - len(chosen))))
    targets = []
    for integration_id, (account, slug, _count) in chosen[:users]:
        ledger_id, word = seeded.sample_ledger[integration_id]
        target = Target(account, slug, integration_id, ledger_id, word)
        user = User.objects.get(email=f"owner{account}@loadtest.example")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        target.session = str(session.session_key)
        targets.append(target)
    return targets


def login_through_form(base: str, email: str) -> bool:
    """One owner logs in through the real login form (CSRF token and all): the seeded
    passwords work, so the server-side sessions stand for real logins."""
    import requests

    http = requests.Session()
    page = http.get(f"{base}/login/", timeout=30)
    token = http.cookies.get("csrftoken", "")
    answer = http.post(
        f"{base}/login/",
        data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    return page.status_code == 200 and answer.status_code == 302


# --- queries per page --------------------------------------------------------------------------


def page_queries(target: Target) -> tuple[dict[str, int], dict[str, float]]:
    """Each page's query count in-process, as the server would run it, and its median time
    alone (what one request costs with no other waiting: the floor under the load's p50)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = target.session
    counts, alone = {}, {}
    for page, path in target.paths().items():
        client.get(path)  # warm: the first request of a process loads more than the page
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code} in-process")
        counts[page] = len(captured.captured_queries)
        times = []
        for _ in range(5):
            began = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - began) * 1000)
        alone[page] = round(statistics.median(times), 1)
    return counts, alone


# --- the beat passes ---------------------------------------------------------------------------


def beat_pass(
    task: Callable[[], Any], passes: int = BEAT_PASSES, profile: Path | None = None
) -> dict[str, Any]:
    """Median seconds of ``passes`` passes after a warm-up, and one pass's queries; what each
    pass publishes is purged from the broker after it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from carrytheone.celery import app

    task()
    app.control.purge()
    times = []
    queries = 0
    for _ in range(passes):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            published = task()
            times.append(time.perf_counter() - began)
        queries = len(captured.captured_queries)
        app.control.purge()
    # The same passes with publishing a no-op: what the database and Python take, apart from
    # the broker's round trips (one per task published).
    quiet = []
    with mock.patch("celery.app.task.Task.apply_async", return_value=None):
        for _ in range(passes):
            began = time.perf_counter()
            task()
            quiet.append(time.perf_counter() - began)
    if profile is not None:
        profiler = cProfile.Profile()
        profiler.runcall(task)
        app.control.purge()
        profiler.dump_stats(profile)
    return {
        "seconds": round(statistics.median(times), 3),
        "seconds_without_publishing": round(statistics.median(quiet), 3),
        "queries": queries,
        "published": published,
    }


# --- the load generator ------------------------------------------------------------------------


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: one thread per user, its own keep-alive connection and session cookie,
    requests one after another for ``warmup`` then ``seconds``. Returns the timings."""
    cookie_name = spec["cookie"]
    host, port = spec["host"], spec["port"]
    deadline_warm = time.monotonic() + spec["warmup"]
    deadline = deadline_warm + spec["seconds"]
    results: list[list[Any]] = []
    lock = threading.Lock()
    think = spec["think_ms"] / 1000

    def user(number: int, target: dict[str, Any]) -> None:
        # A person reads a page before the next click: half to one and a half times the mean,
        # as locust's ``between``; seeded per user, so a run replays.
        rng = random.Random(number)  # noqa: S311
        connection = http.client.HTTPConnection(host, port, timeout=60)
        headers = {"Cookie": f"{cookie_name}={target['session']}", "Connection": "keep-alive"}
        pages = spec["pages"]
        n = number
        mine = []
        while time.monotonic() < deadline:
            page = pages[n % len(pages)]
            n += 1
            began = time.perf_counter()
            try:
                connection.request("GET", target["paths"][page], headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = (time.perf_counter() - began) * 1000
            if time.monotonic() > deadline_warm:
                mine.append([page, round(elapsed, 2), status])
            if think:
                time.sleep(think * rng.uniform(0.5, 1.5))
        connection.close()
        with lock:
            results.extend(mine)

    threads = [
        threading.Thread(target=user, args=(n, t), daemon=True)
        for n, t in enumerate(spec["targets"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"results": results, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def load(
    *, port: int, targets: list[Target], pages: Sequence[str], options: argparse.Namespace
) -> dict[str, Any]:
    """``pages`` under every user at once, from ``--generators`` processes; the figures."""
    from django.conf import settings

    shares: list[list[Target]] = [[] for _ in range(options.generators)]
    for n, target in enumerate(targets):
        shares[n % options.generators].append(target)
    procs = []
    for share in shares:
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "cookie": settings.SESSION_COOKIE_NAME,
            "warmup": options.warmup,
            "seconds": options.seconds,
            "pages": list(pages),
            "think_ms": options.think_ms,
            "targets": [{"session": t.session, "paths": t.paths()} for t in share],
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadtest", "--role", "generate"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        procs.append(proc)
    results: list[list[Any]] = []
    cpu = 0.0
    for proc in procs:
        assert proc.stdout is not None
        out = json.loads(proc.stdout.read())
        proc.wait()
        results += out["results"]
        cpu += out["cpu_seconds"]
    figures = _figures(results, options.seconds)
    figures["generator_cpu_share"] = round(cpu / (options.warmup + options.seconds) / 2, 3)
    return figures


def _figures(results: list[list[Any]], seconds: float) -> dict[str, Any]:
    timings = [r[1] for r in results]
    errors = sum(1 for r in results if r[2] != 200)
    if not timings:
        return {"requests": 0, "rps": 0.0, "p50_ms": None, "p95_ms": None, "p99_ms": None,
                "errors": 1}  # fmt: skip
    return {
        "requests": len(timings),
        "rps": round(len(timings) / seconds, 1),
        "p50_ms": round(percentile(timings, 0.50), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "p99_ms": round(percentile(timings, 0.99), 1),
        "errors": errors,
        "statuses": sorted({r[2] for r in results}),
    }


# --- the run -----------------------------------------------------------------------------------


def loadtest_env(*, database_url: str, redis_url: str, port: int, var: Path) -> dict[str, str]:
    """:func:`bench.chaos.chaos_env`'s production settings, with the sandbox off and every
    provider URL at a closed local port; the polls and configuration checks beyond the run."""
    env = chaos_env(
        database_url=database_url, sandbox_url="", redis_url=redis_url, port=port, var=var
    )
    for name in ("SANDBOX_DATABASE_URL", "SANDBOX_BASE_URL"):
        env.pop(name, None)
    env.update(
        {
            "SANDBOX_ENABLED": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "CACHE_KEY_PREFIX": "c1load",
            "SYNC_POLL_INTERVAL": "86400",
            "CONFIG_CHECK_INTERVAL": "86400",
            "XERO_API_URL": f"{NOWHERE}/api.xro/2.0",
            "XERO_CONNECTIONS_URL": f"{NOWHERE}/connections",
            "XERO_AUTHORIZE_URL": f"{NOWHERE}/authorize",
            "XERO_TOKEN_URL": f"{NOWHERE}/token",
            "XERO_REVOKE_URL": f"{NOWHERE}/revoke",
            "SALESFORCE_LOGIN_URL": NOWHERE,
        }
    )
    return env


def _web_argv(port: int, workers: int, threads: int) -> list[str]:
    argv = web_argv(port)
    argv[argv.index("--workers") + 1] = str(workers)
    argv[argv.index("--threads") + 1] = str(threads)
    return argv


@contextlib.contextmanager
def servers(var: Path) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    pg = PrivatePostgres("loadtest", options=POSTGRES_OPTIONS)
    redis = PrivateRedis()
    try:
        pg.init()
        pg.start()
        pg.create_database(DATABASE)
        redis.start()
        log(f"servers: PostgreSQL :{pg.port}, Redis :{redis.port}; logs in {var}")
        yield pg, redis
    finally:
        with contextlib.suppress(OSError):
            (var / "postgres.log").write_bytes(pg.logfile.read_bytes())
        redis.destroy()
        pg.destroy()


def orchestrate(options: argparse.Namespace) -> int:
    var = Path(options.var or ROOT / "var" / "loadtest")
    var.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="c1-loadtest-"))
    rng = random.Random(17)  # noqa: S311 - reproducible data, not secrets
    summary: dict[str, Any] = {}
    with servers(work) as (pg, redis):
        port = free_port()
        env = loadtest_env(database_url=pg.url(DATABASE), redis_url=redis.url, port=port, var=work)
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", interactive=False, verbosity=0)
        log("migrated, static files collected; seeding...")
        began = time.perf_counter()
        seeded = seed(
            accounts=options.accounts,
            integrations=options.integrations,
            entries=options.entries,
            rng=rng,
        )
        seed_seconds = time.perf_counter() - began
        log(f"seeded in {seed_seconds:.1f} s")
        targets = sessions_for(options.users, seeded, rng)
        small = min(seeded.by_integration.items(), key=lambda kv: kv[1][2])[0]
        large = targets[0].integration_id
        small_target = sessions_for_integration(seeded, small)
        queries_small, alone_small = page_queries(small_target)
        queries_large, alone_large = page_queries(targets[0])
        log(f"queries: small integration {queries_small}, large {queries_large}")
        log(f"one request alone, ms: small integration {alone_small}, large {alone_large}")

        from alerts.tasks import evaluate_alerts
        from integrations.tasks import check_configurations, poll_integrations

        poll = beat_pass(poll_integrations, profile=_profile(options, "poll_integrations"))
        log(f"poll_integrations: {poll}")
        config = beat_pass(check_configurations, profile=_profile(options, "check_configurations"))
        log(f"check_configurations: {config}")
        alerts = beat_pass(evaluate_alerts, profile=_profile(options, "evaluate_alerts"))
        log(f"evaluate_alerts: {alerts}")
        connections.close_all()

        stack = Stack(var=work, env=env)
        pages: dict[str, Any] = {}
        try:
            stack.add("web", _web_argv(port, options.gunicorn_workers, options.gunicorn_threads))
            _wait_http(f"http://127.0.0.1:{port}/healthz")
            for number in range(options.celery_workers):
                stack.add(f"worker{number}", worker_argv(number))
            stack.add("beat", beat_argv(work, 1))
            base = f"http://127.0.0.1:{port}"
            form_login = login_through_form(base, "owner0@loadtest.example")
            log(f"stack up at {base}; a login through the form: {form_login}; loading...")
            for page in PAGES:
                pages[page] = load(port=port, targets=targets, pages=[page], options=options)
                log(f"{page}: {pages[page]}")
            mixed = load(port=port, targets=targets, pages=PAGES, options=options)
            log(f"mixed: {mixed}")
            # The same users clicking with no pause at all: how many pages a second this
            # deployment serves at most, and their latency then (reported, not judged).
            capacity = load(
                port=port,
                targets=targets,
                pages=PAGES,
                options=argparse.Namespace(**{**vars(options), "think_ms": 0.0}),
            )
            log(f"capacity (no think time): {capacity}")
            load_average = [round(x, 2) for x in os.getloadavg()]
            stack.supervise()
            crashes = {n: p.crashes for n, p in stack.processes.items() if p.crashes}
        finally:
            stack.stop_all()
    # No noisy neighbour (bench/neighbour.py): on a stack of its own, once this one is down, so
    # neither measures the other's load.
    neighbour: dict[str, Any] | None = None
    if options.neighbour:
        neighbour = _neighbour(options)
    for page in PAGES:
        pages[page]["queries_small"] = queries_small[page]
        pages[page]["queries_large"] = queries_large[page]
        pages[page]["alone_ms_small"] = alone_small[page]
        pages[page]["alone_ms_large"] = alone_large[page]
    summary = {
        "accounts": seeded.accounts,
        "integrations": seeded.integrations,
        "log_entries": seeded.entries,
        "users": options.users,
        "think_ms": options.think_ms,
        "gunicorn_workers": options.gunicorn_workers,
        "gunicorn_threads": options.gunicorn_threads,
        "celery_workers": options.celery_workers,
        "seed_seconds": round(seed_seconds, 1),
        "pages": pages,
        "mixed": mixed,
        "capacity": capacity,
        "beat_pass_seconds": poll["seconds"],
        "beat_pass_queries": poll["queries"],
        "beat_pass_published": poll["published"],
        "beat_pass_seconds_without_publishing": poll["seconds_without_publishing"],
        "config_check_pass_seconds": config["seconds"],
        "config_check_pass_queries": config["queries"],
        "config_check_pass_seconds_without_publishing": config["seconds_without_publishing"],
        "alerts_pass_seconds": alerts["seconds"],
        "alerts_pass_queries": alerts["queries"],
        "small_integration_entries": seeded.by_integration[small][2],
        "large_integration_entries": seeded.by_integration[large][2],
        "form_login": form_login,
        "process_crashes": crashes,
        "load_average": load_average,
    }
    if neighbour is not None:
        summary["neighbour"] = neighbour
    failures = _failures(summary, options)
    summary["failures"] = failures
    summary["pass"] = not failures
    (var / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0 if summary["pass"] else 1


def _profile(options: argparse.Namespace, name: str) -> Path | None:
    return Path(options.profile) / f"{name}.prof" if options.profile else None


def sessions_for_integration(seeded: Seeded, integration_id: int) -> Target:
    from django.contrib.auth import get_user_model
    from django.test import Client

    account, slug, _count = seeded.by_integration[integration_id]
    ledger_id, word = seeded.sample_ledger[integration_id]
    client = Client()
    client.force_login(get_user_model().objects.get(email=f"owner{account}@loadtest.example"))
    from django.conf import settings

    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return Target(account, slug, integration_id, ledger_id, word, session)


def _neighbour(options: argparse.Namespace) -> dict[str, Any]:
    from bench.neighbour import run_neighbour

    given: dict[str, Any] = {"win_every": options.neighbour_win_every}
    if options.small:
        given.update(small=10, big_opportunities=2_000, seconds=30.0)
    log(f"noisy neighbour: {given or 'full size'}")
    return run_neighbour(given)


def _failures(summary: dict[str, Any], options: argparse.Namespace) -> list[str]:
    failures = []
    for name, figures in [*summary["pages"].items(), ("mixed", summary["mixed"])]:
        if figures["errors"]:
            failures.append(f"{name}: {figures['errors']} errors ({figures.get('statuses')})")
        if figures["p95_ms"] is None or figures["p95_ms"] >= options.p95_limit:
            failures.append(f"{name}: p95 {figures['p95_ms']} ms")
        small, large = figures.get("queries_small"), figures.get("queries_large")
        if small is not None and large is not None and abs(large - small) > 1:
            failures.append(f"{name}: {small} queries for a small integration, {large} for a big")
    neighbour = summary.get("neighbour")
    if neighbour is not None and not neighbour.get("pass"):
        ratio = neighbour.get("push_latency_ratio_p95")
        runs = neighbour.get("big_account_max_concurrent_runs")
        lost = neighbour.get("lost_pushes")
        failures.append(
            f"noisy neighbour: push p95 ratio {ratio}, big account at most {runs} runs, "
            f"{lost} pushes lost"
        )
    if summary["capacity"]["errors"]:
        failures.append(f"capacity: {summary['capacity']['errors']} errors")
    if summary["beat_pass_seconds"] >= options.beat_limit:
        failures.append(f"poll_integrations pass {summary['beat_pass_seconds']} s")
    if summary["process_crashes"]:
        failures.append(f"crashes: {summary['process_crashes']}")
    return failures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--small", action="store_true", help="50 accounts, 20,000 entries")
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--integrations", type=int, default=0)
    parser.add_argument("--entries", type=int, default=0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0, help="measured, per page")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=1000.0,
        help="a user's mean pause between pages (0.5-1.5x; 0: clicks without pause)",
    )
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    # Two cores: three processes keep both busy while one waits on PostgreSQL; four threads
    # each overlap the waits without queueing twenty requests behind the GIL.
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--celery-workers", type=int, default=4)
    parser.add_argument("--p95-limit", type=float, default=200.0)
    parser.add_argument("--beat-limit", type=float, default=2.0)
    parser.add_argument(
        "--neighbour",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then the noisy-neighbour benchmark (bench.neighbour) on a stack of its own",
    )
    parser.add_argument(
        "--neighbour-win-every",
        type=float,
        default=5.0,
        help="seconds between a small account's wins",
    )
    parser.add_argument("--profile", default="", help="a folder: cProfile of each beat pass")
    parser.add_argument("--var", default="", help="where summary.json goes (var/loadtest)")
    parser.add_argument("--role", choices=("generate",), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role == "generate":
        print(json.dumps(generate(json.loads(sys.stdin.read()))))
        return
    small = options.small
    options.accounts = options.accounts or (50 if small else 1000)
    options.integrations = options.integrations or options.accounts * 2
    options.entries = options.entries or (20_000 if small else 1_000_000)
    options.seconds = options.seconds or (8.0 if small else 30.0)
    sys.exit(orchestrate(options))


if __name__ == "__main__":
    main()

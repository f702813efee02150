"""The support console's log search at scale: a million log entries, pages timed over HTTP.

    python -m bench.console_bench [--entries N] [--accounts N] [--searches N]
                                  [--database auto|postgres|sqlite]

What it does (progress on stderr, the result as the last line of stdout):

1. A database of its own, as :mod:`bench.sync_bench` makes one: ``carrytheone_bench_console``
   on the PostgreSQL at 127.0.0.1:5432 (dropped and created) when it answers, else a SQLite
   file under ``var/bench/``. Migrated from scratch; static files collected (``DEBUG=0``).
2. Seeds ``accounts`` accounts (each an owner, a trial, one integration), their ledger rows
   (five log entries per record), runs over a year, and ``entries`` log entries with realistic
   names, numbers, outcomes (a few percent failing, most failures dismissed) and times over
   the last year. On PostgreSQL with ``COPY``, the table's indexes dropped meanwhile and built
   afterwards (much faster than maintaining them row by row), then ``ANALYZE``.
3. Serves the product with gunicorn (2 workers, as :func:`bench.sync_bench.sandbox_server`),
   and, logged in as each account's owner (a session cookie), loads the log page over real
   HTTP for a mix of at least ``searches`` searches: by opportunity name, customer name,
   Salesforce id, invoice number, outcome, date range, the default "needs attention" view
   (with its groups of causes), and next pages followed from the links the pages give.
4. Prints p50/p95 of the full page (request to last byte), overall and per kind.

:func:`run_log_search_bench` runs all of it in a fresh process (Django is set up there with
the benchmark's own settings) and returns the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from html import unescape
from typing import Any

from bench.push_bench import percentile
from bench.sync_bench import ROOT, VAR, bench_env, choose_database, free_port, log

DATABASE = "carrytheone_bench_console"
ENTRIES_PER_RECORD = 5
RUNS_PER_INTEGRATION = 500
WARMUP = 10

COMPANIES = (
    "Globex", "Initech", "Umbrella", "Acme", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent",
    "Hooli", "Vandelay", "Wonka", "Gringotts", "Oscorp", "Monarch", "Pied Piper", "Dunder",
    "Aperture", "Black Mesa", "Massive Dynamic", "Nakatomi", "Sirius", "Virtucon", "Zorg",
    "Bluth", "Prestige", "Sterling", "Krusty", "Ollivander", "Duff", "Gekko", "Rekall",
    "Weyland", "Yoyodyne", "Spacely", "Cogswell", "Omni", "Buy n Large", "Mooby", "Paper Street",
)  # fmt: skip
SECTORS = ("Industries", "Logistics", "Foods", "Labs", "Systems", "Holdings", "Media", "Energy")
LEGAL = ("Ltd", "Inc", "GmbH", "Pty Ltd", "LLC", "SA", "BV", "plc")
DEALS = ("renewal", "pilot", "expansion", "upgrade", "support plan", "licences", "onboarding")
ORGS = ("Demo Pty Ltd", "Northwind UK", "Contoso GmbH", "Fabrikam Inc")
# Causes of failures, each written with the record's name in it (as the engine does).
CAUSES = (
    ("invoice", "attention", "currencies", "{name!r} is in GBP, which is not enabled in {org}: "
     "add GBP in Xero (Settings → Currencies), or let CarryTheOne enable missing currencies."),
    ("invoice", "failed", "", "Invoice not created: Account code '999' is not a valid code for "
     "this document."),
    ("invoice", "attention", "tax_rules", "No tax rule for {name!r}'s billing country (NZ): add "
     "one, or choose a default tax rate."),
    ("payment", "attention", "payment_methods", "The payment for invoice {number} was not "
     "recorded: the payment method 'Wire' no longer has a rule."),
    ("invoice", "failed", "", "Xero refused the contact of {name!r}: the contact name is "
     "already used by an archived contact."),
)  # fmt: skip

# Everything else, by the share of entries up to which it is drawn (failures are the first 6%).
OUTCOMES = (
    (0.55, "invoice", "created", "Invoice {number} created for {customer}, 3 lines."),
    (0.80, "invoice", "updated", "Invoice {number} updated: the amount changed."),
    (0.90, "payment", "created", "Payment recorded against invoice {number}."),
    (0.93, "credit_note", "created", "Credit note {number} raised: the opportunity was lost."),
    (1.01, "invoice", "skipped", "Unchanged since the last run."),
)


# --- seeding ---------------------------------------------------------------------------------


def _columns(model: Any, values: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Every concrete column of ``model`` but its id, with ``values`` or the field's default:
    COPY and executemany need them all (Django keeps defaults in Python, not in the table)."""
    columns, defaults = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        defaults.append(values.get(field.attname, field.get_default()))
    return columns, defaults


def _load(model: Any, rows: Iterable[dict[str, Any]], *, chunk: int = 50_000) -> int:
    """Inserts ``rows`` (attname → value) into ``model``'s table: COPY on PostgreSQL,
    executemany elsewhere. Values must hold no tab, newline or backslash (ours do not)."""
    from django.db import connection

    table = model._meta.db_table
    names: list[str] | None = None
    count = 0
    batch: list[list[Any]] = []

    def flush() -> None:
        assert names is not None
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                buffer = io.StringIO()
                for row in batch:
                    buffer.write("\t".join(_copy_text(v) for v in row))
                    buffer.write("\n")
                buffer.seek(0)
                cursor.cursor.copy_expert(f"COPY {table} ({', '.join(names)}) FROM STDIN", buffer)
            else:
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",  # noqa: S608
                    batch,
                )
        batch.clear()

    for values in rows:
        columns, row = _columns(model, values)
        names = names or columns
        batch.append(row)
        count += 1
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return count


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _table_indexes(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that no constraint owns (PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT "
            "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [table],
        )
        return [(str(name), str(sql)) for name, sql in cursor.fetchall()]


class _IndexesDeferred:
    """Drops a table's indexes for a bulk load and builds them again after (PostgreSQL)."""

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = tables
        self.saved: list[tuple[str, str]] = []

    def __enter__(self) -> None:
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table in self.tables:
                for name, sql in _table_indexes(table):
                    self.saved.append((name, sql))
                    cursor.execute(f'DROP INDEX "{name}"')

    def __exit__(self, *exc: object) -> None:
        from django.db import connection

        if not self.saved:
            return
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for _name, sql in self.saved:
                cursor.execute(sql)


def load_log_entries(rows: Iterable[dict[str, Any]]) -> int:
    """COPYs log entries (attname → value) with the log's indexes dropped meanwhile."""
    from django.db import transaction

    from integrations.sync.models import SyncLogEntry

    # Built after the commit: PostgreSQL builds no index while deferred FK checks are pending.
    with _IndexesDeferred([SyncLogEntry._meta.db_table]), transaction.atomic():
        return _load(SyncLogEntry, rows, chunk=100_000)


def _customer(rng: random.Random) -> str:
    return f"{rng.choice(COMPANIES)} {rng.choice(SECTORS)} {rng.choice(LEGAL)}"


class Seeded:
    """What the searches are drawn from, per account."""

    def __init__(self) -> None:
        self.slugs: list[str] = []
        self.integrations: list[int] = []
        self.sessions: list[str] = []
        self.customers: list[list[str]] = []
        self.records: list[list[tuple[str, str, str]]] = []
        """Per account: (opportunity name, Salesforce id, invoice number) of a sample."""


def seed(*, entries: int, accounts: int, rng: random.Random) -> Seeded:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.db.models import Min
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import account_create
    from integrations.connections.salesforce.ids import to_18
    from integrations.core.models import Integration
    from integrations.sync.models import LedgerEntry, SyncRun

    seeded = Seeded()
    now = timezone.now()
    year = dt.timedelta(days=365)
    with transaction.atomic():
        for a in range(accounts):
            user = User(email=f"owner{a}@bench.example")
            user.set_unusable_password()
            user.save()
            account = account_create(owner=user, name=f"{rng.choice(COMPANIES)} bench {a}")
            integration = Integration.objects.create(
                account=account, name="Main", is_enabled=True, created_by=user
            )
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            seeded.slugs.append(account.slug)
            seeded.integrations.append(integration.pk)
            seeded.sessions.append(str(session.session_key))
            seeded.customers.append([_customer(rng) for _ in range(200)])
            seeded.records.append([])
    log(f"{accounts} accounts, owners, trials and integrations")

    per_account = max(1, -(-entries // accounts))
    records_per_account = max(1, per_account // ENTRIES_PER_RECORD)
    ledger_rows: list[dict[str, Any]] = []
    for a, integration_id in enumerate(seeded.integrations):
        for k in range(records_per_account):
            customer = rng.choice(seeded.customers[a])
            name = f"{customer.split(' ')[0]} {rng.choice(DEALS)} {2025 + k % 2} #{k + 1}"
            failing = rng.random() < 0.04
            row = {
                "integration_id": integration_id,
                "salesforce_id": to_18(f"006{a:04d}{k:08d}"),
                "opportunity_name": name,
                "customer_name": customer,
                "state": LedgerEntry.State.NEEDS_ATTENTION if failing else LedgerEntry.State.SYNCED,
                "xero_invoice_number": "" if failing else f"INV-{k + 1:05d}",
                "xero_invoice_id": "" if failing else f"00000000-0000-4000-8000-{a:04d}{k:08d}",
                "updated_at": now,
            }
            ledger_rows.append(row)
            if k % max(1, records_per_account // 50) == 0:
                seeded.records[a].append(
                    (name, str(row["salesforce_id"])[:15], str(row["xero_invoice_number"]))
                )
    with transaction.atomic():
        _load(LedgerEntry, ledger_rows)
        span = year / RUNS_PER_INTEGRATION
        _load(
            SyncRun,
            (
                {
                    "integration_id": integration_id,
                    "trigger": SyncRun.Trigger.POLL,
                    "status": SyncRun.Status.SUCCEEDED,
                    "started_at": now - year + r * span,
                    "finished_at": now - year + r * span + dt.timedelta(seconds=20),
                    "read_count": 20,
                    "created_count": 15,
                }
                for integration_id in seeded.integrations
                for r in range(RUNS_PER_INTEGRATION)
            ),
        )
    ledgers: dict[int, list[tuple[int, str, str, str, str]]] = defaultdict(list)
    for pk, integration_id, sf, name, customer, number in LedgerEntry.objects.values_list(
        "pk", "integration_id", "salesforce_id", "opportunity_name", "customer_name",
        "xero_invoice_number",
    ).iterator(chunk_size=10_000):  # fmt: skip
        ledgers[integration_id].append((pk, sf, name, customer, number))
    first_run = dict(
        SyncRun.objects.values_list("integration_id").order_by().annotate(first=Min("id"))
    )
    log(f"{len(ledger_rows)} ledger rows, {accounts * RUNS_PER_INTEGRATION} runs")

    def log_rows() -> Iterator[dict[str, Any]]:
        written = 0
        for integration_id in seeded.integrations:
            for pk, sf, name, customer, number in ledgers[integration_id]:
                for _ in range(ENTRIES_PER_RECORD):
                    if written >= entries:
                        return
                    written += 1
                    age = rng.random() * year
                    at = now - age
                    run = first_run[integration_id] + min(
                        RUNS_PER_INTEGRATION - 1, int((year - age) / span)
                    )
                    roll = rng.random()
                    dismissed = None
                    field = ""
                    if roll < 0.06:
                        step, outcome, field, template = rng.choice(CAUSES)
                        message = template.format(name=name, org=rng.choice(ORGS), number=number)
                        # Most failures of the past were fixed and retried or dismissed.
                        if age > dt.timedelta(days=3) or rng.random() < 0.5:
                            dismissed = at + dt.timedelta(hours=6)
                    else:
                        step, outcome, template = next(
                            (step, outcome, text)
                            for upto, step, outcome, text in OUTCOMES
                            if roll < upto
                        )
                        if step == "credit_note":
                            number = f"CN-{pk:06d}"
                        message = template.format(number=number, customer=customer)
                    yield {
                        "run_id": run,
                        "integration_id": integration_id,
                        "ledger_id": pk,
                        "salesforce_id": sf,
                        "record_name": name,
                        "customer_name": customer,
                        "document_number": number if outcome != "skipped" else "",
                        "step": step,
                        "problem_field": field,
                        "outcome": outcome,
                        "message": message,
                        "created_at": at,
                        "dismissed_at": dismissed,
                    }

    written = load_log_entries(log_rows())
    log(f"{written} log entries (indexes built)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return seeded


# --- the searches ----------------------------------------------------------------------------


def _searches(
    seeded: Seeded, count: int, rng: random.Random
) -> list[tuple[str, int, dict[str, str]]]:
    """(kind, account index, GET parameters); next pages are added as the pages answer."""
    today = dt.date.today()
    kinds = ("name", "name_open", "customer", "salesforce_id", "invoice", "outcome", "dates",
             "open")  # fmt: skip
    out = []
    for n in range(count):
        a = rng.randrange(len(seeded.slugs))
        kind = kinds[n % len(kinds)]
        name, sf, number = rng.choice(seeded.records[a])
        params: dict[str, str]
        if kind == "name":
            params = {"q": name.split(" ")[0].lower(), "show": "all"}
        elif kind == "name_open":
            params = {"q": " ".join(name.split(" ")[:2])}
        elif kind == "customer":
            params = {"q": rng.choice(seeded.customers[a]).split(" ", 1)[1], "show": "all"}
        elif kind == "salesforce_id":
            params = {"q": sf, "show": "all"}
        elif kind == "invoice":
            params = {"q": number.lower() or "INV-00001", "show": "all"}
        elif kind == "outcome":
            params = {"show": "all", "outcome": rng.choice(("failed", "attention", "updated"))}
        elif kind == "dates":
            start = today - dt.timedelta(days=rng.randrange(20, 360))
            params = {
                "show": "all",
                "since": start.isoformat(),
                "until": (start + dt.timedelta(days=30)).isoformat(),
            }
        else:
            params = {}
        out.append((kind, a, params))
    return out


_NEXT = re.compile(r'href="\?([^"]*cursor=[^"]*)" rel="next"')


def measure(*, base: str, seeded: Seeded, searches: int, rng: random.Random) -> dict[str, Any]:
    import requests
    from django.conf import settings

    sessions = []
    for key in seeded.sessions:
        http = requests.Session()
        http.cookies.set(settings.SESSION_COOKIE_NAME, key, domain="127.0.0.1")
        sessions.append(http)

    def url(a: int) -> str:
        return f"{base}/a/{seeded.slugs[a]}/integrations/{seeded.integrations[a]}/log/"

    def get(a: int, query: str) -> tuple[float, str]:
        started = time.perf_counter()
        response = sessions[a].get(f"{url(a)}?{query}", timeout=60, allow_redirects=False)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "Sync log" not in response.text:
            raise SystemExit(f"GET {url(a)}?{query} answered {response.status_code}")
        return elapsed, response.text

    from urllib.parse import urlencode

    for a in range(min(WARMUP, len(sessions))):
        get(a, "")
    timings: dict[str, list[float]] = defaultdict(list)
    found = 0
    for kind, a, params in _searches(seeded, searches, rng):
        elapsed, html = get(a, urlencode(params))
        timings[kind].append(elapsed)
        found += html.count("<tr>")
        # Follow one or two "next" links, as a person reading on would.
        for _ in range(rng.choice((0, 1, 1, 2))):
            link = _NEXT.search(html)
            if not link:
                break
            elapsed, html = get(a, unescape(link.group(1)))
            timings["next_page"].append(elapsed)
    every = [t for values in timings.values() for t in values]
    result: dict[str, Any] = {
        "log_search_p50_ms": round(percentile(every, 0.50), 1),
        "log_search_p95_ms": round(percentile(every, 0.95), 1),
        "log_search_max_ms": round(max(every), 1),
        "log_search_requests": len(every),
        "log_search_rows_shown": found,
    }
    for kind, values in sorted(timings.items()):
        result[f"log_search_{kind}_p95_ms"] = round(percentile(values, 0.95), 1)
        result[f"log_search_{kind}_count"] = len(values)
    return result


def inner(options: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark, in this (fresh) process."""
    from bench.sync_bench import sandbox_server

    VAR.mkdir(parents=True, exist_ok=True)
    database_url, label = choose_database(options.database, DATABASE)
    port = free_port()
    env = bench_env(database_url=database_url, port=port, redis=False)
    env["STATIC_ROOT"] = str(VAR / "console-static")
    os.environ.update(env)
    log(f"database: {label}")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    log("migrated, static files collected")
    rng = random.Random(16)  # noqa: S311 - test data, not secrets
    started = time.perf_counter()
    seeded = seed(entries=options.entries, accounts=options.accounts, rng=rng)
    seed_seconds = time.perf_counter() - started
    log(f"seeded in {seed_seconds:.1f} s")
    connections.close_all()
    with sandbox_server(env, port) as base:
        log(f"served by gunicorn at {base}; searching...")
        result = measure(base=base, seeded=seeded, searches=options.searches, rng=rng)
    result.update(
        {
            "log_search_seed_seconds": round(seed_seconds, 1),
            "log_search_entries": options.entries,
            "log_search_accounts": options.accounts,
            "log_search_database": label.split()[0],
        }
    )
    return result


def run_log_search_bench(
    *, entries: int = 1_000_000, accounts: int = 100, searches: int = 200, database: str = "auto"
) -> dict[str, float]:
    """The benchmark in a fresh process (its own settings and database); its figures."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "bench.console_bench",
            "--inner",
            "--entries",
            str(entries),
            "--accounts",
            str(accounts),
            "--searches",
            str(searches),
            "--database",
            database,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise SystemExit(f"the console benchmark failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_bench", description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.inner:
        print(json.dumps(inner(options)))
    else:
        figures = run_log_search_bench(
            entries=options.entries,
            accounts=options.accounts,
            searches=options.searches,
            database=options.database,
        )
        print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""No noisy neighbour: small accounts' push latency while one big account back-fills.

    python -m bench.neighbour [--small 50] [--big-opportunities 20000] [--big-integrations 4]
                              [--workers 4] [--seconds 90] [--win-every 5] [--seed 1]
                              [--json-out PATH]

It starts its own stack, as ``make chaos`` does (:mod:`bench.chaos`: private PostgreSQL and
Redis, gunicorn serving the product and the simulators, beat) with the workers in the
production layout: one worker for ``-Q push`` and ``--workers - 1`` general ones (every queue),
each a process of concurrency 1. It seeds ``--small`` accounts connected for push (one
integration each, open deals to win) and one big account with ``--big-integrations``
integrations holding ``--big-opportunities`` won opportunities between them, switched off.

- **idle**: every small account wins a deal every ~``--win-every`` s (5; seeded jitter) for
  ``--seconds``; the latency of a deal runs from its stage change in the sandbox Salesforce
  (which sends the Outbound Message) to its invoice existing in the sandbox Xero.
- **loaded**: the big account's integrations are switched on and their first syncs queued
  (20,000 deals to import), and the same wins are measured again. Every 0.5 s the run samples
  how many claims the big account holds and how many runs hold one at all (each busy sync
  worker holds exactly one claim): the big account's share of the busy workers.

The sandbox Xero's limits are lifted for every organisation, the big account's too: the
worst case for its neighbours (its imports go as fast as the workers let them, not 60 calls a
minute), so only the queues, the bounded runs and the per-account cap keep it in its place.
The last line of stdout is the JSON summary; exit code 0 only when it passed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.chaos import (
    DATABASE,
    SANDBOX_DATABASE,
    Stack,
    _save_stage,
    _wait_http,
    beat_argv,
    chaos_env,
    log,
    servers,
    web_argv,
    worker_argv,
)
from bench.chaos_servers import free_port
from bench.push_bench import Watcher, percentile
from bench.push_bench import _invoiced as invoiced_of

if TYPE_CHECKING:
    from bench.chaos_seed import Customer

ROOT = Path(__file__).resolve().parent.parent
# A deal's jitter: up to this share of the interval either way.
JITTER = 0.2
SAMPLE_EVERY = 0.5
SETTLE_TIMEOUT = 120.0
# Threads closing deals: one save (and its Outbound Message over HTTP) must not hold up the
# next account's due win.
SAVERS = 6
RATIO_LIMIT = 2.0


@dataclass
class Big:
    account_id: int
    integration_ids: list[int]


@dataclass
class Samples:
    big_claims: list[int] = field(default_factory=list)
    big_running: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)


# --- seeding ------------------------------------------------------------------------------------


def seed(
    *, small: int, wins_each: int, big_opportunities: int, big_integrations: int, seed_value: int
) -> tuple[list[Customer], Big]:
    """The small accounts (``bench.chaos_seed``, every one connected for push) and the big one:
    its integrations' orgs hold their share of ``big_opportunities`` won deals; switched off."""
    from django.conf import settings

    from accounts.models import Account
    from bench.chaos_seed import _connect, org_pair
    from bench.chaos_seed import seed as chaos_seed
    from bench.seed import Shape, _salesforce_records
    from integrations.connections.models import Connection
    from integrations.core.models import Integration
    from integrations.sync.push import push_endpoint_for, push_endpoint_url
    from sandbox import db as sandbox_db
    from sandbox.salesforce.models import SalesforceOrg
    from sandbox.xero import seed as xero_seed
    from sandbox.xero.models import XeroOrganisation

    customers = chaos_seed(accounts=small, opportunities=small * wins_each, seed_value=seed_value)
    # chaos_seed connects every other account for push; here every small account is.
    for customer in customers:
        if not customer.push:
            integration = Integration.objects.get(pk=customer.integration_id)
            url = push_endpoint_url(push_endpoint_for(integration=integration))
            SalesforceOrg.objects.filter(name=customer.salesforce_org).update(outbound_url=url)
    # Not the small accounts' stream: the same ids (organisation UUIDs) would come out again.
    rng = random.Random(f"big-{seed_value}")  # noqa: S311 - reproducible data
    indices = [small + k for k in range(big_integrations)]
    with sandbox_db.atomic():
        template = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
        for k, index in enumerate(indices):
            org, xero_org = org_pair(index, template, rng)
            share = big_opportunities // big_integrations + (
                k < big_opportunities % big_integrations
            )
            shape = Shape(
                opportunities=share,
                customers=max(2, share // 10),
                products=6,
                lines=2,
                seed=seed_value + index,
            )
            _salesforce_records(org, [xero_org], shape, rng)
        # Lifted for the big organisations too: see the module's docstring.
        XeroOrganisation.objects.update(
            limits_enabled=False, minute_limit=10**9, day_limit=10**9, concurrent_limit=10**6
        )
    connected = [_connect(index=index, opportunities=(), push=False) for index in indices]
    ids = [c.integration_id for c in connected]
    big = Account.objects.create(name="Big Co (back-fill)", slug="neighbour-big")
    owner = Integration.objects.get(pk=ids[0]).created_by
    assert owner is not None
    big.memberships.create(user=owner, role="owner")
    connections = [
        pk
        for pair in Integration.objects.filter(pk__in=ids).values_list(
            "salesforce_connection_id", "xero_connection_id"
        )
        for pk in pair
    ]
    Integration.objects.filter(pk__in=ids).update(account=big, is_enabled=False)
    Connection.objects.filter(pk__in=connections).update(account=big)
    assert settings.SANDBOX_ENABLED
    return customers, Big(account_id=big.pk, integration_ids=ids)


# --- measuring ----------------------------------------------------------------------------------


def _invoiced(keys: set[str]) -> set[str]:
    """Of ``integration:opportunity`` keys, those whose invoice exists in the sandbox Xero."""
    by_integration: dict[int, set[str]] = {}
    for key in keys:
        integration, sf_id = key.split(":", 1)
        by_integration.setdefault(int(integration), set()).add(sf_id)
    return {
        f"{integration_id}:{sf_id}"
        for integration_id, sf_ids in by_integration.items()
        for sf_id in invoiced_of(integration_id)(sf_ids)
    }


def _sampler(big: Big, samples: Samples, stop: threading.Event) -> None:
    from django.db import connections
    from django.utils import timezone

    from integrations.core.models import Integration
    from integrations.sync.models import SyncRun

    try:
        while not stop.wait(SAMPLE_EVERY):
            now = timezone.now()
            claimed = Integration.objects.filter(sync_claimed_until__gt=now)
            samples.busy.append(claimed.count())
            samples.big_claims.append(claimed.filter(account_id=big.account_id).count())
            samples.big_running.append(
                SyncRun.objects.filter(
                    integration_id__in=big.integration_ids, status=SyncRun.Status.RUNNING
                ).count()
            )
    finally:
        connections.close_all()


def _wins(
    customers: Sequence[Customer],
    used: dict[int, int],
    seconds: float,
    rng: random.Random,
    every: float,
) -> list[tuple[float, Customer, str]]:
    """Each account's next deals, one every ~``every`` s from a random offset, in time order."""
    plan: list[tuple[float, Customer, str]] = []
    jitter = every * JITTER
    for customer in customers:
        at = rng.uniform(0, every)
        while at < seconds:
            n = used[customer.index]
            if n >= len(customer.opportunities):
                break
            plan.append((at, customer, customer.opportunities[n]))
            used[customer.index] = n + 1
            at += every + rng.uniform(-jitter, jitter)
    plan.sort(key=lambda p: p[0])
    return plan


def _phase(
    name: str,
    customers: Sequence[Customer],
    used: dict[int, int],
    seconds: float,
    rng: random.Random,
    every: float,
    on_window_end: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    plan = _wins(customers, used, seconds, rng, every)
    watcher = Watcher(_invoiced).start()
    clock = time.monotonic()

    def win(customer: Customer, sf_id: str) -> None:
        from django.db import connections

        watcher.sent(f"{customer.integration_id}:{sf_id}", time.time())
        try:
            _save_stage(customer.salesforce_org, sf_id, "Closed Won")
        finally:
            connections.close_all()

    try:
        with ThreadPoolExecutor(max_workers=SAVERS) as pool:
            for at, customer, sf_id in plan:
                delay = clock + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(win, customer, sf_id)
        log(f"{name}: {len(plan)} deals won over {time.monotonic() - clock:.0f} s; settling")
        on_window_end()
        lost = watcher.wait_all(SETTLE_TIMEOUT)
    finally:
        watcher.stop()
    latencies = list(watcher.latency.values())
    figures = {
        "wins": len(plan),
        "lost": len(lost),
        "p50": round(statistics.median(latencies), 2) if latencies else None,
        "p95": round(percentile(latencies, 0.95), 2) if latencies else None,
        "max": round(max(latencies), 2) if latencies else None,
    }
    log(f"{name}: {figures}")
    return figures


def _big_done(big: Big) -> int:
    from integrations.sync.models import LedgerEntry

    return LedgerEntry.objects.filter(
        integration_id__in=big.integration_ids, state=LedgerEntry.State.SYNCED
    ).count()


def _start_big(big: Big) -> None:
    """The big account switched on, and its first syncs queued as "Sync now" would."""
    from django.db import transaction

    from integrations.core.models import Integration
    from integrations.core.queue import enqueue_sync

    with transaction.atomic():
        Integration.objects.filter(pk__in=big.integration_ids).update(is_enabled=True)
        for integration_id in big.integration_ids:
            enqueue_sync(integration_id=integration_id, trigger="manual")


# --- the run ------------------------------------------------------------------------------------


def orchestrate(options: argparse.Namespace) -> dict[str, Any]:
    var = Path(options.var or tempfile.mkdtemp(prefix="c1-neighbour-"))
    var.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)  # noqa: S311 - a replayable schedule
    load_before = os.getloadavg()
    wins_each = int(2 * options.seconds / (options.win_every * (1 - JITTER))) + 4
    with servers(var) as (pg, sandbox_pg, redis):
        port = free_port()
        env = {
            **chaos_env(
                database_url=pg.url(DATABASE),
                sandbox_url=sandbox_pg.url(SANDBOX_DATABASE),
                redis_url=redis.url,
                port=port,
                var=var,
            ),
            # As shipped: the poll once a minute (chaos polls every 10 s to see many polls).
            "SYNC_POLL_INTERVAL": "60",
        }
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate_all", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        customers, big = seed(
            small=options.small,
            wins_each=wins_each,
            big_opportunities=options.big_opportunities,
            big_integrations=options.big_integrations,
            seed_value=options.seed,
        )
        log(
            f"seeded {options.small} small accounts and one with {options.big_opportunities} "
            f"won deals in {options.big_integrations} integrations"
        )
        connections.close_all()
        stack = Stack(var=var, env=env)
        used: dict[int, int] = {c.index: 0 for c in customers}
        samples = Samples()
        stop = threading.Event()
        try:
            stack.add("web", web_argv(port))
            _wait_http(f"http://127.0.0.1:{port}/healthz")
            stack.add("push", [*worker_argv(0), "-Q", "push"])
            for number in range(1, options.workers):
                stack.add(f"worker{number}", worker_argv(number))
            stack.add("beat", beat_argv(var, 1))
            time.sleep(5)  # the workers connected before the first message
            log(f"stack up: 1 push worker, {options.workers - 1} general, beat")
            idle = _phase("idle", customers, used, options.seconds, rng, options.win_every)
            _start_big(big)
            sampler = threading.Thread(target=_sampler, args=(big, samples, stop), daemon=True)
            sampler.start()
            done_at_end: list[int] = []
            loaded = _phase(
                "loaded",
                customers,
                used,
                options.seconds,
                rng,
                options.win_every,
                on_window_end=lambda: done_at_end.append(_big_done(big)),
            )
            stop.set()
            sampler.join(timeout=5)
            big_done_settled = _big_done(big)
        finally:
            stop.set()
            stack.stop_all()
        cap = int(settings.SYNC_MAX_RUNS_PER_ACCOUNT)
    load_after = os.getloadavg()
    shares = [b / n for b, n in zip(samples.big_claims, samples.busy, strict=True) if n]
    ratio = round(loaded["p95"] / idle["p95"], 2) if loaded["p95"] and idle["p95"] else None
    max_concurrent = max([*samples.big_claims, *samples.big_running, 0])
    lost = idle["lost"] + loaded["lost"]
    summary: dict[str, Any] = {
        "push_latency_p50_idle_seconds": idle["p50"],
        "push_latency_p95_idle_seconds": idle["p95"],
        "push_latency_max_idle_seconds": idle["max"],
        "push_latency_p50_loaded_seconds": loaded["p50"],
        "push_latency_p95_loaded_seconds": loaded["p95"],
        "push_latency_max_loaded_seconds": loaded["max"],
        "push_latency_ratio_p95": ratio,
        "big_account_max_concurrent_runs": max_concurrent,
        "big_account_share_of_busy_workers": round(statistics.mean(shares), 3) if shares else 0.0,
        "busy_workers_mean": round(statistics.mean(samples.busy), 2) if samples.busy else 0.0,
        "samples": len(samples.busy),
        "sync_max_runs_per_account": cap,
        "workers": options.workers,
        "worker_layout": {"push": 1, "general": options.workers - 1},
        "small_accounts": options.small,
        "big_opportunities": options.big_opportunities,
        "big_integrations": options.big_integrations,
        "big_backfill_opportunities_done": done_at_end[0] if done_at_end else None,
        "big_backfill_opportunities_done_after_settling": big_done_settled,
        "wins_idle": idle["wins"],
        "wins_loaded": loaded["wins"],
        "lost_pushes": lost,
        "seconds": options.seconds,
        "win_every_seconds": options.win_every,
        "seed": options.seed,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "logs": str(var),
    }
    summary["pass"] = bool(
        ratio is not None and ratio <= RATIO_LIMIT and max_concurrent <= cap and lost == 0
    )
    return summary


def _argv(options: argparse.Namespace) -> list[str]:
    return [
        f"--small={options.small}",
        f"--big-opportunities={options.big_opportunities}",
        f"--big-integrations={options.big_integrations}",
        f"--workers={options.workers}",
        f"--seconds={options.seconds}",
        f"--win-every={options.win_every}",
        f"--seed={options.seed}",
        *([f"--var={options.var}"] if options.var else []),
    ]


def run_neighbour(options: argparse.Namespace | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The benchmark in a process of its own (it configures Django for its private servers,
    which a caller that set up Django already cannot); returns its summary.

    ``options``: this module's command-line options (a namespace or a mapping of their
    attribute names, ``big_opportunities`` and so on); the defaults for what is left out.
    """
    given = vars(options) if isinstance(options, argparse.Namespace) else dict(options or {})
    options = parser().parse_args([])
    for key, value in given.items():
        setattr(options, key, value)
    with tempfile.TemporaryDirectory(prefix="c1-neighbour-out-") as out:
        path = Path(out) / "summary.json"
        subprocess.run(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "-m", "bench.neighbour", *_argv(options), f"--json-out={path}"],
            cwd=ROOT,
            check=False,
        )
        if not path.exists():
            raise RuntimeError("bench.neighbour wrote no summary; see its output above")
        summary: dict[str, Any] = json.loads(path.read_text())
        return summary


def parser() -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(prog="python -m bench.neighbour", description=__doc__)
    parsed.add_argument("--small", type=int, default=50, help="small accounts winning by push")
    parsed.add_argument("--big-opportunities", type=int, default=20_000)
    parsed.add_argument("--big-integrations", type=int, default=4)
    parsed.add_argument("--workers", type=int, default=4, help="worker processes, >= 2")
    parsed.add_argument("--seconds", type=float, default=90.0, help="length of each phase")
    parsed.add_argument(
        "--win-every", type=float, default=5.0, help="seconds between one account's wins"
    )
    parsed.add_argument("--seed", type=int, default=1)
    parsed.add_argument("--var", default="", help="folder for logs (default: a temporary one)")
    parsed.add_argument("--json-out", default="", help="also write the summary here")
    return parsed


def main(argv: Sequence[str] | None = None) -> None:
    options = parser().parse_args(argv)
    if options.workers < 2:
        raise SystemExit("--workers: at least 2 (one for push, one general)")
    summary = orchestrate(options)
    if options.json_out:
        Path(options.json_out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    sys.exit(0 if summary["pass"] else 1)


if __name__ == "__main__":
    main()

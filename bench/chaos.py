"""``make chaos``: the real stack under faults, then the sandbox Xero checked against the truth.

    python -m bench.chaos [--seed N] [--opportunities N] [--accounts N] [--workers N]
                          [--win-seconds S] [--converge-timeout S]

It starts everything it needs on its own ports and stops it all at the end: two private
PostgreSQL clusters (the product's, which it crashes and restarts, and the simulators', which
it leaves alone: Xero and Salesforce do not go down with us), a private Redis (restarted with
its data lost), the web server (gunicorn: the product's push and webhook endpoints and the
simulators over HTTP), ``--workers`` Celery worker processes (concurrency 1) and beat.

While ``--opportunities`` opportunities across ``--accounts`` accounts are won in the sandbox
Salesforce (half the accounts connected for push, half found by polling; a few deals lost
again after they were won), it injects at seeded moments (the schedule is printed first):

- a worker SIGKILLed mid-run, and right after Xero saved a write but before our commit;
- a worker frozen (SIGSTOP) past its claim, then resumed;
- Redis killed and started empty; PostgreSQL stopped by a crash and cleanly, then started;
- Xero answering 500/503, timeouts and answers lost after saving on ~20% of calls, and 429s
  with ``Retry-After`` in bursts;
- Salesforce sessions expiring and ``REQUEST_LIMIT_EXCEEDED``;
- a second beat for a while; Outbound Messages and Xero webhooks delivered three times; a
  Stripe webhook replayed; a Xero access token expiring with four processes refreshing it.

Then the faults stop and the run waits for the system to converge: Xero matches the truth and
no work is left open, for ``STABLE_SECONDS``. The last line of stdout is the JSON summary; the
exit code is 0 only when it passed (0 duplicates, 0 missing, 0 money differences, every error
left explained, converged within ``--converge-limit`` seconds of the last fault).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from bench.chaos_servers import PrivatePostgres, PrivateRedis, free_port

if TYPE_CHECKING:
    from bench.chaos_seed import Customer
    from bench.chaos_truth import Verdict

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "carrytheone_chaos"
SANDBOX_DATABASE = "carrytheone_chaos_sandbox"
FERNET_KEY = "Y2hhb3Mtb25seS1rZXktbm90LWZvci1wcm9kLTAwMDE="
STABLE_SECONDS = 10.0
CHECK_EVERY = 3.0
# Xero's background faults while they are on: every Nth call of an organisation (by its
# request counter) answers 5xx, hangs past our timeout, or is saved and its answer lost —
# together about a fifth of the calls.
XERO_FAULTS: dict[str, Any] = {
    "error_every": 11,
    "error_status": 503,
    "timeout_every": 29,
    "timeout_seconds": 12.0,
    "lose_answer_every": 9,
}
HTTP_TIMEOUT = 10
FREEZE_SECONDS = 45.0  # past SYNC_CLAIM_TTL (30 s)
_STARTED = time.time()
_T = TypeVar("_T")


def log(message: str) -> None:
    print(f"[chaos {time.time() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the processes ----------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    crashes: int = 0
    # time.monotonic() of each exit the supervisor found, to tell which fault preceded it.
    exited_at: list[float] = field(default_factory=list)
    # A process the run stopped on purpose (killed, frozen, a second beat ended): not a crash.
    held: bool = False


@dataclass
class Stack:
    var: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, argv: list[str]) -> None:
        self.processes[name] = Process(name, argv)
        self.start(name)

    def start(self, name: str) -> None:
        process = self.processes[name]
        out = (self.var / f"{name}.log").open("ab")
        self._logs.append(out)
        process.popen = subprocess.Popen(  # noqa: S603 - our interpreter and arguments
            process.argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group: a signal reaches the Celery main process and its child.
            start_new_session=True,
        )
        process.held = False

    def signal(self, name: str, sig: signal.Signals) -> None:
        popen = self.processes[name].popen
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, sig)

    def kill(self, name: str) -> None:
        self.processes[name].held = True
        self.signal(name, signal.SIGKILL)
        popen = self.processes[name].popen
        if popen is not None:
            popen.wait(timeout=15)

    def owner_of(self, pid: int) -> str | None:
        """The process of ours whose group ``pid`` belongs to (a Celery pool child)."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        for name, process in self.processes.items():
            if process.popen is not None and process.popen.pid == group:
                return name
        return None

    def supervise(self) -> None:
        """Restarts what exited without being told to, as systemd would; counts it."""
        with self.lock:
            for name, process in self.processes.items():
                if process.held or process.popen is None or process.popen.poll() is None:
                    continue
                process.crashes += 1
                process.restarts += 1
                process.exited_at.append(time.monotonic())
                log(f"{name} exited by itself ({process.popen.returncode}); restarted")
                self.start(name)

    def stop(self, name: str) -> None:
        process = self.processes[name]
        process.held = True
        if process.popen is None or process.popen.poll() is not None:
            return
        self.signal(name, signal.SIGCONT)
        self.signal(name, signal.SIGTERM)
        try:
            process.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.signal(name, signal.SIGKILL)
            process.popen.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for out in self._logs:
            out.close()


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "carrytheone", *args]


def web_argv(port: int) -> list[str]:
    # Threads: a Xero call the sandbox holds for a timeout must not block the other requests.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "carrytheone.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "12",
        "--worker-class",
        "gthread",
        "--timeout",
        "120",
        "--log-level",
        "warning",
    ]


def worker_argv(number: int) -> list[str]:
    return _celery(
        "worker",
        "--loglevel=WARNING",
        "--concurrency=1",
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"chaos{number}@%h",
    )


def beat_argv(var: Path, number: int) -> list[str]:
    return _celery("beat", "--loglevel=WARNING", f"--schedule={var / f'beat{number}-schedule'}")


# --- the environment --------------------------------------------------------------------------


def chaos_env(
    *, database_url: str, sandbox_url: str, redis_url: str, port: int, var: Path
) -> dict[str, str]:
    """Production-like settings (DEBUG off), the sandbox on, every server the run's own."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    base = f"http://127.0.0.1:{port}"
    return {
        **{k: os.environ[k] for k in keep if k in os.environ},
        "DJANGO_SETTINGS_MODULE": "carrytheone.settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "0",
        "SECRET_KEY": "chaos-only-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
        "VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "staticfiles"),
        "DATABASE_URL": database_url,
        "SANDBOX_DATABASE_URL": sandbox_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": "c1chaos",
        "SANDBOX_ENABLED": "1",
        "SANDBOX_BASE_URL": base,
        "SITE_URL": base,
        "LOG_LEVEL": "WARNING",
        "EMAIL_URL": "consolemail://",
        # Polled often so a short run sees several polls; everything else as shipped.
        "SYNC_POLL_INTERVAL": "10",
        "EXTERNAL_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
        "SALESFORCE_API_HEADROOM": "0.0",
    }


# --- the schedule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 1), "kind": self.kind, **self.params}


FAULT_COUNTS_PER_MINUTE: dict[str, float] = {
    "kill_worker_mid_run": 0.8,
    "kill_worker_after_answer": 0.8,
    "freeze_worker": 0.3,
    "xero_429_burst": 1.5,
    "xero_error_status": 0.6,
    "salesforce_sessions_expire": 0.4,
    "salesforce_request_limit": 0.4,
    "duplicate_xero_webhooks": 2.0,
}
# At least once each, whatever the length of the run.
ONCE = (
    "redis_restart",
    "postgres_crash",
    "postgres_clean_restart",
    "two_beats",
    "xero_token_race",
    "stripe_replay",
)


def schedule(rng: random.Random, *, window: float, accounts: int, workers: int) -> list[Event]:
    """Every fault of the run with its moment in [5 s, window]; the same seed, the same list."""
    events: list[Event] = [Event(1.0, "xero_faults_on", {"faults": XERO_FAULTS})]
    minutes = window / 60
    for kind, rate in FAULT_COUNTS_PER_MINUTE.items():
        for _ in range(max(1, round(rate * minutes))):
            events.append(Event(rng.uniform(5, window), kind, {}))
    # The outages apart from one another, so each one's effect can be told apart in the logs.
    slots = sorted(rng.sample(range(len(ONCE) * 2), len(ONCE)))
    span = (window - 20) / (len(ONCE) * 2)
    for kind, slot in zip(rng.sample(ONCE, len(ONCE)), slots, strict=True):
        events.append(Event(10 + slot * span + rng.uniform(0, span / 2), kind, {}))
    detailed = []
    for event in events:
        params = dict(event.params)
        if event.kind in (
            "xero_429_burst",
            "salesforce_sessions_expire",
            "salesforce_request_limit",
            "xero_token_race",
        ):
            params["account"] = rng.randrange(accounts)
        if event.kind == "xero_429_burst":
            params["count"] = rng.randint(2, 6)
        if event.kind == "xero_error_status":
            params["status"] = rng.choice((500, 503))
        if event.kind in ("kill_worker_mid_run", "freeze_worker", "kill_worker_after_answer"):
            params["fallback_worker"] = rng.randrange(workers)
        detailed.append(Event(event.at, event.kind, params))
    detailed.append(Event(window, "faults_off", {}))
    return sorted(detailed, key=lambda e: e.at)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    stack: Stack
    pg: PrivatePostgres
    redis: PrivateRedis
    customers: list[Customer]
    rng: random.Random
    workers: int
    base: str
    withdrawn: set[str] = field(default_factory=set)
    fired: Counter[str] = field(default_factory=Counter)
    hits: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)
    redis_killed_at: list[float] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    _outbound_busy: threading.Lock = field(default_factory=threading.Lock)

    # Each fault in a thread of its own: an outage takes seconds, the wins go on meanwhile.
    def spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            from django.db import connections

            try:
                target()
            except Exception as exc:  # a fault that could not be injected is reported
                log(f"fault {name} could not be injected: {exc!r}")
                self.findings.append(f"{name} not injected: {exc!r}")
            finally:
                connections.close_all()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def fire(self, event: Event) -> None:
        self.fired[event.kind] += 1
        log(f"fault: {event.kind} {event.params or ''}")
        handler: Callable[[Event], None] = getattr(self, f"_fault_{event.kind}")
        self.spawn(event.kind, lambda: handler(event))

    # -- workers

    def _worker_names(self) -> list[str]:
        return [f"worker{n}" for n in range(self.workers)]

    def _claimed_worker(self) -> str | None:
        """The worker process holding some integration's claim now, if any."""
        from django.utils import timezone

        from integrations.core.models import Integration

        for claimed_by in Integration.objects.filter(
            sync_claimed_until__gt=timezone.now()
        ).values_list("sync_claimed_by", flat=True):
            parts = claimed_by.split(":")
            if len(parts) >= 2 and parts[1].isdigit():
                owner = self.stack.owner_of(int(parts[1]))
                if owner is not None and not self.stack.processes[owner].held:
                    return owner
        return None

    def _target(self, event: Event) -> tuple[str, bool]:
        """A worker holding a claim (runs are short: watched for up to 30 s), else the
        schedule's own pick."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                owner = self._claimed_worker()
            except Exception:  # the database may be down for another fault
                owner = None
                time.sleep(1)
            if owner is not None:
                return owner, True
            time.sleep(0.05)
        name = self._worker_names()[int(event.params["fallback_worker"])]
        return name, False

    def _kill_and_restart(self, name: str) -> None:
        with self.stack.lock:
            self.stack.kill(name)
        time.sleep(3)
        with self.stack.lock:
            self.stack.start(name)
            self.stack.processes[name].restarts += 1

    def _fault_kill_worker_mid_run(self, event: Event) -> None:
        name, claimed = self._target(event)
        if claimed:
            self.hits["kill_worker_mid_run"] += 1
        log(f"  SIGKILL {name} ({'holding a claim' if claimed else 'idle'})")
        self._kill_and_restart(name)

    def _fault_kill_worker_after_answer(self, event: Event) -> None:
        """Waits (up to 40 s) for Xero to save an invoice of a write still ``sending`` in our
        database — Xero answered, we have not committed — and kills that worker then."""
        from integrations.core.models import Integration
        from integrations.sync.models import XeroOperation
        from sandbox.xero.models import Invoice

        org_of = {c.integration_id: c.xero_org for c in self.customers}
        deadline = time.monotonic() + 40
        seen: dict[int, int] = {}
        while time.monotonic() < deadline:
            try:
                sending = set(
                    XeroOperation.objects.filter(
                        state=XeroOperation.State.SENDING, kind=XeroOperation.Kind.INVOICE
                    ).values_list("integration_id", flat=True)
                )
                for integration_id in sending:
                    count = Invoice.objects.filter(
                        organisation__name=org_of[integration_id]
                    ).count()
                    before = seen.setdefault(integration_id, count)
                    if count <= before:
                        continue
                    claimed_by = (
                        Integration.objects.filter(pk=integration_id)
                        .values_list("sync_claimed_by", flat=True)
                        .first()
                        or ""
                    )
                    parts = claimed_by.split(":")
                    owner = (
                        self.stack.owner_of(int(parts[1]))
                        if len(parts) > 1 and parts[1].isdigit()
                        else None
                    )
                    still = XeroOperation.objects.filter(
                        integration_id=integration_id, state=XeroOperation.State.SENDING
                    ).exists()
                    if owner is not None and still:
                        self.hits["kill_worker_after_answer"] += 1
                        log(f"  SIGKILL {owner}: Xero saved, our commit not made")
                        self._kill_and_restart(owner)
                        return
                for gone in set(seen) - sending:
                    del seen[gone]
            except Exception as exc:  # the database may be down for another fault
                log(f"  (watching for an answer: {exc.__class__.__name__})")
                time.sleep(1)
            time.sleep(0.02)
        name, _ = self._target(event)
        log(f"  no write caught between answer and commit in 40 s; SIGKILL {name} instead")
        self._kill_and_restart(name)

    def _fault_freeze_worker(self, event: Event) -> None:
        name, claimed = self._target(event)
        if claimed:
            self.hits["freeze_worker"] += 1
        state = "holding a claim" if claimed else "idle"
        log(f"  SIGSTOP {name} for {FREEZE_SECONDS:.0f} s ({state})")
        self.stack.processes[name].held = True
        self.stack.signal(name, signal.SIGSTOP)
        time.sleep(FREEZE_SECONDS)
        self.stack.signal(name, signal.SIGCONT)
        self.stack.processes[name].held = False
        log(f"  SIGCONT {name}")

    # -- servers

    def _fault_redis_restart(self, event: Event) -> None:
        self.redis_killed_at.append(time.monotonic())
        self.redis.restart_losing_data(down_seconds=2.0)
        log("  Redis is back, empty")

    def _fault_postgres_crash(self, event: Event) -> None:
        self.pg.restart("immediate", down_seconds=4.0)
        log("  PostgreSQL is back after a crash")

    def _fault_postgres_clean_restart(self, event: Event) -> None:
        self.pg.restart("fast", down_seconds=4.0)
        log("  PostgreSQL is back after a clean stop")

    def _fault_two_beats(self, event: Event) -> None:
        # Celery's own scheduler, outside the beat lease (carrytheone.beat), as a beat of an
        # older release would be during a deploy: both send every poll, and the claims must
        # keep that harmless. A second beat of this release would only stand by.
        argv = [*beat_argv(self.stack.var, 2), "--scheduler=celery.beat:PersistentScheduler"]
        with self.stack.lock:
            self.stack.add("beat2", argv)
        time.sleep(60)
        with self.stack.lock:
            self.stack.stop("beat2")
        log("  second beat stopped")

    # -- Xero

    def _xero_orgs(self) -> Any:
        from sandbox.xero.models import XeroOrganisation

        return XeroOrganisation.objects.filter(name__in=[c.xero_org for c in self.customers])

    def _fault_xero_faults_on(self, event: Event) -> None:
        self._xero_orgs().update(faults=event.params["faults"])

    def _fault_xero_error_status(self, event: Event) -> None:
        from sandbox.xero.models import XeroOrganisation

        for org in self._xero_orgs():
            XeroOrganisation.objects.filter(pk=org.pk).update(
                faults={**org.faults, "error_status": event.params["status"]}
            )

    def _fault_xero_429_burst(self, event: Event) -> None:
        from sandbox import db as sandbox_db
        from sandbox.xero.models import XeroOrganisation

        name = self.customers[int(event.params["account"])].xero_org
        with sandbox_db.atomic():
            org = XeroOrganisation.objects.select_for_update().get(name=name)
            org.faults = {**org.faults, "force_429": int(event.params["count"])}
            org.save(update_fields=["faults"])

    def _fault_xero_token_race(self, event: Event) -> None:
        """The access token dies at Xero while we think it good; four processes then ask for
        usable credentials at the same instant, each with the refused token. Rotating refresh
        tokens mean only one may refresh: the connection must stay connected."""
        from integrations.connections.models import Connection
        from integrations.core.models import Integration
        from sandbox.xero.models import AccessToken

        customer = self.customers[int(event.params["account"])]
        integration = Integration.objects.select_related("xero_connection").get(
            pk=customer.integration_id
        )
        connection = integration.xero_connection
        assert connection is not None
        token = str(connection.credentials.get("access_token", ""))
        connection_id = connection.pk
        AccessToken.objects.filter(grant__connections__organisation__name=customer.xero_org).update(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        )
        at = time.time() + 3
        racers = [
            subprocess.Popen(  # noqa: S603 - our interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "bench.chaos",
                    "--role",
                    "refresh",
                    "--connection",
                    str(connection.pk),
                    "--token",
                    token,
                    "--at",
                    str(at),
                ],
                cwd=ROOT,
                env=self.stack.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [r.communicate(timeout=120)[0].decode(errors="replace").strip() for r in racers]
        connection = _with_database(lambda: Connection.objects.get(pk=connection_id))
        refreshed = connection.credentials.get("access_token") != token
        ok = connection.status == Connection.Status.ACTIVE and refreshed
        log(f"  token race: connection {connection.status}, refreshed {refreshed}: {outputs}")
        if ok:
            self.hits["xero_token_race"] += 1
        else:
            self.findings.append(f"xero_token_race: connection {connection.status}: {outputs}")

    def _fault_duplicate_xero_webhooks(self, event: Event) -> None:
        """The three latest webhook payloads of every push account, delivered twice more each."""
        from sandbox.xero import xjson
        from sandbox.xero.models import WebhookDelivery
        from sandbox.xero.webhooks import post, sign

        answers: Counter[int | None] = Counter()
        for customer in self.customers:
            if not customer.push:
                continue
            for delivery in (
                WebhookDelivery.objects.filter(organisation__name=customer.xero_org)
                .select_related("organisation")
                .order_by("-pk")[:3]
            ):
                body = xjson.dumps(delivery.payload)
                org = delivery.organisation
                for _ in range(2):
                    status, _error = post(org.webhook_url, body, sign(body, org.webhook_key))
                    answers[status] += 1
                    if status == 200:
                        self.hits["duplicate_xero_webhooks"] += 1
        log(f"  webhook deliveries repeated, answers: {dict(answers)}")

    # -- Salesforce

    def _fault_salesforce_sessions_expire(self, event: Event) -> None:
        from sandbox.salesforce.models import AccessToken

        name = self.customers[int(event.params["account"])].salesforce_org
        AccessToken.objects.filter(org__name=name).update(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        )

    def _fault_salesforce_request_limit(self, event: Event) -> None:
        from sandbox import db as sandbox_db
        from sandbox.salesforce.models import SalesforceOrg

        name = self.customers[int(event.params["account"])].salesforce_org
        with sandbox_db.atomic():
            org = SalesforceOrg.objects.select_for_update().get(name=name)
            org.faults = {**org.faults, "force_429": 3}
            org.save(update_fields=["faults"])

    def duplicate_outbound(self, sf_id: str) -> None:
        """The Outbound Message of ``sf_id`` delivered twice more (Salesforce does, at least
        once), the way it was: same notification id, same body."""
        from sandbox.salesforce.models import OutboundDelivery

        time.sleep(2)
        delivery = OutboundDelivery.objects.filter(record_id=sf_id).order_by("-pk").first()
        if delivery is None:
            return
        for _ in range(2):
            with contextlib.suppress(OSError):
                request = urllib.request.Request(  # noqa: S310 - our loopback server
                    delivery.url,
                    data=delivery.body.encode(),
                    headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                )
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    if answer.status == 200:
                        self.hits["duplicate_outbound_messages"] += 1
            time.sleep(3)

    def retry_outbound(self) -> None:
        """Salesforce retries unacknowledged messages: so does the run, every few seconds."""
        if not self._outbound_busy.acquire(blocking=False):
            return

        def retry() -> None:
            from sandbox.salesforce.outbound import retry_pending_outbound

            try:
                retry_pending_outbound()
            finally:
                self._outbound_busy.release()

        self.spawn("outbound_retry", retry)

    # -- Stripe

    def _fault_stripe_replay(self, event: Event) -> None:
        """One signed Stripe event delivered three times: stored and processed once."""
        from django.conf import settings

        from billing.models import StripeEvent

        event_id = f"evt_chaos_{self.rng.getrandbits(48):012x}"
        body = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": "customer.subscription.updated",
                "created": int(time.time()),
                "livemode": False,
                "api_version": "2024-06-20",
                "data": {
                    "object": {
                        "id": "sub_chaos_unknown",
                        "object": "subscription",
                        "customer": "cus_chaos_unknown",
                        "status": "active",
                    }
                },
            }
        ).encode()
        statuses = []
        for _ in range(3):
            stamp = int(time.time())
            digest = hmac.new(
                settings.STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256
            ).hexdigest()
            request = urllib.request.Request(  # noqa: S310 - our loopback server
                f"{self.base}/billing/stripe/webhook/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": f"t={stamp},v1={digest}",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    statuses.append(answer.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
            time.sleep(1)
        stored = StripeEvent.objects.filter(event_id=event_id).count()
        log(f"  Stripe event {event_id} answered {statuses}, stored {stored} time(s)")
        if stored == 1:
            self.hits["stripe_replay"] += 1
        else:
            self.findings.append(f"stripe_replay: {event_id} stored {stored} times ({statuses})")

    def _fault_faults_off(self, event: Event) -> None:
        from django.utils import timezone

        from integrations.core.models import IntegrationPause
        from sandbox.salesforce.models import SalesforceOrg

        def end_faults() -> int:
            self._xero_orgs().update(faults={})
            SalesforceOrg.objects.filter(
                name__in=[c.salesforce_org for c in self.customers]
            ).update(faults={})
            # REQUEST_LIMIT_EXCEEDED is Salesforce's daily allowance used up, and the product
            # rightly looks again only after 15 minutes. The fault was three refusals, so its
            # end is the allowance coming back: the wait it caused ends with it (counted).
            return int(
                IntegrationPause.objects.filter(
                    integration_id__in=[c.integration_id for c in self.customers],
                    message__contains="REQUEST_LIMIT_EXCEEDED",
                    until__gt=timezone.now(),
                ).update(until=timezone.now())
            )

        # On a loaded machine the schedule falls behind and this can fire while a PostgreSQL
        # restart is still under way: the updates are idempotent, so they wait for it.
        self.hits["salesforce_limit_pauses_ended_with_the_fault"] += _with_database(end_faults)


def _with_database(read: Callable[[], _T], attempts: int = 30) -> _T:
    """``read``, again while the product's database is down for another fault."""
    from django.db import Error, connections

    for _ in range(attempts - 1):
        try:
            return read()
        except Error:
            connections.close_all()
            time.sleep(1)
    return read()


# --- the driver -------------------------------------------------------------------------------


def _wins(run: Run, window_for_wins: float) -> list[tuple[float, str, str, bool]]:
    """(at, org, opportunity, push) for every opportunity, spread over the window, shuffled."""
    everything = [
        (customer.salesforce_org, sf_id, customer.push)
        for customer in run.customers
        for sf_id in customer.opportunities
    ]
    run.rng.shuffle(everything)
    step = window_for_wins / max(1, len(everything))
    return [(3 + i * step, org, sf_id, push) for i, (org, sf_id, push) in enumerate(everything)]


def _save_stage(org_name: str, sf_id: str, stage: str) -> None:
    from sandbox.salesforce import services
    from sandbox.salesforce.models import Opportunity, SalesforceOrg

    org = SalesforceOrg.objects.get(name=org_name)
    opportunity = Opportunity.objects.get(org=org, sf_id=sf_id)
    services.opportunity_save(org=org, opportunity=opportunity, stage_name=stage)


def drive(run: Run, events: list[Event], *, window: float, withdraw_share: float) -> float:
    """Wins, withdrawals and faults on one clock; returns the monotonic time of the last fault."""
    wins = _wins(run, window * 0.8)
    losses: list[tuple[float, str, str]] = []
    for at, org, sf_id, _push in wins:
        if run.rng.random() < withdraw_share:
            losses.append((min(window - 5, at + run.rng.uniform(15, 45)), org, sf_id))
    losses.sort()
    queue_events = list(events)
    clock = time.monotonic()
    next_retry = 0.0
    won = 0
    while queue_events or wins or losses:
        now = time.monotonic() - clock
        while wins and wins[0][0] <= now:
            _at, org, sf_id, push = wins.pop(0)
            _save_stage(org, sf_id, "Closed Won")
            won += 1
            if push and run.rng.random() < 0.05:
                run.spawn("duplicate_outbound", functools.partial(run.duplicate_outbound, sf_id))
                run.fired["duplicate_outbound_messages"] += 1
            if won % 100 == 0:
                log(f"{won} opportunities won")
        while losses and losses[0][0] <= now:
            _at, org, sf_id = losses.pop(0)
            _save_stage(org, sf_id, "Closed Lost")
            run.withdrawn.add(sf_id)
        while queue_events and queue_events[0].at <= now:
            run.fire(queue_events.pop(0))
        if now >= next_retry:
            run.retry_outbound()
            run.stack.supervise()
            next_retry = now + 5
        time.sleep(0.02)
    log(f"all {won} won, {len(run.withdrawn)} withdrawn; waiting for the faults to end...")
    for thread in list(run.threads):
        thread.join(timeout=180)
    return time.monotonic()


def converge(run: Run, *, last_fault: float, timeout: float) -> tuple[float | None, Verdict]:
    """Checks the truth every few seconds until it holds with nothing open for
    ``STABLE_SECONDS``; returns (seconds from the last fault to that moment, the verdict)."""
    from django.db import connections

    from bench.chaos_truth import check

    settled_since: float | None = None
    verdict: Verdict | None = None
    deadline = last_fault + timeout
    last_report = 0.0
    while True:
        now = time.monotonic()
        try:
            verdict = check(run.customers, run.withdrawn)
        except Exception as exc:  # the database restarting, a check racing a write
            log(f"check failed: {exc!r}")
            connections.close_all()
            time.sleep(CHECK_EVERY)
            continue
        if verdict.settled:
            settled_since = settled_since if settled_since is not None else now
            if now - settled_since >= STABLE_SECONDS:
                return settled_since - last_fault, verdict
        else:
            settled_since = None
        if now - last_report >= 15:
            last_report = now
            log(
                f"converging: missing {verdict.missing}, duplicates {verdict.duplicates}, "
                f"money {verdict.money_differences}, open {verdict.open_work}"
            )
        if now > deadline:
            return None, verdict
        run.retry_outbound()
        run.stack.supervise()
        time.sleep(CHECK_EVERY)


def _runs_by_status(ids: Sequence[int]) -> dict[str, int]:
    from django.db.models import Count

    from integrations.sync.models import SyncRun

    return {
        row["status"]: row["n"]
        for row in SyncRun.objects.filter(integration_id__in=ids)
        .values("status")
        .annotate(n=Count("pk"))
    }


def _failed_runs(ids: Sequence[int]) -> list[dict[str, Any]]:
    from integrations.sync.models import SyncRun

    reasons = Counter(
        (error or "")[:160]
        for error in SyncRun.objects.filter(
            integration_id__in=ids, status=SyncRun.Status.FAILED
        ).values_list("error", flat=True)
    )
    return [{"reason": r, "runs": n} for r, n in reasons.most_common(12)]


@contextlib.contextmanager
def servers(var: Path) -> Iterator[tuple[PrivatePostgres, PrivatePostgres, PrivateRedis]]:
    pg = PrivatePostgres("product")
    sandbox_pg = PrivatePostgres("simulators")
    redis = PrivateRedis()
    try:
        for cluster in (pg, sandbox_pg):
            cluster.init()
            cluster.start()
        pg.create_database(DATABASE)
        sandbox_pg.create_database(SANDBOX_DATABASE)
        redis.start()
        log(
            f"servers: PostgreSQL :{pg.port} (product), :{sandbox_pg.port} (simulators), "
            f"Redis :{redis.port}; logs in {var}"
        )
        yield pg, sandbox_pg, redis
    finally:
        for folder, name in ((pg.folder, "product"), (sandbox_pg.folder, "sandbox")):
            with contextlib.suppress(OSError):
                shutil.copy(folder / "server.log", var / f"postgres-{name}.log")
        redis.destroy()
        pg.destroy()
        sandbox_pg.destroy()


def orchestrate(options: argparse.Namespace) -> int:
    var = Path(options.var or tempfile.mkdtemp(prefix="c1-chaos-"))
    var.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)  # noqa: S311 - a replayable schedule, not secrets
    window = options.win_seconds / 0.8
    events = schedule(rng, window=window, accounts=options.accounts, workers=options.workers)
    print(
        json.dumps({"seed": options.seed, "schedule": [e.to_json() for e in events]}),
        file=sys.stderr,
    )
    with servers(var) as (pg, sandbox_pg, redis):
        port = free_port()
        env = chaos_env(
            database_url=pg.url(DATABASE),
            sandbox_url=sandbox_pg.url(SANDBOX_DATABASE),
            redis_url=redis.url,
            port=port,
            var=var,
        )
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        from bench.chaos_seed import seed

        call_command("migrate_all", verbosity=0)
        # DEBUG is off: the web's pages (an error page too) need the hashed static files.
        call_command("collectstatic", interactive=False, verbosity=0)
        customers = seed(
            accounts=options.accounts, opportunities=options.opportunities, seed_value=options.seed
        )
        log(f"seeded {options.opportunities} open opportunities in {options.accounts} accounts")
        from django.db import connections

        connections.close_all()
        stack = Stack(var=var, env=env)
        run = Run(
            stack=stack,
            pg=pg,
            redis=redis,
            customers=customers,
            rng=rng,
            workers=options.workers,
            base=f"http://127.0.0.1:{port}",
        )
        started = time.monotonic()
        try:
            stack.add("web", web_argv(port))
            _wait_http(f"{run.base}/healthz")
            for number in range(options.workers):
                stack.add(f"worker{number}", worker_argv(number))
            stack.add("beat1", beat_argv(var, 1))
            log(f"stack up: web {run.base}, {options.workers} workers, beat")
            last_fault = drive(run, events, window=window, withdraw_share=options.withdraw_share)
            log("faults over; converging...")
            seconds, verdict = converge(
                run, last_fault=last_fault, timeout=options.converge_timeout
            )
            ids = [c.integration_id for c in customers]
            summary = _summary(options, run, verdict, seconds, ids, time.monotonic() - started)
        finally:
            stack.stop_all()
    summary["logs"] = str(var)
    print(json.dumps(summary))
    return 0 if summary["passed"] else 1


def _summary(
    options: argparse.Namespace,
    run: Run,
    verdict: Verdict,
    seconds: float | None,
    ids: list[int],
    elapsed: float,
) -> dict[str, Any]:
    failures = []
    if verdict.duplicates:
        failures.append(f"{verdict.duplicates} duplicates")
    if verdict.missing:
        failures.append(f"{verdict.missing} missing")
    if verdict.money_differences:
        failures.append(f"{verdict.money_differences} money differences")
    if verdict.unexplained_errors:
        failures.append(f"{verdict.unexplained_errors} unexplained errors")
    if seconds is None or seconds > options.converge_limit:
        failures.append("did not converge" if seconds is None else f"converged in {seconds:.0f} s")
    failures.extend(run.findings)
    crashes = {n: p.crashes for n, p in run.stack.processes.items() if p.crashes}
    if any(n >= 3 for n in crashes.values()):
        failures.append(f"crash loop: {crashes}")
    return {
        "seed": options.seed,
        "accounts": options.accounts,
        "workers": options.workers,
        **verdict.to_json(),
        "seconds_to_converge": round(seconds, 1) if seconds is not None else None,
        "faults_injected": dict(sorted(run.fired.items())),
        "faults_hit": dict(sorted(run.hits.items())),
        "process_crashes": crashes,
        "process_exits_after_redis_restart": _exits_after(run, run.redis_killed_at),
        "postgres_restarts": run.pg.restarts,
        "redis_restarts": run.redis.restarts,
        "runs": _runs_by_status(ids),
        "failed_runs_by_reason": _failed_runs(ids),
        "run_seconds": round(elapsed, 1),
        "failures": failures,
        "passed": not failures,
    }


# An exit found this soon after a fault is counted as that fault's: a worker that cannot get
# over a broker restart exits within seconds of it, and the supervisor looks every 5 s.
EXIT_AFTER_FAULT_SECONDS = 30.0


def _exits_after(run: Run, moments: Sequence[float]) -> int:
    return sum(
        any(0 <= exit_at - moment <= EXIT_AFTER_FAULT_SECONDS for moment in moments)
        for process in run.stack.processes.values()
        for exit_at in process.exited_at
    )


def _wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - our loopback server
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def refresh_racer(connection_id: int, token: str, at: float) -> None:
    """One of the four processes of ``xero_token_race``: asks at ``at`` for usable credentials."""
    import django

    django.setup()
    from integrations.connections.providers import ProviderError
    from integrations.connections.services import connection_credentials

    time.sleep(max(0.0, at - time.time()))
    try:
        credentials = connection_credentials(
            connection_id=connection_id, rejected_access_token=token
        )
        print("refreshed" if credentials.get("access_token") != token else "same token")
    except ProviderError as exc:
        print(f"error: {exc.message}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--opportunities", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="Celery worker processes")
    parser.add_argument(
        "--win-seconds", type=float, default=300.0, help="over how long the deals are won"
    )
    parser.add_argument("--withdraw-share", type=float, default=0.04, help="won, then lost")
    parser.add_argument("--converge-timeout", type=float, default=420.0)
    parser.add_argument("--converge-limit", type=float, default=180.0, help="pass within this")
    parser.add_argument("--var", default="", help="folder for logs (default: a temporary one)")
    parser.add_argument("--role", choices=("refresh",), help=argparse.SUPPRESS)
    parser.add_argument("--connection", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--at", type=float, default=0.0, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role == "refresh":
        refresh_racer(options.connection, options.token, options.at)
        return
    sys.exit(orchestrate(options))


if __name__ == "__main__":
    main()

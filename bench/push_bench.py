"""The push paths of ``make bench``, measured from outside the product over real HTTP.

Runs inside the orchestrator (:mod:`bench.sync_bench`) once the poll benchmark has invoiced the
seeded opportunities, with the same sandbox server (gunicorn, which also serves the product's
inbound endpoints) and one Celery worker process started as in production (``--concurrency=1``,
the default settings: a 1-second push window).

- **Salesforce → Xero**: the seed's open opportunities are closed as won in the sandbox
  Salesforce, which sends an Outbound Message to the integration's endpoint for each; first at a
  steady rate (one a second), then in bursts (50 at once). The latency of an opportunity runs
  from its save to its invoice existing in the sandbox Xero (its ledger row synced with the
  invoice's id, and that invoice in the sandbox's database), watched every 50 ms.
- **Xero → Salesforce**: payments are recorded in the sandbox Xero over its API (as a person or
  a bank feed would), which signs and sends a webhook to the product; the latency runs from the
  payment's answer to the opportunity's "amount paid" field holding the paid amount in the
  sandbox Salesforce.

The Xero calls of the push phase are the calls of its sync runs (each run counts its own).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
WATCH_EVERY = 0.05
SETTLE_TIMEOUT = 120.0
WRITEBACK_FIELD = "Xero_Amount_Paid__c"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.95 for p95) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered), max(1, math.ceil(share * len(ordered))))
    return ordered[rank - 1]


@contextmanager
def celery_worker(env: dict[str, str], logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One worker process, as the Procfile starts it."""
    with logfile.open("w") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "carrytheone",
                "worker",
                "--loglevel=WARNING",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(3)  # connected to the broker before the first message
            if worker.poll() is not None:
                raise SystemExit(f"the Celery worker exited; see {logfile}")
            yield worker
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


class Watcher:
    """Polls ``done(pending ids)`` every 50 ms on a thread; records when each id got done."""

    def __init__(self, done: Callable[[set[str]], set[str]]) -> None:
        self._done = done
        self._pending: dict[str, float] = {}
        self.latency: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def sent(self, key: str, at: float) -> None:
        with self._lock:
            self._pending[key] = at

    def _loop(self) -> None:
        from django.db import connections

        try:
            while not self._stop.is_set():
                with self._lock:
                    pending = dict(self._pending)
                if pending:
                    finished = self._done(set(pending))
                    now = time.time()
                    with self._lock:
                        for key in finished:
                            self.latency[key] = now - pending[key]
                            self._pending.pop(key, None)
                self._stop.wait(WATCH_EVERY)
        finally:
            connections.close_all()

    def wait_all(self, timeout: float = SETTLE_TIMEOUT) -> list[str]:
        """Waits for every sent id; returns those still not done after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return []
            time.sleep(0.2)
        with self._lock:
            return sorted(self._pending)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _invoiced(integration_id: int) -> Callable[[set[str]], set[str]]:
    from integrations.sync.models import LedgerEntry
    from sandbox.xero.models import Invoice

    def done(ids: set[str]) -> set[str]:
        rows = dict(
            LedgerEntry.objects.filter(
                integration_id=integration_id,
                salesforce_id__in=ids,
                state=LedgerEntry.State.SYNCED,
            )
            .exclude(xero_invoice_id=None)
            .values_list("salesforce_id", "xero_invoice_id")
        )
        if not rows:
            return set()
        present = {
            str(i)
            for i in Invoice.objects.filter(invoice_id__in=list(rows.values())).values_list(
                "invoice_id", flat=True
            )
        }
        return {sf_id for sf_id, invoice in rows.items() if str(invoice) in present}

    return done


def _close_won(org_name: str, sf_id: str) -> None:
    from sandbox.salesforce import services
    from sandbox.salesforce.models import Opportunity, SalesforceOrg

    org = SalesforceOrg.objects.get(name=org_name)
    opportunity = Opportunity.objects.get(org=org, sf_id=sf_id)
    services.opportunity_save(org=org, opportunity=opportunity, stage_name="Closed Won")


def _run_calls(integration_id: int, since: dt.datetime, trigger: str) -> tuple[int, int]:
    """(Xero calls, runs) of the integration's ``trigger`` runs started since ``since``."""
    from django.db.models import Count, Sum

    from integrations.sync.models import SyncRun

    runs = SyncRun.objects.filter(
        integration_id=integration_id, started_at__gte=since, trigger=trigger
    )
    figures = runs.aggregate(calls=Sum("xero_calls"), runs=Count("pk"))
    return int(figures["calls"] or 0), int(figures["runs"] or 0)


def _phase(
    *,
    integration_id: int,
    org_name: str,
    batches: Sequence[Sequence[str]],
    pause: float,
    log: Callable[[str], None],
    name: str,
) -> dict[str, Any]:
    """Closes each batch's opportunities at once, ``pause`` seconds between batches."""
    from django.utils import timezone

    started = timezone.now()
    watcher = Watcher(_invoiced(integration_id)).start()
    clock = time.monotonic()
    try:
        for number, batch in enumerate(batches):
            # Due times on a fixed grid: a slow save does not slow the rate down.
            delay = clock + number * pause - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for sf_id in batch:
                _close_won(org_name, sf_id)
                watcher.sent(sf_id, time.time())
        missing = watcher.wait_all()
    finally:
        watcher.stop()
    count = sum(len(b) for b in batches)
    calls, runs = _run_calls(integration_id, started, "push")
    # The write-back of the new invoices (their webhooks) reads them: counted apart.
    writeback_calls, _ = _run_calls(integration_id, started, "writeback")
    latencies = list(watcher.latency.values())
    figures = {
        "opportunities": count,
        "invoiced": len(latencies),
        "missing": len(missing),
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "xero_calls": calls,
        "runs": runs,
        "xero_calls_per_opportunity": round(calls / count, 3) if count else None,
        "writeback_xero_calls": writeback_calls,
    }
    log(f"push {name}: {figures}")
    return {"figures": figures, "latencies": latencies}


def _xero_token(org_name: str) -> tuple[str, str]:
    from sandbox.xero import services as xero_services

    token = xero_services.issue_token(org_name=org_name)
    return str(token["access_token"]), str(token["tenant_id"])


def _writeback(
    *,
    integration_id: int,
    base: str,
    xero_org: str,
    salesforce_org: str,
    sf_ids: Sequence[str],
    rate: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Pays each opportunity's invoice in full through the sandbox Xero's API, ``rate`` a second."""
    from integrations.sync.models import LedgerEntry
    from sandbox.salesforce.models import Opportunity
    from sandbox.xero import xjson
    from sandbox.xero.models import Account as XeroAccount
    from sandbox.xero.models import Invoice

    invoice_of = dict(
        LedgerEntry.objects.filter(integration_id=integration_id, salesforce_id__in=sf_ids)
        .exclude(xero_invoice_id=None)
        .values_list("salesforce_id", "xero_invoice_id")
    )
    totals = {
        str(i.invoice_id): i.amount_due
        for i in Invoice.objects.filter(invoice_id__in=list(invoice_of.values()))
    }
    expected: dict[str, Decimal] = {}

    def done(ids: set[str]) -> set[str]:
        finished = set()
        for sf_id, paid in Opportunity.objects.filter(
            org__name=salesforce_org, sf_id__in=ids
        ).values_list("sf_id", "xero_amount_paid"):
            if paid is not None and paid == expected[sf_id]:
                finished.add(sf_id)
        return finished

    bank = (
        XeroAccount.objects.filter(organisation__name=xero_org, type="BANK", status="ACTIVE")
        .exclude(code="")
        .values_list("code", flat=True)
        .order_by("code")
        .first()
    )
    token, tenant = _xero_token(xero_org)
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Xero-tenant-id": tenant,
            "Accept": "application/json",
        }
    )
    url = f"{base}/sandbox/xero/api.xro/2.0/Payments"
    today = dt.date.today().isoformat()
    watcher = Watcher(done).start()
    clock = time.monotonic()
    try:
        for number, sf_id in enumerate(sf_ids):
            invoice = invoice_of.get(sf_id)
            if invoice is None:
                continue
            amount = Decimal(totals[str(invoice)])
            expected[sf_id] = amount
            delay = clock + number / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            answer = session.put(
                url,
                # As Xero wants it: the amount a JSON number (xjson writes Decimals so).
                data=xjson.dumps(
                    {
                        "Payments": [
                            {
                                "Invoice": {"InvoiceID": str(invoice)},
                                "Account": {"Code": bank},
                                "Date": today,
                                "Amount": amount,
                                "Reference": "Bench payment",
                            }
                        ]
                    }
                ),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            if answer.status_code != 200:
                raise SystemExit(f"the sandbox Xero refused a payment: {answer.text[:1000]}")
            watcher.sent(sf_id, time.time())
        missing = watcher.wait_all()
    finally:
        watcher.stop()
    latencies = list(watcher.latency.values())
    figures = {
        "payments": len(expected),
        "written_back": len(latencies),
        "missing": len(missing),
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
    }
    log(f"write-back: {figures}")
    return figures


def measure(
    *,
    env: dict[str, str],
    base: str,
    integration_id: int,
    salesforce_org: str,
    xero_org: str,
    open_opportunities: Sequence[str],
    steady: int,
    burst: int,
    payments: int,
    log: Callable[[str], None],
    var: Path,
) -> dict[str, Any]:
    """The push figures of the benchmark's JSON (``push_*``, ``writeback_*``)."""
    from bench.seed import push_connect

    push_connect(integration_id=integration_id, base_url=base, writeback_field=WRITEBACK_FIELD)
    from django.db import connections

    connections.close_all()
    ids = list(open_opportunities)
    steady_ids, burst_ids = ids[:steady], ids[steady : steady + 4 * burst]
    with celery_worker(env, var / "push-worker.log"):
        log(f"push: {len(steady_ids)} opportunities closed one a second...")
        one = _phase(
            integration_id=integration_id,
            org_name=salesforce_org,
            batches=[[i] for i in steady_ids],
            pause=1.0,
            log=log,
            name="steady",
        )
        log(f"push: {len(burst_ids)} opportunities in bursts of {burst}...")
        bursts = _phase(
            integration_id=integration_id,
            org_name=salesforce_org,
            batches=[burst_ids[i : i + burst] for i in range(0, len(burst_ids), burst)],
            pause=10.0,
            log=log,
            name="bursts",
        )
        log(f"write-back: {payments} payments recorded in Xero, two a second...")
        back = _writeback(
            integration_id=integration_id,
            base=base,
            xero_org=xero_org,
            salesforce_org=salesforce_org,
            sf_ids=steady_ids[:payments],
            rate=2.0,
            log=log,
        )
    latencies = one["latencies"] + bursts["latencies"]
    pushed = one["figures"]["opportunities"] + bursts["figures"]["opportunities"]
    calls = one["figures"]["xero_calls"] + bursts["figures"]["xero_calls"]
    return {
        "push_latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "push_latency_p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "push_xero_calls_per_opportunity": round(calls / pushed, 3) if pushed else None,
        "push_steady": one["figures"],
        "push_bursts": bursts["figures"],
        "push_missing": one["figures"]["missing"] + bursts["figures"]["missing"],
        "writeback_latency_p50_s": back["latency_p50_s"],
        "writeback_latency_p95_s": back["latency_p95_s"],
        "writeback": back,
    }

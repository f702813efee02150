"""`make run` left running: syncing goes on past every token's expiry, with no manual step.

The stack is started as `make run` starts it — `migrate_all`, the demo seed, then the
development web server (serving the product and the simulators), a Celery worker and beat, each
its own process — on the embedded SQLite default and on PostgreSQL with Redis. Access tokens
are made to expire every few seconds (Xero's sandbox lifetime shortened, Salesforce's sessions
ended by hand), so a short test sees what an hour of `make run` used to end in: every refresh
answered ``database is locked`` and syncing stopping for good.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.stack import Stack

_CLOSE_A_DEAL = """
import json
from sandbox.salesforce import services
from sandbox.salesforce.models import Opportunity, SalesforceOrg
org = SalesforceOrg.objects.get(name="Demo Widgets Ltd")
opportunity = (
    Opportunity.objects.filter(org=org, is_closed=False, currency_iso_code="USD")
    .exclude(opportunitylineitem=None)
    .order_by("sf_id")
    .first()
)
services.opportunity_save(
    org=org, opportunity=opportunity, stage_name="Closed Won", payment_method="Bank Transfer"
)
print(json.dumps(opportunity.sf_id))
"""

_END_SALESFORCE_SESSIONS = """
from django.utils import timezone
from sandbox.salesforce.models import AccessToken
print(AccessToken.objects.update(expires_at=timezone.now()))
"""

_INVOICED = """
import json
from integrations.sync.models import LedgerEntry
from sandbox.xero.models import Invoice
row = LedgerEntry.objects.filter(salesforce_id=%r, state="synced").first()
print(json.dumps(bool(row and Invoice.objects.filter(invoice_id=row.xero_invoice_id).exists())))
"""

# The sandbox Salesforce pushed the change to the demo integration's push URL, and was answered
# Ack (seed_demo --connect-sandbox set its Outbound Message endpoint).
_PUSHED = """
import json
from integrations.sync.models import PushEndpoint
from sandbox.salesforce.models import OutboundDelivery
statuses = set(OutboundDelivery.objects.filter(record_id=%r).values_list("status", flat=True))
heard = PushEndpoint.objects.filter(last_message_at__isnull=False).exists()
print(json.dumps(statuses == {"delivered"} and heard))
"""

_PAY_AN_INVOICE = """
import json
from integrations.sync.models import LedgerEntry
from sandbox.xero import services, webhooks
from sandbox.xero.models import Invoice
# Delivered before this shell exits (a person's page request would use its own thread).
webhooks.SYNCHRONOUS = True
row = LedgerEntry.objects.filter(salesforce_id=%r, state="synced").first()
invoice = Invoice.objects.get(invoice_id=row.xero_invoice_id)
services.payment_record(invoice_pk=invoice.pk)
print(json.dumps(str(invoice.total)))
"""

_WRITTEN_BACK = """
import json
from sandbox.salesforce.models import Opportunity
opportunity = Opportunity.objects.get(sf_id=%r)
print(json.dumps([opportunity.xero_status, str(opportunity.xero_amount_paid)]))
"""

_SYNCED = """
import json
from integrations.sync.models import LedgerEntry
print(json.dumps(LedgerEntry.objects.filter(state="synced").count()))
"""

_HEALTH = """
import json
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import SyncRun
from sandbox.xero.models import RefreshToken
integration = Integration.objects.get()
print(json.dumps({
    "failing_since": str(integration.failing_since or ""),
    "last_success_at": str(integration.last_success_at or ""),
    "connections": [
        [c.provider, c.status, str(c.failing_since or ""), c.last_error]
        for c in Connection.objects.all()
    ],
    "runs": list(SyncRun.objects.values_list("status", flat=True)),
    "stuck": SyncRun.objects.filter(status="running", finished_at__isnull=True).count(),
    "xero_rotations": RefreshToken.objects.filter(rotated_at__isnull=False).count(),
}))
"""


def _walk(stack: Stack) -> None:
    stack.manage("migrate_all")
    stack.manage("sandbox_reset", "--seed", "demo", "--if-empty")
    stack.manage("seed_demo", "--connect-sandbox")
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    # The first poll syncs the demo's won deals.
    stack.wait_for(lambda: stack.query(_SYNCED) >= 50, timeout=120, what="the first sync", every=2)
    for _round in range(2):
        # Past expiry: Xero's 6-second tokens have rotated meanwhile; Salesforce's sessions end.
        stack.query(_END_SALESFORCE_SESSIONS)
        won: str = stack.query(_CLOSE_A_DEAL)

        def invoiced(won: str = won) -> bool:
            return bool(stack.query(_INVOICED % won))

        stack.wait_for(invoiced, timeout=90, what=f"the invoice of {won}", every=2)

        def pushed(won: str = won) -> bool:
            return bool(stack.query(_PUSHED % won))

        stack.wait_for(
            pushed,
            timeout=30,
            what=f"the Outbound Message of {won} acknowledged",
            every=2,
        )
    # A payment recorded in the sandbox Xero: its webhook reaches the web process, the worker
    # writes it back onto the opportunity in the sandbox Salesforce.
    total: str = stack.query(_PAY_AN_INVOICE % won)

    def written_back(won: str = won) -> bool:
        return bool(stack.query(_WRITTEN_BACK % won) == ["PAID", total])

    stack.wait_for(written_back, timeout=30, what=f"the write-back of {won}'s payment", every=1)
    health: dict[str, Any] = stack.query(_HEALTH)
    assert health["failing_since"] == "", health
    assert health["last_success_at"], health
    assert health["stuck"] <= 1, health  # at most the run going on now
    assert "failed" not in health["runs"], health
    for provider, status, failing_since, error in health["connections"]:
        assert (status, failing_since, error) == ("active", "", ""), (provider, health)
    assert health["xero_rotations"] >= 2, health
    logs = "\n".join(stack.log(name) for name in ("web", "worker", "beat"))
    assert "database is locked" not in logs
    assert "Traceback" not in stack.log("worker"), stack.log("worker")[-5000:]
    assert "Traceback" not in stack.log("web"), stack.log("web")[-5000:]


_FAST_EXPIRY = {
    "SANDBOX_XERO_TOKEN_SECONDS": "6",
    "TOKEN_REFRESH_MARGIN": "1",
    "SYNC_POLL_INTERVAL": "2",
    "HEARTBEAT_INTERVAL": "10",
}


def test_make_run_on_sqlite_keeps_syncing_past_token_expiry(tmp_path: Path):
    stack = Stack(tmp_path, env_overrides=_FAST_EXPIRY)
    try:
        _walk(stack)
        # The simulators have a database file of their own, as under `make run`.
        assert (tmp_path / "db.sqlite3").exists()
        assert (tmp_path / "sandbox.sqlite3").exists()
        # The broker's control folder lives under VAR_DIR, not in the checkout.
        assert (tmp_path / "celery" / "control").is_dir()
    finally:
        stack.stop()


def _psql(source: dict[str, Any], sql: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            str(source["HOST"]),
            "-p",
            str(source["PORT"] or 5432),
            "-U",
            str(source["USER"]),
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ],
        check=True,
        env={**os.environ, "PGPASSWORD": str(source.get("PASSWORD") or "")},
        timeout=60,
    )


@pytest.mark.postgres
@pytest.mark.redis
def test_make_run_on_postgresql_and_redis_keeps_syncing_past_token_expiry(tmp_path: Path):
    import redis

    source = settings.DATABASES["default"]
    name = f"c1_stack_{uuid.uuid4().hex[:8]}"
    _psql(source, f'CREATE DATABASE "{name}"')
    # A database of its own, beside this session's (its number + 10): a fixed one would be
    # shared by two sessions running this test at once, whose workers then take each other's
    # tasks (and refuse the ones their code does not know). The session's URL, not this xdist
    # worker's: whichever worker runs this, it takes the same one, clear of the workers' own.
    base, _, number = settings.TEST_SESSION_REDIS_URL.rpartition("/")
    if not number.isdigit():  # no database in the URL: database 0
        base, number = settings.TEST_SESSION_REDIS_URL.rstrip("/"), "0"
    redis_url = f"{base}/{(int(number) + 10) % 16}"
    redis.Redis.from_url(redis_url).flushdb()
    user = source["USER"]
    auth = f"{user}:{source['PASSWORD']}@" if source.get("PASSWORD") else f"{user}@"
    stack = Stack(
        tmp_path,
        env_overrides={
            **_FAST_EXPIRY,
            "DATABASE_URL": f"postgres://{auth}{source['HOST']}:{source['PORT'] or 5432}/{name}",
            "REDIS_URL": redis_url,
        },
    )
    try:
        _walk(stack)
    finally:
        stack.stop()
        _psql(source, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""A sync run's log lines carry its account, integration and run ids."""

from __future__ import annotations

import pytest

from carrytheone import logcontext
from integrations.core.models import Integration
from integrations.sync import run as run_module
from integrations.sync.models import SyncRun

pytestmark = pytest.mark.django_db


def test_the_run_binds_its_ids_for_everything_below_it(account, monkeypatch):
    integration = Integration.objects.create(account=account, name="Main")
    seen: list[dict[str, int | str]] = []

    def steps(integration, run, **_):
        seen.append(logcontext.current())
        run.status = SyncRun.Status.SUCCEEDED
        return run_module._Outcome()

    # The claim and its heartbeat are another test's subject: here only what the run binds.
    monkeypatch.setattr(run_module, "integration_claim", lambda **_: 1)
    monkeypatch.setattr(run_module, "integration_release", lambda **_: None)
    monkeypatch.setattr(run_module, "_run", steps)

    with logcontext.bind(task_id="t-1"):
        run = run_module.sync_integration(integration_id=integration.pk)
        assert logcontext.current() == {"task_id": "t-1"}

    assert run is not None
    assert seen == [
        {
            "task_id": "t-1",
            "account_id": account.pk,
            "integration_id": integration.pk,
            "run_id": run.pk,
        }
    ]

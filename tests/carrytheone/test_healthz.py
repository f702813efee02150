from __future__ import annotations

import pytest

from carrytheone.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_ok_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_503_when_the_broker_is_down(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == {
        "ok": False,
        "latency_ms": body["checks"]["broker"]["latency_ms"],
        "error": "broker unavailable",
    }
    assert body["checks"]["database"]["ok"] is True


def test_healthz_503_when_the_database_is_down(client, monkeypatch):
    from django.db import OperationalError, connection

    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "latency_ms": response.json()["checks"]["database"]["latency_ms"],
        "error": "database unavailable",
    }


def test_healthz_reports_the_worker_heartbeat(client):
    from carrytheone.tasks import heartbeat

    assert client.get("/healthz").json()["worker_last_heartbeat"] is None
    stamp = heartbeat.apply().get()
    assert client.get("/healthz").json()["worker_last_heartbeat"] == stamp


def test_healthz_is_get_only(client):
    assert client.post("/healthz").status_code == 405

"""Rate limits, injected faults and signed webhooks of the simulated Xero."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from xero_python.exceptions import RateLimitException

from sandbox.xero import clock, webhooks
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import XeroApp, XeroOrganisation

pytestmark = pytest.mark.django_db(transaction=True)


def test_61st_call_in_a_minute_gets_429_with_headers(raw, main_org):
    clock.advance(dt.timedelta(seconds=60 - clock.now().second % 60 + 1))  # a fresh minute
    last = None
    for _ in range(60):
        last = raw.call("GET", "Currencies")
        assert last.status_code == 200
    assert last is not None
    assert last.headers["X-MinLimit-Remaining"] == "0"
    assert last.headers["X-DayLimit-Remaining"] == "4940"
    assert int(last.headers["X-AppMinLimit-Remaining"]) == 10_000 - 60
    over = raw.call("GET", "Currencies")
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    clock.advance(dt.timedelta(minutes=1))
    assert raw.call("GET", "Currencies").status_code == 200


def test_day_limit_and_lifting_limits(raw, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(day_limit=3)
    for _ in range(3):
        assert raw.call("GET", "Currencies").status_code == 200
    over = raw.call("GET", "Currencies")
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Problem"] == "day"
    XeroOrganisation.objects.filter(pk=main_org.pk).update(limits_enabled=False)
    assert raw.call("GET", "Currencies").status_code == 200


def test_app_minute_limit(raw, main_org):
    XeroApp.objects.update(app_minute_limit=2)
    assert raw.call("GET", "Currencies").status_code == 200
    assert raw.call("GET", "Currencies").status_code == 200
    assert raw.call("GET", "Currencies").headers["X-Rate-Limit-Problem"] == "appminute"


@pytest.mark.postgres
def test_concurrent_limit(raw, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(
        concurrent_limit=2, faults={"latency_ms": 600}
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: raw.call("GET", "Currencies", check=False), range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 2
    assert statuses.count(429) == 2
    assert {a.headers.get("X-Rate-Limit-Problem") for a in answers if a.status_code == 429} == {
        "concurrent"
    }


def test_sdk_sees_rate_limit_exception(api, tenant, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(faults={"force_429": 2})
    for _ in range(2):
        with pytest.raises(RateLimitException) as exc:
            api.get_currencies(tenant)
        assert exc.value.headers["Retry-After"]
    assert api.get_currencies(tenant).currencies
    main_org.refresh_from_db()
    assert main_org.faults == {}


def test_every_third_call_503_and_latency(raw, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(
        faults={"error_every": 3, "latency_ms": 50}
    )
    started = dt.datetime.now()
    statuses = [raw.call("GET", "Currencies", check=False).status_code for _ in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]
    assert dt.datetime.now() - started >= dt.timedelta(milliseconds=300)


def test_timeout_fault_answers_504(raw, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(
        faults={"timeout_every": 1, "timeout_seconds": 0.1}
    )
    assert raw.call("GET", "Currencies", check=False).status_code == 504


def test_a_lost_answer_is_saved_then_answered_504(raw, main_org):
    """The request is processed and kept (a replay of its Idempotency-Key returns it); only
    the answer is lost, as when a proxy times out after Xero did the work."""
    XeroOrganisation.objects.filter(pk=main_org.pk).update(faults={"lose_answer_every": 1})
    body = {"Contacts": [{"Name": "Lost Answer Ltd", "ContactNumber": "LOST-1"}]}
    answer = raw.call(
        "PUT", "Contacts", body=body, headers={"Idempotency-Key": "lost-1"}, check=False
    )
    assert answer.status_code == 504
    assert XeroContact.objects.filter(organisation=main_org, contact_number="LOST-1").count() == 1
    XeroOrganisation.objects.filter(pk=main_org.pk).update(faults={})
    replay = raw.call("PUT", "Contacts", body=body, headers={"Idempotency-Key": "lost-1"})
    assert replay.status_code == 200
    assert XeroContact.objects.filter(organisation=main_org, contact_number="LOST-1").count() == 1


def test_expire_tokens_fault(raw, main_org):
    XeroOrganisation.objects.filter(pk=main_org.pk).update(faults={"expire_tokens": True})
    answer = raw.call("GET", "Currencies")
    assert answer.status_code == 401
    assert answer.json()["Detail"].startswith("TokenExpired")


class _Receiver(BaseHTTPRequestHandler):
    key = "receiver-key"
    received: ClassVar[list[tuple[dict[str, Any], bool]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = base64.b64encode(hmac.new(self.key.encode(), body, hashlib.sha256).digest())
        good = hmac.compare_digest(expected.decode(), self.headers.get("x-xero-signature", ""))
        self.received.append((json.loads(body), good))
        self.send_response(200 if good else 401)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(main_org):
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    main_org.webhook_url = f"http://127.0.0.1:{server.server_port}/xero"
    main_org.webhook_key = _Receiver.key
    main_org.save()
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def test_webhook_events_are_signed_in_xero_shape(raw, main_org, receiver):
    answer = raw.call(
        "PUT",
        "Invoices",
        body={
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"Name": "Brand New Customer"},
                    "LineItems": [
                        {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}
                    ],
                }
            ]
        },
    )
    assert answer.status_code == 200
    payload, good = receiver[-1]
    assert good
    categories = sorted((e["eventCategory"], e["eventType"]) for e in payload["events"])
    assert categories == [("CONTACT", "CREATE"), ("INVOICE", "CREATE")]
    assert payload["firstEventSequence"] == 1
    assert payload["lastEventSequence"] == 2
    assert len(payload["entropy"]) == 20
    event = payload["events"][-1]
    assert event["tenantId"] == str(main_org.organisation_id)
    assert event["resourceUrl"].endswith(f"/Invoices/{answer.json()['Invoices'][0]['InvoiceID']}")


def test_no_webhook_for_a_rejected_batch(raw, receiver):
    answer = raw.call(
        "PUT", "Invoices", body={"Invoices": [{"Type": "ACCREC", "CurrencyCode": "JPY"}]}
    )
    assert answer.status_code == 400
    assert receiver == []


def test_intent_to_receive(main_org, receiver):
    main_org.refresh_from_db()
    result = webhooks.send_intent_to_receive(main_org)
    assert result.ok
    assert (result.good_signature_status, result.bad_signature_status) == (200, 401)
    assert [good for _, good in receiver] == [True, False]
    assert receiver[0][0]["events"] == []

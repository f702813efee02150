"""The sync log page: search over HTTP, pages, groups of causes, retry all, CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest
from django.urls import reverse

from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, RecordAction, SyncLogEntry, SyncRun
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

Outcome = SyncLogEntry.Outcome
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def integration(account) -> Integration:
    return Integration.objects.create(account=account, name="Main")


def _url(name: str, integration: Integration, **kwargs) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={
            "account_slug": integration.account.slug,
            "integration_id": integration.pk,
            **kwargs,
        },
    )


def _record(integration: Integration, n: int, **entry) -> tuple[LedgerEntry, SyncLogEntry]:
    ledger = LedgerEntry.objects.create(
        integration=integration,
        salesforce_id=f"006{n:015d}",
        opportunity_name=f"Deal {n}",
        customer_name=f"Customer {n}",
        state=LedgerEntry.State.FAILED,
    )
    values = {
        "integration": integration,
        "ledger": ledger,
        "salesforce_id": ledger.salesforce_id,
        "record_name": ledger.opportunity_name,
        "customer_name": ledger.customer_name,
        "outcome": Outcome.ATTENTION,
        "step": "invoice",
        "problem_field": "currencies",
        "message": f"'Deal {n}' is in GBP, which is not enabled in Demo Pty Ltd.",
        "created_at": T0 + dt.timedelta(minutes=n),
    }
    values.update(entry)
    return ledger, SyncLogEntry.objects.create(**values)


def test_the_log_finds_by_name_and_shows_names_with_ids(integration, support_client):
    _record(integration, 1, outcome=Outcome.CREATED, document_number="INV-0001", message="ok")
    _record(integration, 2, outcome=Outcome.CREATED, message="ok")
    html = support_client.get(_url("log", integration), {"q": "deal 1", "show": "all"})
    page = html.content.decode()
    entries = page.split('id="log-records"')[1]
    assert "Deal 1" in entries
    assert "Customer 1" in entries
    assert "INV-0001" in entries
    assert "006000000000000001" in entries  # the id beside the name
    assert "Deal 2" not in entries


def test_the_log_filters_by_outcome_step_and_dates(integration, support_client):
    _record(integration, 1, outcome=Outcome.CREATED, step="payment", message="paid")
    _record(integration, 2, outcome=Outcome.FAILED, message="refused")
    _record(integration, 3, outcome=Outcome.UPDATED, created_at=T0 + dt.timedelta(days=40))

    def shown(**params: str) -> set[str]:
        page = support_client.get(_url("log", integration), {"show": "all", **params})
        entries = page.content.decode().split('id="log-records"')[1]
        return set(re.findall(r">(Deal \d)</a>", entries))

    assert shown(outcome="failed") == {"Deal 2"}
    assert shown(step="payment") == {"Deal 1"}
    assert shown(since="2026-04-01") == {"Deal 3"}
    assert shown(until="2026-03-10") == {"Deal 1", "Deal 2"}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"since": "31/02/2026"}, "Enter the first day as a date"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "The first day is after the last day"),
        ({"cursor": "forged"}, "This page link is not valid"),
        ({"cause": "x"}, "This group link is not valid"),
    ],
)
def test_a_bad_search_says_why(integration, support_client, params, error):
    response = support_client.get(_url("log", integration), params)
    assert response.status_code == 200
    assert error in response.content.decode()


def test_next_and_previous_links_page_by_keyset(integration, support_client):
    SyncLogEntry.objects.bulk_create(
        SyncLogEntry(
            integration=integration,
            record_name=f"Bulk {n:03d}",
            outcome=Outcome.CREATED,
            message="ok",
            created_at=T0 + dt.timedelta(seconds=n),
        )
        for n in range(120)
    )
    seen: list[str] = []
    query = "show=all"
    for _ in range(3):
        page = support_client.get(_url("log", integration) + "?" + query).content.decode()
        seen += re.findall(r"Bulk \d{3}", page)
        link = re.search(r'href="\?([^"]*)" rel="next"', page)
        if not link:
            break
        query = unescape(link.group(1))
    assert seen == [f"Bulk {n:03d}" for n in range(119, -1, -1)]
    assert "OFFSET" not in str(SyncLogEntry.objects.all()[:1].query)  # keyset, no page number
    back = re.search(r'href="\?([^"]*)" rel="prev"', page)
    assert back
    previous = support_client.get(_url("log", integration) + "?" + unescape(back.group(1)))
    assert re.findall(r"Bulk \d{3}", previous.content.decode())[0] == "Bulk 069"


def test_identical_failures_are_one_group_with_fix_link_and_retry_all(integration, support_client):
    for n in range(5):
        _record(integration, n)
    _record(integration, 9, outcome=Outcome.FAILED, problem_field="", message="Xero said no.")
    page = support_client.get(_url("log", integration)).content.decode()
    groups, rest = page.split('id="log-records"')
    assert "<strong>5</strong>" in groups
    assert "&#x27;…&#x27; is in GBP, which is not enabled in Demo Pty Ltd." in groups
    assert ">Deal 4</a>, " in groups
    assert "and 2 more" in groups
    assert "Retry all 5" in groups
    currencies = reverse(
        "integrations:setup_currencies",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )
    assert f'<a href="{currencies}">Fix it on “Currencies”</a>' in groups
    # The grouped records are not listed again; the single failure is.
    assert "Deal 3" not in rest
    assert "Xero said no." in rest
    more = re.search(r'href="\?([^"]*)">and 2 more', groups)
    assert more
    members = support_client.get(_url("log", integration) + "?" + unescape(more.group(1)))
    listed = members.content.decode().split('id="log-records"')[1]
    assert set(re.findall(r">(Deal \d)</a>", listed)) == {f"Deal {n}" for n in range(5)}


def test_retry_all_of_a_group_over_http(
    integration, support_client, django_capture_on_commit_callbacks
):
    for n in range(3):
        _record(integration, n)
    page = support_client.get(_url("log", integration)).content.decode()
    found = re.search(r'name="filter" value="([^"]*cause[^"]*)"', page)
    assert found
    form_filter = unescape(found.group(1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = support_client.post(
            _url("log_retry_search", integration), {"filter": form_filter}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert RecordAction.objects.filter(action=RecordAction.Action.RETRY).count() == 3
    assert LedgerEntry.objects.filter(state=LedgerEntry.State.PENDING).count() == 3
    followed = support_client.get(response["Location"]).content.decode()
    assert "3 records queued to be sent again" in followed


def test_retry_all_of_a_run_over_http(integration, support_client):
    run = SyncRun.objects.create(integration=integration, failed_count=1)
    _record(integration, 1, run=run, outcome=Outcome.FAILED)
    page = support_client.get(_url("log", integration)).content.decode()
    assert _url("log_retry_run", integration, run_id=run.pk) in page
    support_client.post(_url("log_retry_run", integration, run_id=run.pk))
    assert RecordAction.objects.get().note == f"retry all of run #{run.pk}"


def test_actions_are_post_only(integration, support_client):
    run = SyncRun.objects.create(integration=integration)
    assert support_client.get(_url("log_retry_search", integration)).status_code == 405
    assert support_client.get(_url("log_retry_run", integration, run_id=run.pk)).status_code == 405


def test_another_account_gets_404_everywhere(integration, outsider_client):
    run = SyncRun.objects.create(integration=integration)
    _record(integration, 1, run=run)
    for name in ("log", "log_export"):
        assert outsider_client.get(_url(name, integration)).status_code == 404
    assert (
        outsider_client.post(_url("log_retry_search", integration), {"filter": ""}).status_code
        == 404
    )
    assert (
        outsider_client.post(_url("log_retry_run", integration, run_id=run.pk)).status_code == 404
    )
    assert not RecordAction.objects.exists()


def test_a_run_of_another_integration_is_not_found(integration, support_client, account):
    theirs = Integration.objects.create(account=AccountFactory.create(), name="Theirs")
    run = SyncRun.objects.create(integration=theirs)
    assert support_client.post(_url("log_retry_run", integration, run_id=run.pk)).status_code == 404


def test_csv_export_streams_the_search_escaped(integration, support_client):
    _record(integration, 1, outcome=Outcome.CREATED, message="=1+1", document_number="INV-1")
    _record(integration, 2, outcome=Outcome.CREATED, message="ok")
    response = support_client.get(_url("log_export", integration), {"show": "all", "q": "INV-1"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    assert rows[1][4] == "Deal 1"
    assert rows[1][8] == "'=1+1"


def test_a_bad_export_returns_to_the_log(integration, support_client):
    response = support_client.get(_url("log_export", integration), {"since": "nope"})
    assert response.status_code == 302


def test_the_page_costs_a_bounded_number_of_queries(
    integration, support_client, django_assert_max_num_queries
):
    for n in range(30):
        _record(integration, n, message=f"cause {n % 4}")
    for n in range(30, 90):
        _record(integration, n, outcome=Outcome.CREATED, message="ok")
    SyncRun.objects.bulk_create(SyncRun(integration=integration) for _ in range(12))
    for params in ({}, {"show": "all"}, {"q": "Deal", "show": "all"}):
        with django_assert_max_num_queries(14):
            assert support_client.get(_url("log", integration), params).status_code == 200

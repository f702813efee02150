"""A record's page and finding it from the sync log: "why isn't this deal in Xero?"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    RecordAction,
    SyncLogEntry,
    SyncRun,
    WritebackState,
    XeroOperation,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

SF_ID_15 = "0065g00000AbCdE"
SF_ID = "0065g00000AbCdEAAV"  # the same id with its case suffix
INVOICE_ID = "3f1c1a2e-0000-4000-8000-000000000001"


def _integration(account) -> Integration:
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id="00D000000000001",
        display_name="Acme org",
        credentials={"instance_url": "https://acme.my.salesforce.com", "refresh_token": "r"},
    )
    return Integration.objects.create(
        account=account, name="Main", salesforce_connection=salesforce
    )


def _ledger(integration: Integration, **kwargs) -> LedgerEntry:
    values = {
        "salesforce_id": SF_ID,
        "opportunity_name": "Globex renewal 2026",
        "customer_name": "Globex Corporation",
        "state": LedgerEntry.State.FAILED,
        "last_error": "The currency code JPY is not enabled for this organisation.",
        "xero_invoice_id": INVOICE_ID,
        "xero_invoice_number": "INV-0042",
        "xero_contact_id": "c0ffee00-0000-4000-8000-000000000002",
    }
    values.update(kwargs)
    return LedgerEntry.objects.create(integration=integration, **values)


def _record_url(account, integration, ledger) -> str:
    return reverse(
        "integrations:record",
        kwargs={
            "account_slug": account.slug,
            "integration_id": integration.pk,
            "ledger_id": ledger.pk,
        },
    )


def _log_url(account, integration) -> str:
    return reverse(
        "integrations:log", kwargs={"account_slug": account.slug, "integration_id": integration.pk}
    )


def _action_url(name: str, account, integration, entry) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={
            "account_slug": account.slug,
            "integration_id": integration.pk,
            "entry_id": entry.pk,
        },
    )


def _story(integration: Integration, ledger: LedgerEntry) -> SyncLogEntry:
    """Two runs about the row (created, then a failed update) and the documents they led to."""
    poll = SyncRun.objects.create(integration=integration, trigger=SyncRun.Trigger.POLL)
    push = SyncRun.objects.create(integration=integration, trigger=SyncRun.Trigger.PUSH)
    now = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    SyncLogEntry.objects.create(
        run=poll,
        integration=integration,
        ledger=ledger,
        salesforce_id=ledger.salesforce_id,
        record_name=ledger.opportunity_name,  # as the run writes it
        step="invoice",
        outcome=SyncLogEntry.Outcome.CREATED,
        message="Invoice INV-0042 created.",
        created_at=now,
    )
    failure = SyncLogEntry.objects.create(
        run=push,
        integration=integration,
        ledger=ledger,
        salesforce_id=ledger.salesforce_id,
        record_name=ledger.opportunity_name,
        step="invoice",
        outcome=SyncLogEntry.Outcome.FAILED,
        message="The currency code JPY is not enabled for this organisation.",
        created_at=now + dt.timedelta(hours=1),
    )
    XeroOperation.objects.create(
        integration=integration,
        kind=XeroOperation.Kind.INVOICE_UPDATE,
        state=XeroOperation.State.FAILED,
        subject=str(ledger.pk),
        ledger=ledger,
        last_error="Currency JPY is not enabled",
    )
    payment = PaymentEntry.objects.create(
        integration=integration,
        ledger=ledger,
        method="Card",
        account_code="090",
        currency="GBP",
        amount=Decimal("1234.50"),
        pay_on=dt.date(2026, 11, 5),
        state=PaymentEntry.State.PAID,
    )
    assert payment.pk
    CreditNoteEntry.objects.create(
        integration=integration,
        ledger=ledger,
        reason=CreditNoteEntry.Reason.AMOUNT_DROP,
        action="credit_note",
        content_hash="h1",
        amount=Decimal("100.00"),
        state=CreditNoteEntry.State.DONE,
        xero_credit_note_number="CN-0007",
    )
    WritebackState.objects.create(
        ledger=ledger,
        integration=integration,
        values={"Xero_Invoice_Number__c": "INV-0042"},
        written_at=now,
        last_error="FIELD_CUSTOM_VALIDATION_EXCEPTION on Amount_Paid__c",
    )
    return failure


def test_the_record_page_tells_the_whole_story(
    account, support_client, settings, django_assert_max_num_queries
):
    settings.XERO_INVOICE_URL = (
        "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={invoice_id}"
    )
    integration = _integration(account)
    ledger = _ledger(integration)
    _story(integration, ledger)
    with django_assert_max_num_queries(20):
        response = support_client.get(_record_url(account, integration, ledger))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Globex renewal 2026" in html
    assert SF_ID in html
    assert f'href="https://acme.my.salesforce.com/{SF_ID}"' in html
    assert "Globex Corporation" in html
    assert "Failed" in html
    assert "The currency code JPY is not enabled" in html
    assert "INV-0042" in html
    assert f"InvoiceID={INVOICE_ID}" in html
    # The timeline, oldest first, with each entry's run and trigger.
    created = html.index("Invoice INV-0042 created.")
    failed = html.index("Change notification")
    assert created < failed
    assert "Scheduled poll" in html
    # Its documents: the write to Xero, the payment, the credit note, the write-back.
    assert "Update an invoice" in html
    assert "Currency JPY is not enabled" in html
    assert "GBP 1234.50" in html
    assert "Recorded in Xero" in html
    assert "CN-0007" in html
    assert "Amount fell after payment" in html
    assert "Xero_Invoice_Number__c" in html
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in html
    # The open failure can be acted on from here.
    assert "Retry" in html
    assert "Dismiss" in html


def test_a_record_without_documents_or_instance_says_so(account, support_client):
    integration = Integration.objects.create(account=account, name="Bare")
    ledger = _ledger(
        integration, state=LedgerEntry.State.PENDING, last_error="", xero_invoice_id=""
    )
    html = support_client.get(_record_url(account, integration, ledger)).content.decode()
    assert "Waiting to be sent" in html
    assert "Open in Salesforce" not in html
    assert "Open in Xero" not in html
    assert "No log entry about this opportunity yet." in html
    assert "Retry" not in html


@pytest.mark.parametrize(
    "query",
    [
        "globex RENEWAL",  # part of the opportunity's name, any case
        "corporation",  # part of the customer's name
        SF_ID,  # the Salesforce id, 18 characters
        SF_ID_15,  # ... or 15
        "inv-0042",  # the Xero invoice number, any case
    ],
)
def test_search_finds_the_record_by_each_key(account, support_client, query):
    integration = _integration(account)
    ledger = _ledger(integration)
    _ledger(
        integration,
        salesforce_id="006000000000002AAA",
        opportunity_name="Initech pilot",
        customer_name="Initech",
        xero_invoice_number="INV-0043",
        xero_invoice_id="",
    )
    html = support_client.get(_log_url(account, integration), {"q": query}).content.decode()
    assert f'href="{_record_url(account, integration, ledger)}"' in html
    assert "Initech pilot" not in html


def test_search_by_an_id_matches_it_exactly(account, support_client):
    integration = _integration(account)
    _ledger(integration)
    # The same 15 characters in another case are another record in Salesforce.
    html = support_client.get(
        _log_url(account, integration), {"q": SF_ID_15.lower()}
    ).content.decode()
    assert "No record matches" in html


def test_search_never_shows_another_accounts_records(account, support_client):
    integration = _integration(account)
    other = AccountFactory.create()
    theirs = _integration(other)
    _ledger(theirs, opportunity_name="Globex secret deal")
    html = support_client.get(_log_url(account, integration), {"q": "Globex"}).content.decode()
    assert "Globex secret deal" not in html
    assert "No record matches" in html


def test_search_results_are_bounded(account, support_client):
    integration = _integration(account)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            integration=integration,
            salesforce_id=f"006{n:012d}AAA",
            opportunity_name=f"Bulk deal {n}",
        )
        for n in range(60)
    )
    html = support_client.get(_log_url(account, integration), {"q": "bulk"}).content.decode()
    assert html.count("Bulk deal ") == 50
    assert "The first 50 matches are shown" in html


def test_a_record_of_another_integration_is_not_found(account, support_client, outsider_client):
    integration = _integration(account)
    other_integration = Integration.objects.create(account=account, name="Second")
    ledger = _ledger(other_integration)
    # An existing id under an integration it does not belong to.
    assert support_client.get(_record_url(account, integration, ledger)).status_code == 404
    # Another account's member, through their own account or ours.
    assert outsider_client.get(_record_url(account, other_integration, ledger)).status_code == 404
    own = reverse(
        "integrations:record",
        kwargs={
            "account_slug": outsider_client.own_account.slug,
            "integration_id": other_integration.pk,
            "ledger_id": ledger.pk,
        },
    )
    assert outsider_client.get(own).status_code == 404


def test_log_entries_link_to_their_record(account, support_client):
    integration = _integration(account)
    ledger = _ledger(integration)
    _story(integration, ledger)
    html = support_client.get(_log_url(account, integration)).content.decode()
    assert f'href="{_record_url(account, integration, ledger)}">Globex renewal 2026</a>' in html


def test_support_retries_and_dismisses_from_the_record_page(
    account, support_client, django_capture_on_commit_callbacks
):
    """Retry and dismiss are open to the support role (nothing there is owner-only); each
    returns to the record, and its audit row is shown on it."""
    integration = _integration(account)
    ledger = _ledger(integration)
    failure = _story(integration, ledger)
    url = _record_url(account, integration, ledger)
    retry = _action_url("log_retry", account, integration, failure)
    with django_capture_on_commit_callbacks(execute=False):
        response = support_client.post(retry, {"back": "record"})
    assert response.status_code == 302
    assert response["Location"] == url
    ledger.refresh_from_db()
    assert ledger.state == LedgerEntry.State.PENDING
    assert RecordAction.objects.filter(ledger=ledger, action=RecordAction.Action.RETRY).exists()
    html = support_client.get(url).content.decode()
    assert "Sent again by" in html

    # A second failure, dismissed with a note.
    again = SyncLogEntry.objects.create(
        integration=integration,
        ledger=ledger,
        outcome=SyncLogEntry.Outcome.ATTENTION,
        message="Needs a tax rate.",
    )
    dismiss = _action_url("log_dismiss", account, integration, again)
    response = support_client.post(dismiss, {"back": "record", "note": "Invoiced by hand"})
    assert response["Location"] == url
    html = support_client.get(url).content.decode()
    assert "Invoiced by hand" in html
    assert "Dismissed by" in html


def test_actions_without_back_still_return_to_the_log(account, support_client):
    integration = _integration(account)
    ledger = _ledger(integration)
    failure = _story(integration, ledger)
    dismiss = _action_url("log_dismiss", account, integration, failure)
    assert support_client.post(dismiss)["Location"] == _log_url(account, integration)

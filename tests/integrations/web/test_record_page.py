"""A record's page and finding it from the sync log: "why isn't this deal in Xero?"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from integrations.connections.models import Connection
from integrations.connections.xero.api import XeroApi
from integrations.connections.xero.records import Invoice
from integrations.core.models import Integration
from integrations.sync.models import (
    ContactLink,
    CreditNoteEntry,
    ItemLink,
    LedgerEntry,
    OperationAttempt,
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


# --- every attempt, redacted; the contact; deep links by short code -------------------------

SHORT_CODE = "!a1b2C"


def _xero(account, integration: Integration) -> Connection:
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id="tenant-1",
        display_name="Demo Ltd",
        short_code=SHORT_CODE,
        credentials={},
    )
    integration.xero_connection = xero
    integration.save(update_fields=["xero_connection"])
    return xero


def _attempted(integration: Integration, ledger: LedgerEntry) -> None:
    """A contact created for it (with personal data) and its invoice refused, then created."""
    contact = XeroOperation.objects.create(
        integration=integration,
        kind=XeroOperation.Kind.CONTACT,
        state=XeroOperation.State.DONE,
        subject="0015g00000XyZabAAB",
        content_hash="c",
        attempts=1,
        body={
            "Name": "Globex Corporation",
            "ContactNumber": "0015g00000XyZabAAB",
            "EmailAddress": "ap@globex.example",
            "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "+44 20 7946 0958"}],
        },
    )
    ContactLink.objects.create(
        integration=integration,
        contact_number="0015g00000XyZabAAB",
        xero_contact_id=ledger.xero_contact_id,
        name="Globex Corporation",
        verified_at=dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC),
    )
    body = {
        "Type": "ACCREC",
        "InvoiceNumber": "INV-0042",
        "Contact": {"ContactID": ledger.xero_contact_id},
        "LineItems": [
            {
                "Description": "Support plan — call Ada on 020 7946 0958",
                "Quantity": "1",
                "UnitAmount": "1234.50",
                "AccountCode": "200",
                "ItemCode": "SUPPORT-1",
            }
        ],
    }
    invoice = XeroOperation.objects.create(
        integration=integration,
        kind=XeroOperation.Kind.INVOICE,
        state=XeroOperation.State.DONE,
        subject=str(ledger.pk),
        ledger=ledger,
        content_hash="i2",
        attempts=2,
        body=body,
        lookup={"contact_id": ledger.xero_contact_id},
        result_number="INV-0042",
    )
    ItemLink.objects.create(
        integration=integration,
        code="SUPPORT-1",
        verified_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    )
    at = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    OperationAttempt.objects.bulk_create(
        [
            OperationAttempt(
                operation=contact,
                number=1,
                started_at=at,
                finished_at=at,
                outcome="done",
                http_status=200,
                content_hash="c",
                answer={"contact_id": ledger.xero_contact_id, "name": "Globex Corporation"},
            ),
            OperationAttempt(
                operation=invoice,
                number=1,
                started_at=at + dt.timedelta(minutes=1),
                finished_at=at + dt.timedelta(minutes=1),
                outcome="refused",
                http_status=200,
                content_hash="i1",
                answer={
                    "errors": ["Account code '201' is not a valid code for ada@globex.example"]
                },
            ),
            OperationAttempt(
                operation=invoice,
                number=2,
                started_at=at + dt.timedelta(minutes=2),
                finished_at=at + dt.timedelta(minutes=2),
                outcome="done",
                http_status=200,
                content_hash="i2",
                answer={"invoice_id": INVOICE_ID, "number": "INV-0042", "status": "AUTHORISED"},
            ),
        ]
    )


def test_every_attempt_is_shown_with_xeros_answer_and_what_was_sent_redacted(
    account, support_client, settings, django_assert_max_num_queries
):
    settings.XERO_INVOICE_URL = (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}"
        "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={invoice_id}"
    )
    settings.XERO_CONTACT_URL = "https://go.xero.com/app/{short_code}/contacts/contact/{contact_id}"
    integration = _integration(account)
    _xero(account, integration)
    ledger = _ledger(integration)
    _story(integration, ledger)
    _attempted(integration, ledger)
    with django_assert_max_num_queries(22):
        response = support_client.get(_record_url(account, integration, ledger))
    html = response.content.decode()
    # In order: the contact's creation, the refused invoice, the created one.
    created_contact = html.index("Create a contact")
    refused = html.index("Refused by Xero")
    done = html.index("<code>status</code> AUTHORISED")
    assert created_contact < refused < done
    assert "Account code &#x27;201&#x27; is not a valid code for [email]" in html
    assert "attempt 2" in html
    # What was sent, on a <details>: business data kept, personal data masked.
    assert "<summary>What was sent</summary>" in html
    assert "Globex Corporation" in html
    assert "1234.50" in html
    assert "SUPPORT-1" in html
    assert "Support plan — call Ada on [phone]" in html
    for personal in ("ap@globex.example", "7946 0958", "ada@globex.example"):
        assert personal not in html
    # The refused attempt sent an earlier version of the document, not kept.
    assert "An earlier version of the document (not kept)" in html
    # The contact, with its number and Xero link; the lines and their items.
    assert "0015g00000XyZabAAB" in html
    assert (
        f'href="https://go.xero.com/app/{SHORT_CODE}/contacts/contact/{ledger.xero_contact_id}"'
        in html
    )
    assert "Items known to exist in Xero: <code>SUPPORT-1</code>" in html
    # The invoice in Xero's web app, in its organisation.
    link = (
        f"https://go.xero.com/organisationlogin/default.aspx?shortcode={SHORT_CODE}"
        f"&amp;redirecturl=/AccountsReceivable/View.aspx?InvoiceID={INVOICE_ID}"
    )
    assert f'href="{link}"' in html
    # The ledger's state explained.
    assert "Xero refused its invoice, or it could not be built." in html


def test_the_page_stays_bounded_however_many_attempts(
    account, support_client, django_assert_max_num_queries
):
    integration = _integration(account)
    ledger = _ledger(integration)
    _attempted(integration, ledger)
    op = XeroOperation.objects.get(ledger=ledger)
    OperationAttempt.objects.bulk_create(
        OperationAttempt(
            operation=op, number=n, outcome="refused_before_send", content_hash="i2", answer={}
        )
        for n in range(3, 60)
    )
    with django_assert_max_num_queries(22):
        html = support_client.get(_record_url(account, integration, ledger)).content.decode()
    assert html.count("Held back before reaching Xero") == 57
    # Each document is shown once (the contact's, the invoice's on its last attempt); the
    # invoice's other attempts of the same content point there.
    assert html.count("<summary>What was sent</summary>") == 2
    assert html.count("The same document as attempt 59.") == 57


def test_without_a_short_code_the_invoice_opens_in_xero_without_one(
    account, support_client, settings
):
    settings.XERO_INVOICE_URL = (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode={short_code}"
        "&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={invoice_id}"
    )
    integration = _integration(account)
    _xero(account, integration).__class__.objects.update(short_code="")
    ledger = _ledger(integration)
    html = support_client.get(_record_url(account, integration, ledger)).content.decode()
    assert f'href="https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={INVOICE_ID}"' in html


# --- re-sync from scratch ------------------------------------------------------------------


def _resync_url(account, integration, ledger) -> str:
    return reverse(
        "integrations:record_resync",
        kwargs={
            "account_slug": account.slug,
            "integration_id": integration.pk,
            "ledger_id": ledger.pk,
        },
    )


@pytest.fixture
def xero_holds(monkeypatch):
    """What the invoice looks like in Xero now, as the confirmation page reads it."""
    held: dict[str, Invoice | None] = {}

    def current_invoice(self, invoice_id: str, *, max_wait: float | None = None):
        return held.get(invoice_id)

    monkeypatch.setattr(XeroApi, "current_invoice", current_invoice)
    return held


def _xero_invoice(status: str, paid: str = "0") -> Invoice:
    return Invoice.parse(
        {
            "InvoiceID": INVOICE_ID,
            "InvoiceNumber": "INV-0042",
            "Type": "ACCREC",
            "Status": status,
            "CurrencyCode": "GBP",
            "Total": Decimal("1234.50"),
            "AmountPaid": Decimal(paid),
        }
    )


def test_an_admin_confirms_a_resync_and_it_is_audited_on_the_record(
    account, admin_client_, xero_holds, django_capture_on_commit_callbacks
):
    integration = _integration(account)
    _xero(account, integration)
    ledger = _ledger(integration)
    xero_holds[INVOICE_ID] = _xero_invoice("AUTHORISED")
    record = admin_client_.get(_record_url(account, integration, ledger))
    assert "Re-sync from scratch…" in record.content.decode()
    page = admin_client_.get(_resync_url(account, integration, ledger))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Invoice INV-0042 is AUTHORISED in Xero (total GBP 1,234.50, paid GBP 0.00)" in html
    assert "updated in place" in html
    assert '<button type="submit">Re-sync from scratch</button>' in html
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client_.post(_resync_url(account, integration, ledger))
    assert response["Location"] == _record_url(account, integration, ledger)
    assert len(callbacks) == 1  # one sync queued
    ledger.refresh_from_db()
    assert (ledger.state, ledger.content_hash, ledger.generation) == ("pending", "", 1)
    action = RecordAction.objects.get(ledger=ledger)
    assert action.action == RecordAction.Action.RESYNC
    assert "updated in place" in action.note
    html = admin_client_.get(_record_url(account, integration, ledger)).content.decode()
    assert "Re-synced from scratch by" in html
    assert "updated in place" in html


def test_a_paid_invoice_is_not_offered_a_resync_and_a_post_changes_nothing(
    account, admin_client_, xero_holds
):
    integration = _integration(account)
    _xero(account, integration)
    ledger = _ledger(integration, state=LedgerEntry.State.SYNCED, content_hash="h")
    xero_holds[INVOICE_ID] = _xero_invoice("PAID", paid="1234.50")
    html = admin_client_.get(_resync_url(account, integration, ledger)).content.decode()
    assert "Invoice INV-0042 is PAID in Xero (total GBP 1,234.50, paid GBP 1,234.50)" in html
    assert "it is not offered" in html
    assert '<button type="submit">' not in html
    response = admin_client_.post(_resync_url(account, integration, ledger), follow=True)
    assert "it is not offered" in response.content.decode()
    ledger.refresh_from_db()
    assert (ledger.state, ledger.content_hash, ledger.generation) == ("synced", "h", 0)
    assert not RecordAction.objects.exists()


def test_support_cannot_resync(account, support_client, xero_holds):
    integration = _integration(account)
    _xero(account, integration)
    ledger = _ledger(integration, state=LedgerEntry.State.SYNCED, content_hash="h")
    xero_holds[INVOICE_ID] = _xero_invoice("AUTHORISED")
    assert (
        "Re-sync from scratch"
        not in support_client.get(_record_url(account, integration, ledger)).content.decode()
    )
    assert support_client.get(_resync_url(account, integration, ledger)).status_code == 403
    assert support_client.post(_resync_url(account, integration, ledger)).status_code == 403
    ledger.refresh_from_db()
    assert (ledger.state, ledger.content_hash) == ("synced", "h")
    assert not RecordAction.objects.exists()


def test_another_account_cannot_resync(account, outsider_client, xero_holds):
    integration = _integration(account)
    ledger = _ledger(integration, state=LedgerEntry.State.SYNCED, content_hash="h")
    assert outsider_client.get(_resync_url(account, integration, ledger)).status_code == 404
    assert outsider_client.post(_resync_url(account, integration, ledger)).status_code == 404
    own = _resync_url(outsider_client.own_account, integration, ledger)
    assert outsider_client.post(own).status_code == 404
    ledger.refresh_from_db()
    assert ledger.state == "synced"

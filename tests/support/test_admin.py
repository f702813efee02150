"""Our team answers support requests in the operator admin."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from support.models import SupportRecordSnapshot, SupportRequest
from support.services import support_request_open
from tests.admin_login import admin_client
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.support.records import ACCESS_TOKEN, failing_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened(account):
    customer = UserFactory.create()
    MembershipFactory.create(user=customer, account=account, role=Role.SUPPORT)
    failing = failing_integration(account)
    support_request = support_request_open(
        account=account,
        integration=failing.integration,
        user=customer,
        subject="Missing invoices",
        message="Where are they?",
        entries=failing.entries,
    )
    return support_request, customer


@pytest.fixture
def staff_client():
    return admin_client(UserFactory.create(is_staff=True, is_superuser=True), PASSWORD)


def _change_url(support_request: SupportRequest) -> str:
    return reverse("admin:support_supportrequest_change", args=[support_request.pk])


def test_staff_read_the_request_and_its_records(opened, staff_client):
    support_request, customer = opened
    page = staff_client.get(_change_url(support_request))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("Where are they?", "Globex renewal 0", "GBP is not enabled", customer.email):
        assert expected in text
    assert ACCESS_TOKEN not in text
    assert reverse("admin:accounts_account_view_as", args=[support_request.account_id]) in text


def test_a_staff_reply_answers_and_emails_the_customer(
    opened, staff_client, django_capture_on_commit_callbacks
):
    support_request, customer = opened
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            _change_url(support_request),
            {
                "status": SupportRequest.Status.OPEN,
                "reply": "Enable GBP in Xero, then retry.",
                **_inline_management(support_request),
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.ANSWERED
    reply = support_request.messages.last()
    assert reply is not None
    assert reply.from_staff
    assert reply.body == "Enable GBP in Xero, then retry."
    [email] = mail.outbox
    assert email.to == [customer.email]
    assert "Enable GBP in Xero, then retry." in email.body
    assert support_request.get_absolute_url() in email.body

    # The customer sees the answer and the status.
    client = Client()
    client.force_login(customer)
    page = client.get(support_request.get_absolute_url()).content.decode()
    assert "Enable GBP in Xero, then retry." in page
    assert "Answered" in page


def test_staff_may_ask_the_customer_and_set_that_status_with_the_reply(opened, staff_client):
    support_request, _ = opened
    staff_client.post(
        _change_url(support_request),
        {
            "status": SupportRequest.Status.WAITING,
            "reply": "Which invoice number?",
            **_inline_management(support_request),
        },
    )
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.WAITING


def test_the_list_filters_by_status(opened, staff_client, account):
    support_request, _ = opened
    closed = SupportRequest.objects.create(
        account=account, subject="Old question", status=SupportRequest.Status.CLOSED
    )
    changelist = reverse("admin:support_supportrequest_changelist")
    text = staff_client.get(changelist, {"status__exact": "open"}).content.decode()
    assert _change_url(support_request) in text
    assert _change_url(closed) not in text


def test_the_copied_records_cannot_be_edited_in_the_admin(opened, staff_client):
    support_request, _ = opened
    before = list(SupportRecordSnapshot.objects.values_list("last_error", flat=True))
    staff_client.post(
        _change_url(support_request),
        {
            "status": SupportRequest.Status.OPEN,
            "records-0-last_error": "rewritten",
            **_inline_management(support_request),
        },
    )
    assert list(SupportRecordSnapshot.objects.values_list("last_error", flat=True)) == before


def _inline_management(support_request: SupportRequest) -> dict[str, object]:
    messages = support_request.messages.count()
    records = support_request.records.count()
    return {
        "messages-TOTAL_FORMS": messages,
        "messages-INITIAL_FORMS": messages,
        "messages-MIN_NUM_FORMS": 0,
        "messages-MAX_NUM_FORMS": 1000,
        **{f"messages-{n}-id": m.pk for n, m in enumerate(support_request.messages.all())},
        "records-TOTAL_FORMS": records,
        "records-INITIAL_FORMS": records,
        "records-MIN_NUM_FORMS": 0,
        "records-MAX_NUM_FORMS": 1000,
        **{f"records-{n}-id": r.pk for n, r in enumerate(support_request.records.all())},
    }

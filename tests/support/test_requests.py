"""Contact support from an integration's page: what reaches our team, what the customer sees."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AccountAuditEntry, Role, SupportAccessGrant, User
from integrations.sync.models import PushEndpoint, SyncLogEntry
from integrations.sync.push import push_endpoint_for, push_endpoint_url
from support.models import SupportMessage, SupportRecordSnapshot, SupportRequest
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.support.records import ACCESS_TOKEN, REFRESH_TOKEN, failing_integration

pytestmark = pytest.mark.django_db


def _member(account, role: Role) -> tuple[Client, User]:
    user = UserFactory.create()
    MembershipFactory.create(user=user, account=account, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def _new_url(account, integration) -> str:
    return reverse(
        "support:new", kwargs={"account_slug": account.slug, "integration_id": integration.pk}
    )


def _form(**extra) -> dict[str, object]:
    return {"subject": "Deals not in Xero", "message": "Two won deals are missing.", **extra}


def test_the_integration_page_offers_contact_support(account):
    client, _ = _member(account, Role.SUPPORT)
    failing = failing_integration(account)
    page = client.get(
        reverse(
            "integrations:detail",
            kwargs={"account_slug": account.slug, "integration_id": failing.integration.pk},
        )
    )
    assert _new_url(account, failing.integration) in page.content.decode()


def test_a_support_member_asks_and_our_team_gets_the_records_and_their_errors(
    account, settings, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    settings.SUPPORT_EMAIL = "team@carrytheone.example"
    client, user = _member(account, Role.SUPPORT)
    failing = failing_integration(account, failures=3)
    endpoint = push_endpoint_for(integration=failing.integration)
    push_url = push_endpoint_url(endpoint)
    chosen = failing.entries[:2]

    with django_assert_max_num_queries(12):
        form_page = client.get(_new_url(account, failing.integration))
    assert form_page.status_code == 200
    assert "Globex renewal 2" in form_page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _new_url(account, failing.integration),
            _form(records=[e.pk for e in chosen]),
        )
    support_request = SupportRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == support_request.get_absolute_url()
    assert support_request.opened_by == user
    assert support_request.integration == failing.integration
    assert support_request.status == SupportRequest.Status.OPEN
    assert support_request.grant is None
    assert SupportMessage.objects.get(request=support_request).body == "Two won deals are missing."

    snapshots = list(SupportRecordSnapshot.objects.filter(request=support_request))
    assert {s.opportunity_name for s in snapshots} == {"Globex renewal 0", "Globex renewal 1"}
    assert all("GBP is not enabled in Demo Pty Ltd" in s.last_error for s in snapshots)
    assert all(s.state == "Failed" for s in snapshots)

    [email] = mail.outbox
    assert email.to == ["team@carrytheone.example"]
    assert account.name in email.subject
    body = email.body
    for text in (
        account.name,
        "Main",
        user.email,
        "Globex renewal 0",
        "Globex renewal 1",
        chosen[0].salesforce_id,
        "GBP is not enabled in Demo Pty Ltd",
        "Xero answered 401",
        "Two won deals are missing.",
        reverse("admin:support_supportrequest_change", args=[support_request.pk]),
    ):
        assert text in body, text
    assert "Globex renewal 2" not in body
    # Never a secret: not the connections' tokens, not the push URL's.
    token = push_url.rstrip("/").rsplit("/", 1)[-1]
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, "xero-refresh-secret-value-1", token):
        assert secret not in body
        for snapshot in snapshots:
            assert secret not in snapshot.last_error
            assert secret not in snapshot.opportunity_name
    assert PushEndpoint.objects.count() == 1


def test_all_records_sends_every_open_failure_once(account):
    client, _ = _member(account, Role.ADMIN)
    failing = failing_integration(account, failures=3)
    # A record that failed twice is one record.
    SyncLogEntry.objects.create(
        run=failing.entries[0].run,
        integration=failing.integration,
        ledger=failing.ledgers[0],
        outcome=SyncLogEntry.Outcome.FAILED,
        message="failed again",
    )
    client.post(_new_url(account, failing.integration), _form(all_records="on"))
    snapshots = SupportRecordSnapshot.objects.filter(request__account=account)
    assert snapshots.count() == 3
    assert sorted(s.opportunity_name for s in snapshots) == [
        "Globex renewal 0",
        "Globex renewal 1",
        "Globex renewal 2",
    ]


def test_records_of_another_integration_cannot_be_named(account):
    client, _ = _member(account, Role.ADMIN)
    mine = failing_integration(account)
    other_account = AccountFactory.create()
    theirs = failing_integration(other_account)
    response = client.post(
        _new_url(account, mine.integration), _form(records=[theirs.entries[0].pk])
    )
    assert response.status_code == 200  # the form says the choice is not one of them
    assert SupportRequest.objects.count() == 0
    assert mail.outbox == []


def test_an_admin_grants_read_only_access_with_the_request(
    account, django_capture_on_commit_callbacks
):
    client, user = _member(account, Role.ADMIN)
    failing = failing_integration(account)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_new_url(account, failing.integration), _form(grant_hours="72"))
    support_request = SupportRequest.objects.get()
    grant = support_request.grant
    assert grant is not None
    assert grant.is_active
    assert grant.granted_by == user
    assert 71.9 < (grant.expires_at - grant.created_at).total_seconds() / 3600 <= 72
    entry = AccountAuditEntry.objects.get(account=account)
    assert entry.kind == AccountAuditEntry.Kind.GRANT_CREATED
    assert entry.grant == grant
    assert "granted until" in mail.outbox[0].body


def test_a_support_member_cannot_let_staff_in(account):
    """Asking is for everyone; letting someone outside the team in is for owners and admins."""
    client, _ = _member(account, Role.SUPPORT)
    failing = failing_integration(account)
    page = client.get(_new_url(account, failing.integration)).content.decode()
    assert "grant_hours" not in page
    client.post(_new_url(account, failing.integration), _form(grant_hours="168"))
    assert SupportRequest.objects.get().grant is None
    assert SupportAccessGrant.objects.count() == 0


def test_the_customer_follows_replies_and_closes(
    account, settings, django_capture_on_commit_callbacks
):
    settings.SUPPORT_EMAIL = "team@carrytheone.example"
    client, _ = _member(account, Role.SUPPORT)
    failing = failing_integration(account)
    client.post(_new_url(account, failing.integration), _form())
    support_request = SupportRequest.objects.get()
    url = support_request.get_absolute_url()
    mail.outbox.clear()

    page = client.get(url).content.decode()
    assert "Waiting for CarryTheOne" in page
    assert "Two won deals are missing." in page

    listing = client.get(reverse("support:list", kwargs={"account_slug": account.slug}))
    assert url in listing.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"body": "Also the credit note."}).status_code == 302
    assert support_request.messages.count() == 2
    [email] = mail.outbox
    assert email.to == ["team@carrytheone.example"]
    assert "Also the credit note." in email.body

    close = reverse(
        "support:close", kwargs={"account_slug": account.slug, "request_id": support_request.pk}
    )
    assert client.post(close).status_code == 302
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.CLOSED
    assert "Closed" in client.get(url).content.decode()
    # A closed conversation takes no more replies.
    client.post(url, {"body": "One more thing"})
    assert support_request.messages.count() == 2


def test_another_account_sees_none_of_it(account, outsider_client):
    failing = failing_integration(account)
    client, _ = _member(account, Role.OWNER)
    client.post(_new_url(account, failing.integration), _form())
    support_request = SupportRequest.objects.get()
    detail = support_request.get_absolute_url()
    close = reverse(
        "support:close", kwargs={"account_slug": account.slug, "request_id": support_request.pk}
    )
    for url in (_new_url(account, failing.integration), detail, close):
        assert outsider_client.get(url).status_code in {404, 405}
        assert outsider_client.post(url, _form(body="hi")).status_code == 404
    own = outsider_client.own_account
    assert (
        outsider_client.get(
            reverse(
                "support:detail",
                kwargs={"account_slug": own.slug, "request_id": support_request.pk},
            )
        ).status_code
        == 404
    )
    assert support_request.messages.count() == 1
    listing = outsider_client.get(reverse("support:list", kwargs={"account_slug": own.slug}))
    assert "Deals not in Xero" not in listing.content.decode()


def test_the_pages_query_a_bounded_number_of_times(account, django_assert_max_num_queries):
    client, user = _member(account, Role.ADMIN)
    failing = failing_integration(account, failures=6)
    for n in range(6):
        support_request = services_open(account, failing, user, n)
        for reply in range(3):
            SupportMessage.objects.create(
                request=support_request, author=user, body=f"reply {reply}"
            )
    with django_assert_max_num_queries(12):
        listing = client.get(reverse("support:list", kwargs={"account_slug": account.slug}))
    assert listing.content.decode().count("Question 5") == 1
    with django_assert_max_num_queries(14):
        detail = client.get(support_request.get_absolute_url())
    text = detail.content.decode()
    assert text.count("reply 2") == 1
    assert text.count("Globex renewal 5") == 1
    with django_assert_max_num_queries(12):
        assert client.get(_new_url(account, failing.integration)).status_code == 200


def services_open(account, failing, user, n: int) -> SupportRequest:
    from support.services import support_request_open

    return support_request_open(
        account=account,
        integration=failing.integration,
        user=user,
        subject=f"Question {n}",
        message="Help",
        entries=failing.entries,
    )


def test_a_subject_with_a_line_break_is_still_emailed(account, django_capture_on_commit_callbacks):
    client, _ = _member(account, Role.SUPPORT)
    failing = failing_integration(account)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_new_url(account, failing.integration), _form(subject="Deals\r\nBcc: x@y.z"))
    [email] = mail.outbox
    assert "\n" not in email.subject
    assert email.bcc == []

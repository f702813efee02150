"""The trial's emails: 7 and 1 days before it ends and on the day, each once, to the owners."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.services import account_create
from billing.models import Subscription, TrialNotice
from billing.tasks import send_trial_reminders
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(settings):
    settings.SITE_URL = "https://app.example.com"
    owner = UserFactory.create(email="owner@example.com")
    account = account_create(owner=owner, name="Acme")
    MembershipFactory.create(account=account, role=Role.ADMIN, user__email="admin@example.com")
    return Subscription.objects.get(account=account)


def _ends_in(subscription: Subscription, delta: dt.timedelta) -> None:
    subscription.trial_ends_at = timezone.now() + delta
    subscription.save(update_fields=["trial_ends_at"])


def test_nothing_is_sent_early_in_the_trial(subscription):
    assert send_trial_reminders() == 0
    assert mail.outbox == []


def test_reminders_and_the_end_each_once_to_the_owners_with_the_billing_link(subscription):
    link = "https://app.example.com" + reverse(
        "billing:page", kwargs={"account_slug": subscription.account.slug}
    )
    _ends_in(subscription, dt.timedelta(days=6, hours=23))
    assert send_trial_reminders() == 1
    assert send_trial_reminders() == 0  # the next hour
    [seven] = mail.outbox
    assert seven.to == ["owner@example.com"]
    assert seven.subject == "Your CarryTheOne trial for Acme ends in 7 days"
    assert link in seven.body

    _ends_in(subscription, dt.timedelta(hours=20))
    assert send_trial_reminders() == 1
    assert send_trial_reminders() == 0
    assert mail.outbox[-1].subject == "Your CarryTheOne trial for Acme ends in 1 day"
    assert link in mail.outbox[-1].body

    _ends_in(subscription, -dt.timedelta(minutes=5))
    assert send_trial_reminders() == 1
    assert send_trial_reminders() == 0
    ended = mail.outbox[-1]
    assert ended.subject == "Your CarryTheOne trial for Acme has ended"
    assert "paused until you subscribe" in ended.body
    assert link in ended.body
    assert len(mail.outbox) == 3
    assert set(TrialNotice.objects.values_list("kind", flat=True)) == {
        "days-7",
        "days-1",
        "ended",
    }


def test_only_the_nearest_reminder_is_sent_after_a_gap(subscription):
    """A beat down for a week, or a short trial, never says "7 days" with hours to go."""
    _ends_in(subscription, dt.timedelta(hours=10))
    assert send_trial_reminders() == 1
    assert [m.subject for m in mail.outbox] == ["Your CarryTheOne trial for Acme ends in 1 day"]


def test_reminder_days_follow_the_setting(subscription, settings):
    settings.TRIAL_REMINDER_DAYS = [3]
    _ends_in(subscription, dt.timedelta(days=6))
    assert send_trial_reminders() == 0
    _ends_in(subscription, dt.timedelta(days=2, hours=12))
    assert send_trial_reminders() == 1
    assert mail.outbox[-1].subject.endswith("ends in 3 days")


def test_a_subscribed_or_closed_account_gets_no_notice(subscription):
    _ends_in(subscription, dt.timedelta(days=1))
    subscription.status = Subscription.Status.ACTIVE
    subscription.save()
    assert send_trial_reminders() == 0
    subscription.status = Subscription.Status.TRIALING
    subscription.save()
    account = subscription.account
    account.closed_at = timezone.now()
    account.save()
    assert send_trial_reminders() == 0
    assert mail.outbox == []


def test_a_failed_email_is_tried_again_next_hour(subscription, monkeypatch):
    from billing import notices

    _ends_in(subscription, dt.timedelta(hours=10))

    def broken(*args, **kwargs):
        raise ConnectionError("SMTP down")

    monkeypatch.setattr(notices, "send_mail", broken)
    assert send_trial_reminders() == 0
    assert not TrialNotice.objects.exists()
    monkeypatch.undo()
    assert send_trial_reminders() == 1
    assert len(mail.outbox) == 1

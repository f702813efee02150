"""Rules that must hold under concurrent requests, on the real database."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import Membership, Role
from accounts.services import AccountsError, membership_change_role
from tests.factories import AccountFactory, MembershipFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    """Without the row lock both checks see "another owner exists" and both succeed."""
    account = AccountFactory.create()
    first = MembershipFactory.create(account=account, role=Role.OWNER)
    second = MembershipFactory.create(account=account, role=Role.OWNER)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target: Membership, by: Membership) -> None:
        try:
            barrier.wait(timeout=10)
            membership_change_role(membership=target, role=Role.SUPPORT, by=by.user)
            outcomes.append("ok")
        except AccountsError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, first)),
        threading.Thread(target=demote, args=(second, second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(account=account, role=Role.OWNER).count() == 1

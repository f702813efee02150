"""The account forms given generated POST bodies: the page again with its errors, a redirect
after a valid change, or the documented refusal (403, 404, 429), never a 5xx; and an invalid
post changes nothing (no account, invitation, role, name or closure)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Account, Invitation, Membership, Role, User
from tests.factories import MembershipFactory, UserFactory
from tests.hostile import FUZZ_PAGES, HUGE_INTS, WIRE_TEXT

pytestmark = pytest.mark.django_db

POSTED = st.one_of(
    WIRE_TEXT,
    HUGE_INTS.map(str),
    st.sampled_from(
        ["", "owner", "admin", "support", "x@", "a@b.c", "x" * 5000, "ünï@exämple.com"]
    ),
)


def _post(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(names), WIRE_TEXT),
        st.one_of(POSTED, st.lists(POSTED, min_size=2, max_size=2)),
        max_size=len(names) + 1,
    )


def _state(account: Account) -> tuple[Any, ...]:
    account.refresh_from_db()
    return (
        account.name,
        account.closed_at,
        Account.objects.count(),
        User.objects.count(),
        Invitation.objects.count(),
        tuple(Membership.objects.order_by("pk").values_list("pk", "role")),
    )


ACCOUNT_FORMS = [
    ("accounts:settings", ["name"]),
    ("accounts:member_invite", ["email", "role"]),
    ("accounts:close", ["confirm_name"]),
    ("accounts:member_role", ["role"]),
]


@pytest.mark.parametrize(("name", "fields"), ACCOUNT_FORMS)
def test_an_owner_form_answers_any_post(
    account: Account, owner_client: Client, name: str, fields: list[str]
) -> None:
    other = UserFactory.create()
    member = MembershipFactory.create(user=other, account=account, role=Role.ADMIN)
    args = [account.slug, member.pk] if name == "accounts:member_role" else [account.slug]
    url = reverse(name, args=args)

    @FUZZ_PAGES
    @given(data=_post(fields))
    def check(data: dict[str, Any]) -> None:
        before = _state(account)
        response = owner_client.post(url, data)
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:
            assert _state(account) == before
        else:
            # Valid (an invitation or a new role or name): the account stays open regardless.
            assert _state(account)[1] is None

    check()


def test_account_create_answers_any_post(owner_client: Client, account: Account) -> None:
    url = reverse("accounts:account_create")

    @FUZZ_PAGES
    @given(data=_post(["name"]))
    def check(data: dict[str, Any]) -> None:
        count = Account.objects.count()
        response = owner_client.post(url, data)
        assert response.status_code in (200, 302), response.status_code
        assert Account.objects.count() == count + (response.status_code == 302)

    check()


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/signup/", ["email", "password1", "password2", "full_name", "company_name"]),
        ("/login/", ["login", "password", "remember"]),
    ],
)
def test_anonymous_forms_answer_any_post(db: Any, path: str, fields: list[str]) -> None:
    client = Client()

    @FUZZ_PAGES
    @given(data=_post(fields))
    def check(data: dict[str, Any]) -> None:
        users = User.objects.count()
        response = client.post(path, data)
        assert response.status_code in (200, 302, 429), response.status_code
        if response.status_code != 302:
            assert User.objects.count() == users

    check()


def test_an_invitation_link_answers_any_token_and_post(db: Any) -> None:
    client = Client()

    @FUZZ_PAGES
    @given(
        token=st.text(alphabet="abcdefXYZ0123456789-_.%", min_size=1, max_size=60),
        data=_post(["full_name", "password1", "password2"]),
    )
    def check(token: str, data: dict[str, Any]) -> None:
        users = User.objects.count()
        response = client.post(reverse("accounts:invitation_accept", args=[token]), data)
        assert response.status_code in (200, 302, 404), response.status_code
        assert User.objects.count() == users

    check()

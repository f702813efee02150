"""What each role reaches inside its own account."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGES = {
    "accounts:dashboard": {"owner": 200, "admin": 200, "support": 200},
    "accounts:members": {"owner": 200, "admin": 200, "support": 403},
    "accounts:member_invite": {"owner": 200, "admin": 403, "support": 403},
    "accounts:settings": {"owner": 200, "admin": 403, "support": 403},
    "accounts:leave": {"owner": 200, "admin": 200, "support": 200},
}


@pytest.mark.parametrize("page", PAGES)
def test_role_matrix(page, account, owner_client, admin_client_, support_client):
    url = reverse(page, kwargs={"account_slug": account.slug})
    clients = {"owner": owner_client, "admin": admin_client_, "support": support_client}
    for role, expected in PAGES[page].items():
        assert clients[role].get(url).status_code == expected, (page, role)


def test_support_cannot_post_to_owner_actions(account, support_client):
    url = reverse("accounts:member_invite", kwargs={"account_slug": account.slug})
    response = support_client.post(url, {"email": "new@example.com", "role": "admin"})
    assert response.status_code == 403
    assert not account.invitations.exists()


def test_403_page_explains(account, support_client):
    response = support_client.get(
        reverse("accounts:settings", kwargs={"account_slug": account.slug})
    )
    assert b"Your role in this account does not include it" in response.content


def test_navigation_shows_only_what_the_role_may_open(account, support_client, owner_client):
    dashboard = reverse("accounts:dashboard", kwargs={"account_slug": account.slug})
    support_page = support_client.get(dashboard).content.decode()
    assert f"/a/{account.slug}/members/" not in support_page
    assert f"/a/{account.slug}/settings/" not in support_page
    owner_page = owner_client.get(dashboard).content.decode()
    assert f"/a/{account.slug}/members/" in owner_page
    assert f"/a/{account.slug}/settings/" in owner_page

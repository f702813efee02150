"""Only owners see and change billing: admins and support get 403 on every billing page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PAGES = ("", "checkout/", "portal/")


@pytest.mark.parametrize("page", PAGES)
def test_admins_and_support_get_403(account, admin_client_, support_client, page):
    url = f"/a/{account.slug}/billing/{page}"
    for client in (admin_client_, support_client):
        response = client.post(url) if page else client.get(url)
        assert response.status_code == 403


def test_the_webhook_answers_only_post(client):
    assert client.get("/billing/stripe/webhook/").status_code == 405

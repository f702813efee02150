"""A configuration that stopped matching Xero or Salesforce shows "Configuration required" where
people look: the dashboard, the integrations list and the integration's page. The badge says what
is held back (advisory problems hold nothing back, so they show none) and links to the review.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from integrations.core.behaviours import ConfigProblem
from integrations.core.models import Integration
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

BADGE = "Configuration required"


def _problem(behaviour: str, field: str = "sales_account_code") -> dict[str, str]:
    return ConfigProblem(field=field, message="Something changed.", behaviour=behaviour).to_json()


def _integration(account: Account, *, name: str = "Main", **fields: Any) -> Integration:
    return Integration.objects.create(account=account, name=name, **fields)


def _review_url(integration: Integration) -> str:
    return reverse(
        "integrations:setup_review",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def _pages(integration: Integration) -> dict[str, str]:
    slug = integration.account.slug
    return {
        "dashboard": reverse("accounts:dashboard", args=[slug]),
        "list": reverse("integrations:list", args=[slug]),
        "detail": reverse("integrations:detail", args=[slug, integration.pk]),
    }


def _get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- the summary -----------------------------------------------------------------------------


def test_summary_names_what_is_held_back_in_a_stable_order():
    """Held-back behaviours are listed once each, in the validation module's order."""
    integration = Integration(
        is_enabled=True,
        config_problems=[
            _problem("tax", "default_tax_type"),
            _problem("invoices"),
            _problem("tax", "export_tax_type"),
            _problem("credit_notes"),
        ],
    )
    assert integration.config_required_summary == (
        "Holding back invoices, credit notes and tax until the settings match Xero and "
        "Salesforce again."
    )


def test_summary_before_switching_on_says_what_to_fix():
    """Nothing runs before the integration is switched on, so nothing is "held back"."""
    integration = Integration(is_enabled=False, config_problems=[_problem("payments")])
    assert integration.config_required_summary == (
        "Settings for payments to fix before syncing can be switched on."
    )


def test_no_summary_for_advisory_none_or_unreadable_problems():
    assert Integration().config_required_summary == ""
    assert (
        Integration(config_problems=[_problem("matching", "stage")]).config_required_summary == ""
    )
    assert Integration(config_problems=[{"field": "x"}, "junk"]).config_required_summary == ""


# --- the pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["dashboard", "list", "detail"])
def test_badge_with_summary_and_review_link_for_stored_problems(owner_client, account, page):
    """A stored problem that holds something back shows the badge, the summary and a link to
    the setup review."""
    integration = _integration(
        account,
        is_enabled=True,
        config_problems=[_problem("tax", "default_tax_type"), _problem("matching", "stage")],
    )
    html = _get(owner_client, _pages(integration)[page])
    assert BADGE in html
    assert "Holding back tax until the settings match Xero and Salesforce again." in html
    assert f'href="{_review_url(integration)}"' in html


@pytest.mark.parametrize("page", ["dashboard", "list", "detail"])
@pytest.mark.parametrize(
    "problems", [[], [_problem("matching", "stage")]], ids=["none", "advisory"]
)
def test_no_badge_without_problems_or_with_advisory_ones_only(
    owner_client, account, page, problems
):
    integration = _integration(account, is_enabled=True, config_problems=problems)
    html = _get(owner_client, _pages(integration)[page])
    assert BADGE not in html
    assert _review_url(integration) not in html


@pytest.mark.parametrize("page", ["dashboard", "list", "detail"])
def test_support_sees_the_badge_too(support_client, account, page):
    """Support reads the settings (read-only): the badge and its link are shown to them."""
    integration = _integration(account, is_enabled=True, config_problems=[_problem("payments")])
    html = _get(support_client, _pages(integration)[page])
    assert BADGE in html
    assert f'href="{_review_url(integration)}"' in html
    # The link leads somewhere support may go.
    assert support_client.get(_review_url(integration)).status_code == 200


@pytest.mark.parametrize("page", ["dashboard", "list"])
def test_only_the_accounts_own_integrations_are_listed(owner_client, account, page):
    """Another account's integration, problems or not, never shows on this account's pages."""
    mine = _integration(account, name="Ours", is_enabled=True, config_problems=[])
    other = _integration(
        AccountFactory.create(),
        name="Theirs",
        is_enabled=True,
        config_problems=[_problem("invoices")],
    )
    html = _get(owner_client, _pages(mine)[page])
    assert "Ours" in html
    assert "Theirs" not in html
    assert BADGE not in html
    assert _review_url(other) not in html


def test_outsider_cannot_open_the_detail_page(outsider_client, account):
    integration = _integration(account, is_enabled=True, config_problems=[_problem("invoices")])
    response = outsider_client.get(_pages(integration)["detail"])
    assert response.status_code in {403, 404}
    assert BADGE not in response.content.decode()

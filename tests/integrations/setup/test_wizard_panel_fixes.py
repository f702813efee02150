"""What a person trying the wizard met: an organisation without tracking categories, typed
payment-method names, the mapping's add button, and labels on every mapping input."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Role, User
from integrations.connections.models import ProviderSettings
from integrations.core.models import Integration
from integrations.setup import steps
from tests.factories import AccountFactory, MembershipFactory
from tests.integrations.setup.wizard_data import DEAD, connected_integration, xero_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nowhere(settings: Any) -> None:
    settings.XERO_API_URL = f"{DEAD}/api.xro/2.0"
    settings.XERO_TOKEN_URL = f"{DEAD}/connect/token"
    settings.SALESFORCE_LOGIN_URL = DEAD


def _step(integration: Integration, key: str) -> str:
    return reverse(
        f"integrations:{steps.step(key).url_name}",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def test_no_tracking_categories_says_how_to_make_one_instead_of_an_empty_dropdown(
    account, owner_client
):
    integration = connected_integration(account)
    assert integration.xero_connection is not None
    bare = dataclasses.replace(xero_metadata(), tracking_categories={})
    ProviderSettings.objects.filter(connection=integration.xero_connection).update(
        data=bare.to_json()
    )
    html = owner_client.get(_step(integration, "tracking")).content.decode()
    assert "This organisation has no tracking categories; create one in Xero" in html
    assert "Settings → Tracking categories, then refresh." in html
    assert "Add a tracking rule" not in html
    assert 'name="tracking_rules-new-category_name"' not in html


def test_with_tracking_categories_a_rule_can_be_added(account, owner_client):
    integration = connected_integration(account)
    html = owner_client.get(_step(integration, "tracking")).content.decode()
    assert "no tracking categories" not in html
    assert "Add a tracking rule" in html
    assert "Add another Salesforce value" in html
    assert "Add another salesforce value" not in html


def test_payment_method_names_come_from_the_fields_picklist_else_say_how(account, owner_client):
    typed = connected_integration(account)
    owner = User.objects.get(memberships__account=account)
    html = owner_client.get(_step(typed, "payments")).content.decode()
    assert '<input type="text" name="payment_methods-new-name"' in html
    assert "its picklist values are then offered here" in html

    listed = connected_integration(
        AccountFactory.create(), config={"payment_method_field": "Payment_Method__c"}
    )
    MembershipFactory.create(account=listed.account, user=owner, role=Role.OWNER)
    html = owner_client.get(_step(listed, "payments")).content.decode()
    assert '<select name="payment_methods-new-name"' in html
    assert '<option value="Credit Card">Credit Card</option>' in html


def test_every_mapping_input_and_select_has_a_label(account, owner_client):
    integration = connected_integration(account)
    for key in ("payments", "tracking"):
        html = owner_client.get(_step(integration, key)).content.decode()
        table = html[html.index('class="mapping-table"') :]
        table = table[: table.index("</table>")]
        controls = re.findall(r"<(?:input|select)\b[^>]*>", table)
        visible = [c for c in controls if 'type="hidden"' not in c]
        assert visible
        assert all("aria-label=" in c or "id=" in c for c in visible), visible

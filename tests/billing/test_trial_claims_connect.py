"""The trial claim is made by the real Xero connect flow (the simulated Xero, over HTTP)."""

from __future__ import annotations

import pytest

from billing.models import TrialClaim
from billing.services import subscription_start_trial
from integrations.connections.models import Connection
from sandbox.xero import seed
from tests.integrations.connections.xero.conftest import Tenant, consent


@pytest.mark.django_db(transaction=True)
def test_connecting_xero_in_trial_claims_the_organisation_once(xero):
    first, second = Tenant(), Tenant()
    for tenant in (first, second):
        subscription_start_trial(account=tenant.account)
        assert tenant.callback(consent(tenant.start(), [seed.MAIN_ORG])).status_code == 302
    tenant_id = Connection.objects.filter(account=first.account).get().external_id
    assert Connection.objects.filter(account=second.account).get().external_id == tenant_id
    claim = TrialClaim.objects.get(provider="xero")
    assert (claim.external_id, claim.account_id) == (tenant_id, first.account.pk)

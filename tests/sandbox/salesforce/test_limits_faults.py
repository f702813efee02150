"""Daily limits, editions and injected faults, as the SDK sees them."""

from __future__ import annotations

import time

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from sandbox.salesforce.models import SalesforceOrg
from tests.sandbox.salesforce.conftest import error_body, make_org, sf_client

pytestmark = pytest.mark.django_db(transaction=True)
QUERY = "SELECT Id FROM Account"


def _set(org: SalesforceOrg, **fields) -> None:
    SalesforceOrg.objects.filter(pk=org.pk).update(**fields)


def test_limit_info_header_counts_and_limit_exceeded(sf, org):
    _set(org, daily_api_max=3)
    sf.query(QUERY)
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == 3
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 3, "Remaining": 1}
    sf.query(QUERY)
    assert sf.api_usage["api-usage"].used == 3
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query(QUERY)
    assert error_body(info.value) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_api_disabled_for_professional_edition(sandbox_url):
    org = make_org("Professional", api_enabled=False)
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf_client(sandbox_url, org).query(QUERY)
    assert error_body(info.value)[0]["errorCode"] == "API_DISABLED_FOR_ORG"


def test_every_third_request_answers_503(sf, org):
    _set(org, faults={"error_every": 3})
    sf.query(QUERY)
    sf.query(QUERY)
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query(QUERY)
    assert info.value.status == 503
    assert error_body(info.value)[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sf.query(QUERY)


def test_forced_limit_is_consumed_then_cleared(sf, org):
    _set(org, faults={"force_429": 2})
    for _ in range(2):
        with pytest.raises(SalesforceRefusedRequest) as info:
            sf.query(QUERY)
        assert error_body(info.value)[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    sf.query(QUERY)


def test_latency_and_timeouts(sf, org):
    _set(org, faults={"latency_ms": 300})
    started = time.monotonic()
    sf.query(QUERY)
    assert time.monotonic() - started >= 0.3
    _set(org, faults={"timeout_every": 1, "timeout_seconds": 0.2})
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query(QUERY)
    assert info.value.status == 504


def test_expire_tokens_fault(sf, org):
    _set(org, faults={"expire_tokens": True})
    with pytest.raises(SalesforceExpiredSession):
        sf.query(QUERY)
    _set(org, faults={})
    sf.query(QUERY)


def test_unknown_token_is_invalid_session(sandbox_url, org):
    with pytest.raises(SalesforceExpiredSession) as info:
        sf_client(sandbox_url, org, token="00Dxx!nope").query(QUERY)
    assert error_body(info.value)[0]["errorCode"] == "INVALID_SESSION_ID"

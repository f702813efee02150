"""The simulated Stripe's time: a customer's test clock, else wall time plus the account's offset.

Stripe's test clocks freeze time for the customers attached to them and move it only when
advanced; the account offset is the sandbox's own shortcut ("advance N days" on its page), which
moves every customer without a test clock.
"""

from __future__ import annotations

import time

from sandbox.stripe.models import StripeAccount, StripeObject


def account_now(account: StripeAccount) -> int:
    return int(time.time()) + account.clock_offset


def clock_time(account: StripeAccount, clock_id: str | None) -> int:
    if clock_id:
        found = StripeObject.objects.filter(
            account=account, id=clock_id, kind="test_helpers.test_clock"
        ).first()
        if found is not None:
            return int(found.data["frozen_time"])
    return account_now(account)


def customer_now(account: StripeAccount, customer: StripeObject | dict[str, object] | None) -> int:
    if customer is None:
        return account_now(account)
    data = customer.data if isinstance(customer, StripeObject) else customer
    clock_id = data.get("test_clock")
    return clock_time(account, clock_id if isinstance(clock_id, str) else None)

"""Why an integration is not syncing although it is switched on: explicit causes, each set
and lifted on its own (``IntegrationPause`` rows), plus re-authorisation, which follows from the
connections' status.

=================  =========================================  ==========================
cause              set by                                     lifted by
=================  =========================================  ==========================
reauthorisation    a provider refusing the grant (derived)    reconnecting
billing            the billing check (trial over, unpaid)     billing, once it allows it
rate_limit         a 429 / Retry-After, a used-up allowance   itself, at ``until``
configuration      a configuration that cannot be used       changing the configuration
person             an admin pausing syncing                   an admin resuming it
=================  =========================================  ==========================
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integrations.core.models import IntegrationPause, PauseCause

STORED_CAUSES = tuple(c for c in PauseCause if c != PauseCause.REAUTHORISATION)


def runnable() -> Q:
    """Integrations that may sync now: on, both connections usable, no pause in force."""
    now = timezone.now()
    pausing = IntegrationPause.objects.filter(integration=OuterRef("pk")).filter(
        Q(until__isnull=True) | Q(until__gt=now)
    )
    return Q(
        is_enabled=True,
        xero_connection__status="active",
        salesforce_connection__status="active",
    ) & ~Q(Exists(pausing))


def integration_pause(
    *,
    integration_id: int,
    cause: str,
    message: str,
    until: dt.datetime | None = None,
    user: Any = None,
) -> IntegrationPause:
    """Sets (or updates) the pause of this cause; the others are left as they are."""
    if cause not in STORED_CAUSES:
        raise ValueError(f"{cause!r} is not a cause that is set by hand")
    pause, _created = IntegrationPause.objects.update_or_create(
        integration_id=integration_id,
        cause=cause,
        defaults={"message": message, "until": until, "by": user},
    )
    return pause


def integration_resume(*, integration_id: int, cause: str) -> bool:
    """Lifts the pause of this cause only; True if there was one."""
    deleted, _ = IntegrationPause.objects.filter(
        integration_id=integration_id, cause=cause
    ).delete()
    return bool(deleted)

"""Xero's API limits, counted in the database so that every web process sees the same numbers.

Per request (with limits on): one conditional UPDATE for the concurrent slot, one for the
minute/day windows, one for the app's minute window and one read of the counters; plus the
release of the concurrent slot when the answer is ready.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, F, Q, Value, When

from sandbox.xero import clock
from sandbox.xero.models import XeroApp, XeroOrganisation


@dataclass
class Admission:
    problem: str | None
    """None when admitted; else ``concurrent``, ``minute``, ``day`` or ``appminute``."""
    retry_after: int = 0
    request_number: int = 0
    holds_slot: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def _window(now: dt.datetime) -> tuple[int, int]:
    seconds = int(now.timestamp())
    return seconds // 60, seconds // 86_400


def _roll(count: str, window: str, current: int) -> Case:
    return Case(When(**{window: current}, then=F(count) + 1), default=Value(1))


def admit(org: XeroOrganisation, app: XeroApp, *, count_requests: bool) -> Admission:
    """Take a concurrent slot and a place in the minute, day and app windows, or say why not."""
    now = clock.now()
    minute, day = _window(now)
    orgs = XeroOrganisation.objects.filter(pk=org.pk)
    if not org.limits_enabled:
        number = 0
        if count_requests:
            orgs.update(request_count=F("request_count") + 1)
            number = orgs.values_list("request_count", flat=True).get()
        return Admission(
            None,
            request_number=number,
            headers={
                "X-MinLimit-Remaining": str(org.minute_limit),
                "X-DayLimit-Remaining": str(org.day_limit),
                "X-AppMinLimit-Remaining": str(app.app_minute_limit),
            },
        )
    if not orgs.filter(in_flight__lt=F("concurrent_limit")).update(in_flight=F("in_flight") + 1):
        return Admission("concurrent", retry_after=1, headers=_headers(org, app, minute, day))
    admitted = (
        orgs.filter(Q(minute_window__lt=minute) | Q(minute_count__lt=F("minute_limit")))
        .filter(Q(day_window__lt=day) | Q(day_count__lt=F("day_limit")))
        .update(
            minute_count=_roll("minute_count", "minute_window", minute),
            minute_window=minute,
            day_count=_roll("day_count", "day_window", day),
            day_window=day,
            request_count=F("request_count") + 1,
        )
    )
    if admitted:
        apps = XeroApp.objects.filter(pk=app.pk).filter(
            Q(minute_window__lt=minute) | Q(minute_count__lt=F("app_minute_limit"))
        )
        if not apps.update(
            minute_count=_roll("minute_count", "minute_window", minute), minute_window=minute
        ):
            release(org)
            return Admission(
                "appminute", retry_after=60 - now.second, headers=_headers(org, app, minute, day)
            )
    headers, row = _state(org, app, minute, day)
    if not admitted:
        release(org)
        if row["minute_window"] == minute and row["minute_count"] >= org.minute_limit:
            problem, retry = "minute", 60 - now.second
        else:
            midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC) + dt.timedelta(days=1)
            problem, retry = "day", int((midnight - now).total_seconds()) + 1
        return Admission(problem, retry_after=retry, headers=headers)
    return Admission(None, request_number=row["request_count"], holds_slot=True, headers=headers)


def _headers(org: XeroOrganisation, app: XeroApp, minute: int, day: int) -> dict[str, str]:
    return _state(org, app, minute, day)[0]


def _state(
    org: XeroOrganisation, app: XeroApp, minute: int, day: int
) -> tuple[dict[str, str], Any]:
    row = (
        XeroOrganisation.objects.filter(pk=org.pk)
        .values("minute_window", "minute_count", "day_window", "day_count", "request_count")
        .get()
    )
    app_row = XeroApp.objects.filter(pk=app.pk).values("minute_window", "minute_count").get()
    used_min = row["minute_count"] if row["minute_window"] == minute else 0
    used_day = row["day_count"] if row["day_window"] == day else 0
    used_app = app_row["minute_count"] if app_row["minute_window"] == minute else 0
    headers = {
        "X-MinLimit-Remaining": str(max(org.minute_limit - used_min, 0)),
        "X-DayLimit-Remaining": str(max(org.day_limit - used_day, 0)),
        "X-AppMinLimit-Remaining": str(max(app.app_minute_limit - used_app, 0)),
    }
    return headers, row


def release(org: XeroOrganisation) -> None:
    XeroOrganisation.objects.filter(pk=org.pk, in_flight__gt=0).update(in_flight=F("in_flight") - 1)

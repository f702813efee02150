"""The day payments fall due and credit notes are dated (a module function, so that tests can
move the calendar: ``monkeypatch.setattr(calendar, "today", ...)``)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def today() -> dt.date:
    return timezone.localdate()

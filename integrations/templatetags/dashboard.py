"""The dashboard's filters: ``{{ timedelta|duration }}`` (a wait in the two largest units that
matter) and ``{{ datetime|ago }}``."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter(name="duration")
def duration(value: dt.timedelta | None) -> str:
    if value is None:
        return ""
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    unit = "day" if days == 1 else "days"
    return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"


@register.filter(name="ago")
def ago(value: dt.datetime | None) -> str:
    """ "just now" under a minute (``timesince`` would say "0 minutes"), else "… ago"."""
    if value is None:
        return "never"
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"

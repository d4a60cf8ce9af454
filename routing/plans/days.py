"""A plan's day against Seoul's clock: how far into it we are, and whether it is over.

Planning reads the time only here, so a test sets it in one place.
"""

from __future__ import annotations

from datetime import date

from core.clock import SEOUL, seoul_now


def seconds_into(day: date) -> int | None:
    """Seconds after midnight of `day` now: 0 for a future day, None for a past one."""
    now = seoul_now().astimezone(SEOUL)
    today = now.date()
    if day > today:
        return 0
    if day < today:
        return None
    return now.hour * 3600 + now.minute * 60 + now.second


def is_over(day: date) -> bool:
    """Whether `day` has passed in Seoul."""
    return seconds_into(day) is None


def today() -> date:
    """Today in Seoul."""
    return seoul_now().date()

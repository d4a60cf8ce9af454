"""Time as the post reads it: Seoul time, HH:MM, and the delivery calendar (an office's weekdays,
never a Korean public holiday).

Public holidays come from the `holidays` package's KR calendar, which includes substitute
holidays (대체공휴일), election days and one-off temporary holidays it knows of.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from core.errors import Invalid

#: Monday 0 ... Sunday 6 (date.weekday()); offices deliver Monday to Friday unless set otherwise.
DEFAULT_WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4)
WEEKDAY_NAMES = ("월", "화", "수", "목", "금", "토", "일")


class NotAWorkingDay(Invalid):
    code = "not_a_working_day"


@dataclass(frozen=True)
class DayUse:
    """What a day is refused for, in the words of the person choosing it."""

    refused: str  # Korean, after "<date>(<weekday>)은"
    refused_en: str
    following: str  # Korean label of the next day that works


DELIVERY = DayUse("배달하는 날이 아닙니다", "is not a delivery day", "다음 배달일")
SENDING = DayUse("발송할 수 없는 날입니다", "is a day mail is not sent", "다음 발송 가능일")


@lru_cache(maxsize=32)
def _public_holidays(year: int) -> frozenset[date]:
    # Building a year's calendar (lunar dates, substitutes) takes about 10 ms, and days are
    # checked one at a time: in loops, and on every tracking event.
    return frozenset(holidays.country_holidays("KR", years=year))


def is_public_holiday(day: date) -> bool:
    """A Korean public holiday, substitute and election days included."""
    return day in _public_holidays(day.year)


def is_working_day(day: date, weekdays: Collection[int] = DEFAULT_WEEKDAYS) -> bool:
    """One of `weekdays` (Monday 0 ... Sunday 6) and not a Korean public holiday."""
    return day.weekday() in weekdays and not is_public_holiday(day)


def next_working_day(day: date, weekdays: Collection[int] = DEFAULT_WEEKDAYS) -> date:
    """The first working day on or after `day`."""
    if not set(weekdays) & set(range(7)):
        raise ValueError(f"no weekday to work on: {weekdays!r}")  # the loop would never end
    while not is_working_day(day, weekdays):
        day += timedelta(days=1)
    return day


def check_working_day(
    day: date,
    field: str,
    weekdays: Collection[int] = DEFAULT_WEEKDAYS,
    use: DayUse = DELIVERY,
) -> None:
    """Refuse a day that is not a working day with a 422 naming it and the next working day."""
    if is_working_day(day, weekdays):
        return
    following = next_working_day(day, weekdays).isoformat()
    # Every date is read ending in 일 (day), so the particle is always 은.
    message = (
        f"{day.isoformat()}({WEEKDAY_NAMES[day.weekday()]})은 {use.refused}. "
        f"{use.following}: {following} "
        f"({day.isoformat()} {use.refused_en}; the next one is {following}.)"
    )
    raise NotAWorkingDay(message, fields={field: [message]})


SEOUL = ZoneInfo("Asia/Seoul")


def seoul_today() -> date:
    """Today's date in Korea (send dates and holidays are Korean calendar days)."""
    return datetime.now(SEOUL).date()


def seoul_now() -> datetime:
    """The current time in Korea."""
    return datetime.now(SEOUL)


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str) -> int:
    """ "HH:MM" as seconds after midnight; ValueError if malformed."""
    match = _HHMM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return int(match[1]) * 3600 + int(match[2]) * 60


def format_hhmm(seconds: int) -> str:
    """Seconds after midnight as "HH:MM" (hours may pass 24 for a late end)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_range(text: str) -> tuple[int, int]:
    """ "HH:MM-HH:MM" as a (start, end) pair of seconds; ValueError if malformed or reversed."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not a range HH:MM-HH:MM")
    window = parse_hhmm(start.strip()), parse_hhmm(end.strip())
    if window[1] <= window[0]:
        raise ValueError(f"{text!r} ends before it starts")
    return window

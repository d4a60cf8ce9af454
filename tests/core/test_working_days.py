"""The delivery calendar (core/clock.py): weekdays, Korean public holidays, the 422."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import (
    DEFAULT_WEEKDAYS,
    NotAWorkingDay,
    check_working_day,
    is_public_holiday,
    is_working_day,
    next_working_day,
)

SATURDAYS_TOO = (0, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("day", "what"),
    [
        (date(2025, 1, 27), "임시공휴일 (temporary holiday)"),
        (date(2025, 3, 3), "삼일절 대체공휴일"),
        (date(2025, 5, 6), "어린이날·부처님오신날 대체공휴일"),
        (date(2025, 6, 3), "제21대 대통령 선거일"),
        (date(2025, 10, 8), "추석 대체공휴일"),
        (date(2026, 2, 17), "설날"),
        (date(2026, 3, 2), "삼일절 대체공휴일"),
        (date(2026, 5, 25), "부처님오신날 대체공휴일"),
        (date(2026, 6, 3), "전국동시지방선거일"),
        (date(2026, 8, 17), "광복절 대체공휴일"),
        (date(2026, 9, 25), "추석"),
        (date(2026, 10, 5), "개천절 대체공휴일"),
    ],
)
def test_public_holidays_on_weekdays_are_not_working_days(day, what):
    assert day.weekday() < 5, what
    assert is_public_holiday(day), what
    assert not is_working_day(day), what
    assert not is_working_day(day, SATURDAYS_TOO), what


def test_saturdays_and_sundays_are_working_days_only_where_the_office_delivers():
    friday, saturday, sunday = date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 6)
    assert is_working_day(friday)
    assert not is_working_day(saturday) and not is_working_day(sunday)
    assert is_working_day(saturday, SATURDAYS_TOO) and not is_working_day(sunday, SATURDAYS_TOO)
    assert not is_working_day(date(2026, 10, 3), SATURDAYS_TOO)  # 개천절 on a Saturday


def test_next_working_day_skips_weekends_and_holidays_in_a_row():
    assert next_working_day(date(2026, 12, 4)) == date(2026, 12, 4)  # already one
    assert next_working_day(date(2026, 12, 5)) == date(2026, 12, 7)
    assert next_working_day(date(2026, 12, 5), SATURDAYS_TOO) == date(2026, 12, 5)
    # 추석 2025: Sunday 10-05 to 대체공휴일 10-08, then 한글날 10-09.
    assert next_working_day(date(2025, 10, 4)) == date(2025, 10, 10)
    # 개천절 2026 on Saturday 10-03, its substitute Monday 10-05.
    assert next_working_day(date(2026, 10, 3), SATURDAYS_TOO) == date(2026, 10, 6)
    assert next_working_day(date(2027, 1, 1)) == date(2027, 1, 4)  # 신정 on a Friday
    assert next_working_day(date(2026, 12, 7), (6,)) == date(2026, 12, 13)


def test_no_weekday_at_all_is_a_programming_error_not_an_endless_loop():
    with pytest.raises(ValueError, match="no weekday"):
        next_working_day(date(2026, 12, 7), ())


def test_a_day_off_is_refused_naming_the_day_its_weekday_and_the_next_working_day():
    check_working_day(date(2026, 12, 7), "day")  # a Monday: nothing to say
    with pytest.raises(NotAWorkingDay) as refused:
        check_working_day(date(2026, 12, 6), "day")
    expected = (
        "2026-12-06(일)은 배달하는 날이 아닙니다. 다음 배달일: 2026-12-07 "
        "(2026-12-06 is not a delivery day; the next one is 2026-12-07.)"
    )
    assert refused.value.status == 422 and refused.value.code == "not_a_working_day"
    assert refused.value.message == expected
    assert refused.value.fields == {"day": [expected]}
    with pytest.raises(NotAWorkingDay) as holiday:
        check_working_day(date(2026, 10, 3), "send_date", SATURDAYS_TOO)
    assert holiday.value.message.startswith("2026-10-03(토)은 배달하는 날이 아닙니다.")
    assert "다음 배달일: 2026-10-06" in holiday.value.fields["send_date"][0]


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    weekdays=st.one_of(
        st.just(DEFAULT_WEEKDAYS),
        st.sets(st.integers(min_value=0, max_value=6), min_size=1).map(tuple),
    ),
)
def test_the_next_working_day_is_the_first_working_day_on_or_after(day, weekdays):
    found = next_working_day(day, weekdays)
    assert found >= day
    assert is_working_day(found, weekdays)
    assert found.weekday() in weekdays and not is_public_holiday(found)
    between = (day + timedelta(days=n) for n in range((found - day).days))
    assert not any(is_working_day(other, weekdays) for other in between)

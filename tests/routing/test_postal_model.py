"""The postal model's pure parts: times of day, priorities, windows and the problem it builds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import format_hhmm, parse_hhmm, parse_range
from routing import postal_model as pm
from routing.vrp.parse import parse_problem


def test_times_of_day_round_trip_and_bad_ones_are_refused():
    assert parse_hhmm("09:30") == 34_200 and format_hhmm(34_200) == "09:30"
    assert parse_range("14:00-16:30") == (50_400, 59_400)
    for bad in ("9:30", "24:00", "12:60", "noon"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_hhmm(bad)
    with pytest.raises(ValueError, match="ends before"):
        parse_range("16:00-14:00")
    with pytest.raises(ValueError, match="range"):
        parse_range("14:00")


@given(
    kind=st.sampled_from(["welfare", "registered"]),
    risks=st.integers(0, 10),
    age=st.integers(-3, 60),
    redelivery=st.booleans(),
)
def test_priority_stays_below_urgent_and_grows_with_need_and_waiting(kind, risks, age, redelivery):
    priority = pm.item_priority(kind, risk_sources=risks, age_days=age, redelivery=redelivery)
    assert pm.BASE_PRIORITY[kind] <= priority < pm.URGENT_PRIORITY
    assert pm.item_priority(kind, risk_sources=risks, age_days=age + 1, redelivery=redelivery) >= (
        priority
    )
    assert pm.item_priority(kind, risk_sources=risks, age_days=age, redelivery=True) >= priority
    if kind == "registered":  # risk is a welfare household's
        assert pm.item_priority(kind, risk_sources=0, age_days=age, redelivery=redelivery) == (
            priority
        )


def test_welfare_outranks_plain_mail_of_the_same_age():
    for age in range(10):
        assert pm.item_priority("welfare", age_days=age) > pm.item_priority(
            "registered", age_days=age
        )


def test_clipping_windows_keeps_nothing_in_the_past():
    assert pm.clip_windows([], 40_000) == [(40_000, 48 * 3600)]
    assert pm.clip_windows([(30_000, 35_000), (50_000, 60_000)], 40_000) == [(50_000, 60_000)]
    assert pm.clip_windows([(30_000, 45_000)], 40_000) == [(40_000, 45_000)]
    assert pm.clip_windows([(30_000, 35_000)], 40_000) == []


def test_the_problem_is_a_valid_solver_problem_with_preferences_locks_and_lunch():
    carriers = [
        pm.CarrierSpec(7, "motorbike", (32_400, 64_800), (41_400, 46_800), 3600, route=[1, 2]),
        pm.CarrierSpec(8, "foot", (32_400, 50_000), (41_400, 46_800), 0),
    ]
    stops = [
        pm.StopSpec(1, (127.0, 37.5), 600, 70, windows=[(50_400, 57_600)], locked=True),
        pm.StopSpec(2, (127.001, 37.5), 60, 30, preferred=[8], preference_cost=900),
        pm.StopSpec(3, (127.002, 37.5), 60, 30, preferred=[8]),  # no cost: no preference
    ]
    problem = pm.problem((127.01, 37.51), carriers, stops)
    parsed = parse_problem(problem, known_profiles=["motorbike", "foot"])
    first, second = parsed.vehicles
    assert first.steps == (1, 2) and first.breaks[0].service == 3600
    assert second.breaks == () and second.profile == "foot"
    jobs = {job.id: job for job in parsed.jobs}
    assert jobs[1].locked and jobs[1].time_windows[0].start == 50_400
    assert jobs[2].preferred_vehicles == {8} and jobs[2].preference_cost == 900
    assert jobs[3].preference_cost == 0


def test_every_round_leaves_after_sorting_at_a_fixed_time_with_a_fair_share():
    carrier = pm.CarrierSpec(7, "car", (32_400, 64_800), (41_400, 46_800), 3600, sorting_s=1800)
    problem = pm.problem((127.01, 37.51), [carrier], [pm.StopSpec(1, (127.0, 37.5), 60, 30)])
    [vehicle] = parse_problem(problem, known_profiles=["car"]).vehicles
    assert vehicle.time_window.start == 34_200 and vehicle.time_window.end == 64_800
    assert vehicle.fixed_start and vehicle.balance_cost == pm.FAIR_SHARE_COST
    # Sorting never runs past the shift's end.
    late = pm.CarrierSpec(8, "car", (32_400, 33_000), (41_400, 46_800), 0, sorting_s=1800)
    assert late.departure_s == 33_000

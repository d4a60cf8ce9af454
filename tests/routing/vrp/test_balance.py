"""The postal extensions of the engine: fair shares (balance_cost) and a fixed departure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.vrp.balance import BAND, fair_bounds, unfairness
from routing.vrp.parse import parse_problem
from routing.vrp.problem import ProblemError, Vehicle, Window
from routing.vrp.solve import solve
from tests.routing.vrp.test_solver import line_problem


def two_vehicles(**vehicle) -> dict:
    """Eight jobs close together 100 s from the depot: one route serves them all cheapest."""
    problem = line_problem([100 + i for i in range(8)])
    for job in problem["jobs"]:
        job["service"] = 300
    problem["vehicles"] = [
        {"id": k, "start_index": 0, "end_index": 0, "time_window": [0, 36_000], **vehicle}
        for k in (1, 2)
    ]
    return problem


def jobs_per_vehicle(answer: dict) -> dict[int, int]:
    assert answer["code"] == 0 and not answer["unassigned"], answer
    return {
        r["vehicle"]: sum(1 for s in r["steps"] if s["type"] == "job") for r in answer["routes"]
    }


def test_pure_travel_leaves_a_vehicle_idle_and_fair_shares_give_both_work():
    assert jobs_per_vehicle(solve(two_vehicles(), 2.0)) in ({1: 8}, {2: 8})
    shared = jobs_per_vehicle(solve(two_vehicles(balance_cost=10), 2.0))
    assert shared == {1: 4, 2: 4}


def test_a_fixed_start_leaves_at_the_window_start_and_waits():
    problem = line_problem([100], vehicles=[{"id": 1, "start_index": 0, "end_index": 0}])
    problem["jobs"][0]["time_windows"] = [[5_000, 6_000]]
    problem["vehicles"][0]["time_window"] = [1_000, 9_000]
    [late] = solve(problem, 1.0)["routes"]
    assert late["steps"][0]["arrival"] == 4_900 and late["waiting_time"] == 0  # as VROOM
    problem["vehicles"][0]["fixed_start"] = True
    [fixed] = solve(problem, 1.0)["routes"]
    assert fixed["steps"][0]["arrival"] == 1_000
    assert fixed["steps"][1]["arrival"] == 1_100 and fixed["waiting_time"] == 3_900


@pytest.mark.parametrize(
    ("vehicle", "field", "message"),
    [
        ({"balance_cost": -1}, "vehicles[0].balance_cost", "must be >= 0"),
        ({"balance_cost": 1.5}, "vehicles[0].balance_cost", "must be an integer"),
        ({"balance_cost": 10**9}, "vehicles[0].balance_cost", "must be <="),
        ({"fixed_start": "yes"}, "vehicles[0].fixed_start", "true or false"),
        ({"fixed_start": True}, "vehicles[0].fixed_start", "needs the vehicle's time_window"),
    ],
)
def test_bad_extension_keys_are_refused_naming_the_field(vehicle, field, message):
    problem = line_problem([10], vehicles=[{"id": 1, "start_index": 0, **vehicle}])
    with pytest.raises(ProblemError, match=message) as error:
        parse_problem(problem)
    assert error.value.field == field


def vehicle(cost: int, hours: float) -> Vehicle:
    return Vehicle(
        id=1, start=None, end=None, time_window=Window(0, int(hours * 3600)), balance_cost=cost
    )


def test_shares_follow_each_vehicles_working_time_and_leave_out_the_others():
    full, half, none = vehicle(5, 8), vehicle(5, 4), vehicle(0, 8)
    bounds = fair_bounds([full, half, none], 30_000)
    assert bounds[2] is None
    assert bounds[0] == (round(20_000 * (1 - BAND)), round(20_000 * (1 + BAND)))
    assert bounds[1] == (round(10_000 * (1 - BAND)), round(10_000 * (1 + BAND)))


@given(loads=st.lists(st.integers(0, 40_000), min_size=2, max_size=6))
def test_unfairness_is_nothing_within_the_band_and_grows_with_an_idle_vehicle(loads):
    vehicles = [vehicle(3, 8)] * len(loads)
    even = [sum(loads) / len(loads)] * len(loads)
    assert unfairness(vehicles, even) == 0
    assert unfairness(vehicles, loads) >= 0
    if sum(loads) and 0 in loads:
        assert unfairness(vehicles, loads) >= 3 * (sum(loads) / len(loads)) * (1 - BAND) - 1

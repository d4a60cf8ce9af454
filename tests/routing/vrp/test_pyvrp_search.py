"""PyVRP's relaxation of a problem, its search, and its routes made feasible with the breaks."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest

from bench.routing_postal import BREAK_SERVICE, BREAK_WINDOW, SHIFT, office_day
from routing.vrp.answers import build_answer
from routing.vrp.parse import parse_problem
from routing.vrp.problem import Problem
from routing.vrp.pyvrp_search import (
    feasible_route,
    problem_data,
    relaxable,
    routes_kept,
    search,
)
from tests.support.vrp_checker import check


def parsed(problem: dict) -> Problem:
    return parse_problem(problem)


def durations(problem: Problem) -> dict[str, np.ndarray]:
    assert problem.matrices is not None
    return {profile: m.durations for profile, m in problem.matrices.items()}


def test_an_office_day_is_relaxable():
    assert relaxable(parsed(office_day(60, seed=1)))


@pytest.mark.parametrize(
    "change",
    [
        lambda p: (
            p["jobs"][0].update(locked=True),
            p["vehicles"][0].update(steps=[{"type": "job", "id": 1}]),
        ),
        lambda p: p["jobs"][0].update(time_windows=[[32400, 36000], [43200, 46800]]),
        lambda p: (
            p["jobs"][0].update(skills=[1]),
            p["vehicles"].append({**p["vehicles"][0], "id": 99, "skills": [1]}),
        ),
        lambda p: p["jobs"][0].update(preferred_vehicles=[1], preference_cost=600),
        lambda p: p["vehicles"][0].update(max_tasks=3),
        lambda p: p["vehicles"][0].pop("end_index"),
        lambda p: p["vehicles"][0].update(steps=[{"type": "job", "id": 1}]),
    ],
    ids=[
        "lock",
        "two windows",
        "a skill not all have",
        "preference",
        "max_tasks",
        "no end",
        "steps",
    ],
)
def test_what_pyvrp_cannot_express_is_not_relaxable(change):
    problem = office_day(60, seed=1)
    change(problem)
    assert not relaxable(parsed(problem))


def test_a_skill_every_vehicle_has_stays_relaxable():
    problem = office_day(60, seed=1)
    for vehicle in problem["vehicles"]:
        vehicle["skills"] = [1]
    problem["jobs"][0].update(skills=[1])
    assert relaxable(parsed(problem))


def test_the_relaxation_keeps_room_for_the_breaks():
    problem = parsed(office_day(60, seed=1))
    data, members = problem_data(problem, durations(problem))
    # One type: every carrier is alike; shifts end earlier by the break.
    assert members == [list(range(len(problem.vehicles)))]
    (kind,) = data.vehicle_types()
    assert (kind.tw_early, kind.tw_late) == (SHIFT[0], SHIFT[1] - BREAK_SERVICE)
    assert kind.num_available == len(problem.vehicles)
    for job, client in zip(problem.jobs, data.clients(), strict=True):
        assert client.location == job.place.index and not client.required
        if job.time_windows:
            window = job.time_windows[0]
            late = window.end - BREAK_SERVICE if window.end > BREAK_WINDOW[0] else window.end
            assert (client.tw_early, client.tw_late) == (window.start, max(window.start, late))
    # A higher priority is a bigger prize.
    clients = zip(problem.jobs, data.clients(), strict=True)
    by_priority = {job.priority: client.prize for job, client in clients}
    assert by_priority[100] > by_priority[50]


def test_vehicles_with_different_shifts_are_different_types():
    problem = office_day(130, seed=1)
    problem["vehicles"][0]["time_window"] = [SHIFT[0], SHIFT[1] - 3600]
    data, members = problem_data(parsed(problem), durations(parsed(problem)))
    assert sorted(members) == [[0], list(range(1, len(problem["vehicles"])))]
    assert data.num_vehicle_types == 2


def test_pyvrps_routes_made_feasible_keep_every_constraint():
    raw = office_day(60, seed=1)
    problem = parsed(raw)
    found = search(problem, durations(problem), time.monotonic() + 1.0, seed=0)
    assert found is not None
    routed = [j for route in found.routes.values() for j in route]
    assert sorted(routed) == list(range(60))
    assert set(found.routes) <= set(range(len(problem.vehicles)))
    routes, out = routes_kept(problem, problem.matrices, found.routes)
    unassigned = [(job, "not routed") for job in out]
    answer = build_answer(problem, problem.matrices, routes, unassigned, 0, 0)
    assert check(raw, answer) == []


def test_a_route_that_cannot_take_its_break_loses_its_late_stops():
    raw = office_day(60, seed=1)
    # A two-hour visit at the break window's opening: the break fits neither before it (the
    # visit would be late) nor after it (its window has closed by then), so the visit goes.
    raw["jobs"][0]["time_windows"] = [[BREAK_WINDOW[0], BREAK_WINDOW[0]]]
    raw["jobs"][0]["service"] = 2 * 3600
    problem = parsed(raw)
    vehicle, jobs = problem.vehicles[0], list(problem.jobs[:3])
    matrix = durations(problem)["car"]
    kept, gaps, out = feasible_route(vehicle, jobs, matrix)
    assert out == [problem.jobs[0]] and kept == jobs[1:]
    assert sum(len(b) for b in gaps.values()) == len(vehicle.breaks)
    # A feasible route keeps every stop.
    kept, gaps, out = feasible_route(vehicle, jobs[1:], matrix)
    assert kept == jobs[1:] and out == []


def test_the_relaxation_does_not_change_the_problem():
    raw = office_day(60, seed=1)
    before = copy.deepcopy(raw)
    problem = parsed(raw)
    problem_data(problem, durations(problem))
    assert raw == before

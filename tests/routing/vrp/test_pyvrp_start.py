"""Plans started by PyVRP: OR-Tools keeps every constraint, and plans alone without PyVRP."""

from __future__ import annotations

import os
import time

import pytest

from bench.routing_postal import office_day
from routing.vrp import decompose
from routing.vrp.decompose import solve_large
from routing.vrp.parse import parse_problem
from routing.vrp.pyvrp_runs import best_of_seeds, by_parts
from tests.support.vrp_checker import check

# Machines are noisy: the time limit is checked with room to spare.
GRACE_S = 10.0


def served_once(problem: dict, result: dict) -> None:
    routed = [s["id"] for r in result["routes"] for s in r["steps"] if s["type"] == "job"]
    reported = routed + [u["id"] for u in result["unassigned"]]
    assert sorted(reported) == sorted(job["id"] for job in problem["jobs"])


def planned(problem: dict, time_limit_s: float) -> dict:
    """solve_large's answer within the limit, which the independent checker accepts."""
    began = time.monotonic()
    result = solve_large(problem, time_limit_s)
    assert time.monotonic() - began <= time_limit_s + GRACE_S
    assert result["code"] == 0, result
    assert check(problem, result) == []
    served_once(problem, result)
    assert result["summary"]["stopped"] in {"time_limit", "no_improvement", "exhausted"}
    assert result["summary"]["seconds_used"] <= time_limit_s + GRACE_S
    return result


@pytest.fixture
def pyvrp_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """The plans PyVRP's searches handed to the solver (None: no plan)."""
    calls = []

    def spy(*args, **kwargs):
        found = best_of_seeds(*args, **kwargs)
        calls.append(found)
        return found

    monkeypatch.setattr(decompose, "best_of_seeds", spy)
    return calls


def test_a_plan_started_by_pyvrp_keeps_breaks_windows_and_capacities(pyvrp_calls):
    problem = office_day(300, seed=4)
    for job in problem["jobs"]:
        job["delivery"] = [1 + job["id"] % 3]
    for vehicle in problem["vehicles"]:
        vehicle["capacity"] = [150]
    result = planned(problem, 8.0)
    assert len(pyvrp_calls) == 1 and pyvrp_calls[0] is not None
    assert result["summary"]["unassigned"] == 0
    # Every route takes its lunch break (PyVRP has none: OR-Tools put them in).
    for route in result["routes"]:
        assert [s["type"] for s in route["steps"]].count("break") == 1


def test_a_big_problem_starts_from_pyvrps_plans_of_one_sector_per_core(monkeypatch):
    parts = []

    def spy(problem, sectors, *args):
        parts.append(sectors)
        return by_parts(problem, sectors, *args)

    monkeypatch.setattr(decompose, "by_parts", spy)
    monkeypatch.setattr(decompose, "PYVRP_SPLIT_JOBS", 200)
    result = planned(office_day(300, seed=4), 8.0)
    assert result["summary"]["unassigned"] == 0
    (sectors,) = parts
    assert len(sectors) == 2
    assert sorted(j for jobs, _ in sectors for j in jobs) == list(range(300))


def test_plans_of_parts_come_back_in_the_whole_problems_positions():
    problem = parse_problem(office_day(130, seed=2))
    durations = {p: m.durations for p, m in problem.matrices.items()}
    jobs = list(range(130))
    parts = [(jobs[::2], [0, 2]), (jobs[1::2], [1])]
    found = by_parts(problem, parts, durations, 1.0, 5.0)
    assert found is not None
    assert set(found.routes) <= {0, 1, 2}
    for vehicle, route in found.routes.items():
        assert all(j % 2 == (vehicle == 1) for j in route)
    assert sorted(j for route in found.routes.values() for j in route) == jobs


def test_a_small_problem_starts_from_pyvrp_too(pyvrp_calls):
    planned(office_day(60, seed=2), 4.0)
    assert len(pyvrp_calls) == 1 and pyvrp_calls[0] is not None


def test_few_stops_and_what_pyvrp_cannot_express_go_to_or_tools_alone(pyvrp_calls):
    planned(office_day(decompose.PYVRP_MIN_JOBS - 1, seed=2), 2.0)
    problem = office_day(200, seed=2)
    problem["jobs"][0]["time_windows"] = [[9 * 3600, 10 * 3600], [14 * 3600, 15 * 3600]]
    planned(problem, 4.0)
    # A carrier's district: PyVRP's plan would scatter it.
    problem = office_day(300, seed=4)
    for job in problem["jobs"][:20]:
        job.update(preferred_vehicles=[1], preference_cost=3600)
    result = planned(problem, 8.0)
    carrier_1 = next(r for r in result["routes"] if r["vehicle"] == 1)
    preferred = {j["id"] for j in problem["jobs"][:20]}
    assert preferred <= {s["id"] for s in carrier_1["steps"] if s["type"] == "job"}
    assert pyvrp_calls == []


@pytest.mark.parametrize("failure", ["no plan", "an error"])
def test_without_a_plan_from_pyvrp_or_tools_plans_alone(monkeypatch, failure):
    def broken(*args, **kwargs):
        if failure == "an error":
            raise RuntimeError("PyVRP broke")

    monkeypatch.setattr(decompose, "best_of_seeds", broken)
    planned(office_day(60, seed=2), 3.0)
    result = planned(office_day(300, seed=4), 6.0)
    assert result["summary"]["unassigned"] == 0


def crash_in_child(conn, *args) -> None:
    """A search's process that dies like a crashing native library."""
    os.abort()


def hang_in_child(conn, *args) -> None:
    """A search's process that ignores its deadline."""
    time.sleep(60)


@pytest.mark.parametrize("target", [crash_in_child, hang_in_child])
def test_a_search_process_that_crashes_or_hangs_gives_no_plan_and_is_ended(target):
    problem = parse_problem(office_day(60, seed=2))
    durations = {p: m.durations for p, m in problem.matrices.items()}
    began = time.monotonic()
    assert best_of_seeds(problem, durations, 0.5, 2, grace_s=0.5, target=target) is None
    assert time.monotonic() - began < 0.5 + 0.5 + GRACE_S


def test_of_two_seeds_the_cheaper_plan_is_kept():
    problem = parse_problem(office_day(60, seed=2))
    durations = {p: m.durations for p, m in problem.matrices.items()}
    found = best_of_seeds(problem, durations, 1.0, 2, grace_s=5.0)
    assert found is not None
    assert sorted(j for route in found.routes.values() for j in route) == list(range(60))

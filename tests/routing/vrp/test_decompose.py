"""Large problems by decomposition: feasible plans, every job once, the clustering's rules."""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import pytest

from bench.routing_postal import office_day
from routing.vrp.answers import REASON_SKILLS
from routing.vrp.decompose import ALT_FIRST_SOLUTION, SUBPROBLEM_CONFIG, solve_large
from routing.vrp.parse import parse_problem
from routing.vrp.partition import partition
from routing.vrp.subproblem import subproblem
from routing.vrp.whole_problem import WholeProblem, whole_problem_of
from tests.support.vrp_checker import check

# Machines are noisy: the time limit is checked with room to spare.
GRACE_S = 10.0
# A faked route's working time (the plans' ranking reads it).
NO_WORK = {"duration": 0, "service": 0}


def solved_large(problem: dict, time_limit_s: float) -> dict:
    """Solve with solve_large within the limit, insisting on an answer the checker accepts."""
    began = time.monotonic()
    result = solve_large(problem, time_limit_s)
    assert time.monotonic() - began <= time_limit_s + GRACE_S
    assert result["code"] == 0, result
    assert check(problem, result) == []
    return result


def served_once(problem: dict, result: dict) -> None:
    routed = [s["id"] for r in result["routes"] for s in r["steps"] if s["type"] == "job"]
    reported = routed + [u["id"] for u in result["unassigned"]]
    assert sorted(reported) == sorted(job["id"] for job in problem["jobs"])


@pytest.fixture
def without_pyvrp(monkeypatch: pytest.MonkeyPatch) -> None:
    """OR-Tools alone, as for problems PyVRP cannot plan (tests/routing/vrp/test_pyvrp_start.py)."""
    monkeypatch.setattr("routing.vrp.decompose.PYVRP_MIN_JOBS", 10**9)


def whole_problem(problem: dict) -> WholeProblem:
    return whole_problem_of(problem, parse_problem(problem))


def test_an_office_day_is_split_solved_and_merged_into_a_feasible_plan(without_pyvrp):
    problem = office_day(400, seed=3)
    result = solved_large(problem, 4.0)
    served_once(problem, result)
    assert set(result["summary"]["computing_times"]) == {"loading", "solving"}
    # Vehicles and jobs come back with the whole problem's matrix rows.
    depot = problem["vehicles"][0]["start_index"]
    assert all(r["steps"][0]["location_index"] == depot for r in result["routes"])


def test_a_first_plan_stops_each_cluster_at_its_first_solution():
    problem = office_day(400, seed=3)
    config = replace(SUBPROBLEM_CONFIG, parameters="solution_limit: 1")
    result = solve_large(problem, 60.0, config=config)
    assert check(problem, result) == []
    served_once(problem, result)
    # Nothing is improved after the clusters: far from the 60 s allowed.
    assert result["summary"]["computing_times"]["solving"] < 30_000


def test_clusters_are_sectors_of_the_office_with_vehicles_for_their_work():
    problem = office_day(400, seed=3)
    clusters = partition(whole_problem(problem))
    assert len(clusters) > 1
    jobs = sorted(j for c in clusters for j in c.jobs)
    assert jobs == list(range(400))
    vehicles = [v for c in clusters for v in c.vehicles]
    assert len(vehicles) == len(set(vehicles)) and all(c.vehicles for c in clusters)


def test_jobs_in_a_vehicles_steps_and_preferred_jobs_go_to_its_cluster():
    problem = office_day(400, seed=3)
    # Stops all over the district: steps pull them together.
    named = [5, 77, 150, 222, 301, 388]
    problem["vehicles"][2]["steps"] = [{"type": "job", "id": j + 1} for j in named]
    problem["jobs"][named[0]]["locked"] = True
    preferring = [10, 200, 390]
    for j in preferring:
        problem["jobs"][j].update(preferred_vehicles=[problem["vehicles"][4]["id"]])
        problem["jobs"][j]["preference_cost"] = 600
    clusters = partition(whole_problem(problem))
    home = next(c for c in clusters if 2 in c.vehicles)
    assert set(named) <= set(home.jobs)
    preferred = next(c for c in clusters if 4 in c.vehicles)
    assert set(preferring) <= set(preferred.jobs)


def test_steps_and_preferences_pass_into_the_sub_problems_and_locks_hold():
    problem = office_day(300, seed=4)
    named = [3, 120, 260]
    problem["vehicles"][1]["steps"] = [{"type": "job", "id": j + 1} for j in named]
    for j in named:
        problem["jobs"][j]["locked"] = True
    problem["jobs"][50].update(preferred_vehicles=[problem["vehicles"][0]["id"]], preference_cost=9)
    result = solved_large(problem, 3.0)
    served_once(problem, result)
    route = next(r for r in result["routes"] if r["vehicle"] == problem["vehicles"][1]["id"])
    assert [s["id"] for s in route["steps"] if s["type"] == "job" and s["id"] - 1 in named] == [
        j + 1 for j in named
    ]


def test_a_sub_problem_keeps_the_input_objects_with_sliced_matrices():
    problem = office_day(200, seed=5)
    problem["jobs"][7]["preferred_vehicles"] = [1, 2]
    whole = whole_problem(problem)
    sub, places = subproblem(whole, [7, 9], [1], {1: [9]})
    assert [j["id"] for j in sub["jobs"]] == [8, 10]
    assert sub["jobs"][0]["preferred_vehicles"] == [2]  # vehicle 1 is not in it
    assert sub["vehicles"][0]["steps"] == [{"type": "job", "id": 10}]
    assert list(places) == [0, 8, 10]
    durations = problem["matrices"]["car"]["durations"]
    assert sub["matrices"]["car"]["durations"][1][2] == durations[8][10]
    assert problem["jobs"][7]["location_index"] == 8  # the input is left alone
    # Without routes to start from, the input's steps stay, cut to the jobs present.
    problem["vehicles"][1]["steps"] = [{"type": "job", "id": i} for i in (10, 30, 8)]
    sub, _ = subproblem(whole_problem(problem), [7, 9], [1], None)
    assert sub["vehicles"][0]["steps"] == [{"type": "job", "id": 10}, {"type": "job", "id": 8}]


def test_problems_in_coordinates_are_decomposed_too():
    problem = office_day(200, seed=6)
    del problem["matrices"]
    lon0, lat0 = 127.02, 37.52
    for job in problem["jobs"]:
        index = job.pop("location_index")
        job["location"] = [lon0 + (index % 20 - 10) * 0.002, lat0 + (index // 20 - 5) * 0.002]
    for vehicle in problem["vehicles"]:
        del vehicle["start_index"], vehicle["end_index"]
        vehicle["start"] = vehicle["end"] = [lon0, lat0]
    result = solved_large(problem, 3.0)
    served_once(problem, result)
    assert all("location_index" not in s for r in result["routes"] for s in r["steps"])
    assert result["routes"][0]["steps"][0]["location"] == [lon0, lat0]


def test_malformed_problems_get_code_2_naming_the_field():
    problem = office_day(200, seed=7)
    bad = copy.deepcopy(problem)
    bad["jobs"][3]["service"] = -1
    assert solve_large(bad, 5) == {
        "code": 2,
        "error": "jobs[3].service: must be >= 0, got -1",
    }
    # Found by a solver process, for a vehicle no cluster may need: still the whole path.
    bad = copy.deepcopy(problem)
    bad["vehicles"][3]["time_window"] = [9 * 3600, 9 * 3600 + 60]
    result = solve_large(bad, 5)
    assert result["code"] == 2 and result["error"].startswith("vehicles[3].breaks[0]")
    assert solve_large("nope", 5)["code"] == 2
    with pytest.raises(ValueError):
        solve_large(problem, 0)


def answer(problem: dict, cost: int, unassigned: list[dict]) -> dict:
    """A solver answer with one route of that cost (no jobs in it: ranking reads the cost)."""
    route = {"vehicle": problem["vehicles"][0]["id"], "cost": cost, "steps": [], **NO_WORK}
    return {"code": 0, "routes": [route], "unassigned": unassigned, "summary": {"cost": cost}}


def test_small_problems_are_solved_whole_by_two_searches_keeping_the_better(
    monkeypatch, without_pyvrp
):
    problem = office_day(60, seed=8)
    calls = []
    # By first solution: the alternative start finds the cheaper plan, serving every job.
    costs = {"SAVINGS": 900, ALT_FIRST_SOLUTION: 800}

    def whole(problem_: object, time_limit_s: float, **kwargs: object) -> dict:
        config = kwargs["config"]
        calls.append((problem_, config.first_solution))
        return answer(problem, costs[config.first_solution], [])

    monkeypatch.setattr("routing.vrp.decompose.solve_isolated", whole)
    assert solve_large(problem, 3)["summary"]["cost"] == 800
    assert sorted(calls) == sorted([(problem, "SAVINGS"), (problem, ALT_FIRST_SOLUTION)])

    calls.clear()
    assert solve_large(problem, 3, workers=1)["summary"]["cost"] == 900
    assert calls == [(problem, "SAVINGS")]


def test_of_two_whole_searches_serving_more_priority_beats_a_lower_cost(monkeypatch, without_pyvrp):
    problem = office_day(60, seed=8)
    low, high = problem["jobs"][:2]
    low["priority"], high["priority"] = 10, 90
    answers = {
        "SAVINGS": answer(problem, 100, [{"id": high["id"]}]),
        ALT_FIRST_SOLUTION: answer(problem, 500, [{"id": low["id"]}]),
    }
    monkeypatch.setattr(
        "routing.vrp.decompose.solve_isolated",
        lambda p, t, **kw: answers[kw["config"].first_solution],
    )
    assert solve_large(problem, 3)["unassigned"] == [{"id": low["id"]}]
    # A search that failed never beats one with a plan.
    answers["SAVINGS"] = {"code": 1, "error": "solver process crashed"}
    answers[ALT_FIRST_SOLUTION]["unassigned"] = [{"id": high["id"]}]
    assert solve_large(problem, 3)["code"] == 0


def test_of_two_whole_searches_a_cheaper_plan_that_ignores_preferences_loses(
    monkeypatch, without_pyvrp
):
    problem = office_day(60, seed=8)
    problem["vehicles"].append({**problem["vehicles"][0], "id": 99})
    job = problem["jobs"][0]
    mine, other = (v["id"] for v in problem["vehicles"][:2])
    job.update(preferred_vehicles=[mine], preference_cost=900)

    def served_by(vehicle: int, cost: int) -> dict:
        steps = [{"type": "job", "id": job["id"]}]
        route = {"vehicle": vehicle, "cost": cost, "steps": steps, **NO_WORK}
        return {"code": 0, "routes": [route], "unassigned": [], "summary": {"cost": cost}}

    answers = {"SAVINGS": served_by(other, 100), ALT_FIRST_SOLUTION: served_by(mine, 500)}
    monkeypatch.setattr(
        "routing.vrp.decompose.solve_isolated",
        lambda p, t, **kw: answers[kw["config"].first_solution],
    )
    assert solve_large(problem, 3)["routes"][0]["vehicle"] == mine


def test_a_small_problem_solved_by_two_searches_is_a_feasible_plan(without_pyvrp):
    problem = office_day(60, seed=8)
    served_once(problem, solved_large(problem, 2.0))


def test_a_job_goes_where_a_vehicle_can_serve_it():
    problem = office_day(300, seed=9)
    # Only the last vehicle has the skill: wherever its cluster is, the job goes there.
    problem["vehicles"][-1]["skills"] = [1]
    for vehicle in problem["vehicles"][:-1]:
        vehicle["skills"] = []
    problem["jobs"][0]["skills"] = [1]
    problem["jobs"][1]["skills"] = [2]  # nobody has it
    clusters = partition(whole_problem(problem))
    assert len(clusters) > 1
    last = len(problem["vehicles"]) - 1
    assert 0 in next(c for c in clusters if last in c.vehicles).jobs
    # Even when one cluster must take everything, it gets the one vehicle with the skill.
    (single,) = partition(whole_problem(problem), most=1)
    assert last in single.vehicles
    result = solved_large(problem, 4.0)
    served_once(problem, result)
    assert {"id": 2, "type": "job", "location_index": 2, "reason": REASON_SKILLS} in (
        result["unassigned"]
    )


@pytest.mark.slow
def test_a_thousand_stops_within_the_limit():
    problem = office_day(1000, seed=7)
    result = solved_large(problem, 30.0)
    served_once(problem, result)
    assert result["summary"]["unassigned"] == 0

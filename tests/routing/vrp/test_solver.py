"""The routing solver: VROOM-format problems in, feasible plans out, malformed input refused."""

from __future__ import annotations

import copy
import json
import math
import os
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.solomon import DATA_DIR, gap, read_bks, read_instance, route_distance, to_vroom
from routing.vrp.answers import REASON_CAPACITY, REASON_LOCKED, REASON_SKILLS, REASON_WINDOW
from routing.vrp.cli import routing_cli
from routing.vrp.model import STATUS_RESULTS, SearchConfig
from routing.vrp.parse import MAX_MATRIX_CELLS, MAX_NODES
from routing.vrp.solve import evaluate, solve, solve_isolated
from tests.support.fakes.osrm import FakeOsrm
from tests.support.vrp_checker import check

# Greedy descent stops at its first local optimum: these small problems need no more.
QUICK = SearchConfig(metaheuristic="GREEDY_DESCENT")


def line_problem(positions: list[int], **extra) -> dict:
    """Depot at 0 and one job per position on a line; 1 unit of travel = 1 s = 10 m."""
    places = [0, *positions]
    size = len(places)
    problem = {
        "vehicles": [{"id": 1, "start_index": 0, "end_index": 0}],
        "jobs": [{"id": 10 + i, "location_index": i + 1} for i in range(len(positions))],
        "matrices": {
            "car": {
                "durations": [
                    [abs(places[a] - places[b]) for b in range(size)] for a in range(size)
                ],
                "distances": [
                    [10 * abs(places[a] - places[b]) for b in range(size)] for a in range(size)
                ],
            }
        },
    }
    problem.update(extra)
    return problem


def solved(problem: dict, time_limit_s: float = 1.0, config: SearchConfig = QUICK) -> dict:
    """Solve, and insist on a clean answer that the independent checker accepts."""
    result = solve(problem, time_limit_s, config)
    assert result["code"] == 0, result
    assert check(problem, result) == []
    return result


def route_of(result: dict, vehicle: int) -> list[int]:
    route = next(r for r in result["routes"] if r["vehicle"] == vehicle)
    return [s["id"] for s in route["steps"] if s["type"] == "job"]


def step_of(result: dict, kind: str, item: int) -> dict:
    steps = (s for r in result["routes"] for s in r["steps"])
    return next(s for s in steps if s["type"] == kind and s.get("id") == item)


# --- Behaviour on hand-made problems ---------------------------------------------------------


def test_a_single_route_visits_a_line_in_order_with_consistent_figures():
    result = solved(line_problem([10, 20, 30]), config=SearchConfig())
    assert route_of(result, 1) in ([10, 11, 12], [12, 11, 10])
    route = result["routes"][0]
    assert route["cost"] == route["duration"] == 60 and route["distance"] == 600
    assert result["summary"]["cost"] == 60 and result["summary"]["unassigned"] == 0
    assert set(result["summary"]["computing_times"]) == {"loading", "solving"}


def test_time_windows_decide_the_order():
    problem = line_problem([10, 20, 30])
    problem["jobs"][2]["time_windows"] = [[0, 30]]  # the far one first, straight there
    problem["jobs"][1]["service"] = 5  # (serving the middle one first would be too late)
    problem["jobs"][0]["time_windows"] = [[100, 200]]  # the near one last
    result = solved(problem)
    assert route_of(result, 1) == [12, 11, 10]
    assert step_of(result, "job", 12)["arrival"] == 30


def test_a_job_with_several_windows_is_served_in_a_reachable_one():
    problem = line_problem([50], vehicles=[{"id": 1, "start_index": 0, "time_window": [0, 1000]}])
    problem["jobs"][0].update(service=30, time_windows=[[0, 20], [300, 310], [600, 700]])
    result = solved(problem)
    step = step_of(result, "job", 10)
    assert 300 <= step["arrival"] + step["waiting_time"] <= 310
    # The vehicle leaves as late as the window allows instead of waiting at the door.
    assert result["routes"][0]["steps"][0]["arrival"] == 250
    assert step["waiting_time"] == 0


def test_a_break_is_taken_inside_its_window():
    vehicle = {
        "id": 1,
        "start_index": 0,
        "end_index": 0,
        "time_window": [0, 1000],
        "breaks": [{"id": 5, "time_windows": [[100, 120]], "service": 60}],
    }
    problem = line_problem([30, 60, 90], vehicles=[vehicle])
    for job in problem["jobs"]:
        job["service"] = 40
    result = solved(problem)
    brk = step_of(result, "break", 5)
    assert 100 <= brk["arrival"] + brk["waiting_time"] <= 120 and brk["service"] == 60
    assert "location" not in brk and "location_index" not in brk


def test_skills_choose_the_vehicle_and_missing_skills_leave_a_job_unassigned():
    problem = line_problem([10, 20, 30])
    problem["vehicles"] = [
        {"id": 1, "start_index": 0, "skills": [1]},
        {"id": 2, "start_index": 0, "skills": [1, 7]},
    ]
    problem["jobs"][0]["skills"] = [7]
    problem["jobs"][1]["skills"] = [9]
    result = solved(problem)
    assert 10 in route_of(result, 2)
    assert result["unassigned"] == [
        {"id": 11, "type": "job", "location_index": 2, "reason": REASON_SKILLS}
    ]


def test_capacity_splits_the_work_between_vehicles():
    problem = line_problem([10, 11, 12, 13])
    problem["vehicles"] = [
        {"id": v, "start_index": 0, "end_index": 0, "capacity": [2]} for v in (1, 2)
    ]
    for job in problem["jobs"]:
        job["delivery"] = [1]
    result = solved(problem)
    assert sorted(len(route_of(result, v)) for v in (1, 2)) == [2, 2]
    start = result["routes"][0]["steps"][0]
    assert start["load"] == [2] and result["routes"][0]["steps"][-1]["load"] == [0]
    assert result["summary"]["delivery"] == [4]


def test_priority_decides_which_jobs_are_dropped_and_only_when_needed():
    problem = line_problem([5, 500, -5], vehicles=[{"id": 1, "start_index": 0, "capacity": [2]}])
    for job in problem["jobs"]:
        job["delivery"] = [1]
    problem["jobs"][1]["priority"] = 80  # far away, but important
    result = solved(problem)
    assert route_of(result, 1) == [10, 11]  # the far one, plus the cheap one on the way
    assert [u["id"] for u in result["unassigned"]] == [12]
    problem["jobs"].append({"id": 99, "location_index": 2, "delivery": [3]})
    assert solve(problem, 1, QUICK)["unassigned"][-1]["reason"] == REASON_CAPACITY


def test_a_far_job_is_still_served_when_the_shift_allows():
    problem = line_problem([10, 100_000], vehicles=[{"id": 1, "start_index": 0, "end_index": 0}])
    result = solved(problem)
    assert result["summary"]["unassigned"] == 0 and result["summary"]["cost"] == 200_000


def test_unreachable_windows_are_reported_with_their_reason():
    problem = line_problem([100], vehicles=[{"id": 1, "start_index": 0, "time_window": [0, 500]}])
    problem["jobs"][0]["time_windows"] = [[0, 50]]
    result = solved(problem)
    assert result["unassigned"][0]["reason"] == REASON_WINDOW and not result["routes"]


def test_max_tasks_limits_jobs_per_vehicle():
    problem = line_problem([1, 2, 3, 4, 5])
    problem["vehicles"] = [
        {"id": 1, "start_index": 0, "max_tasks": 2},
        {"id": 2, "start_index": 0, "max_tasks": 2},
    ]
    result = solved(problem)
    assert sorted(len(r["steps"]) - 2 for r in result["routes"]) == [2, 2]
    assert result["summary"]["unassigned"] == 1


def test_routes_without_start_or_end_begin_and_finish_at_a_job():
    problem = line_problem([10, 20], vehicles=[{"id": 1, "end_index": 0}])
    result = solved(problem)
    steps = result["routes"][0]["steps"]
    assert route_of(result, 1) == [11, 10] and steps[0]["location_index"] == 2
    assert result["routes"][0]["duration"] == 20


def test_problems_in_coordinates_get_matrices_from_the_profile():
    office = [126.9779, 37.5663]
    homes = [[126.9800, 37.5700], [126.9850, 37.5650], [126.9700, 37.5600]]
    problem = {
        "vehicles": [{"id": 1, "start": office, "end": office, "profile": "foot"}],
        "jobs": [{"id": i, "location": p, "service": 600} for i, p in enumerate(homes)],
    }
    result = solved(problem)
    assert result["routes"][0]["steps"][1]["location"] in homes
    assert 600 < result["summary"]["duration"] < 3 * 3600  # a walk of some kilometres


def test_coordinates_through_an_osrm_table_and_its_failure():
    office, home = [126.9779, 37.5663], [126.9920, 37.5700]
    problem = {"vehicles": [{"id": 1, "start": office}], "jobs": [{"id": 1, "location": home}]}
    with FakeOsrm(speed_m_s=2.0) as osrm:
        result = solve(problem, 1, QUICK, osrm_url=osrm.url)
        osrm.fail_status = 500
        failed = solve(problem, 1, QUICK, osrm_url=osrm.url)
    assert result["code"] == 0 and 600 < result["routes"][0]["duration"] < 700
    assert failed["code"] == 3 and "OSRM" in failed["error"]


# --- Malformed problems ----------------------------------------------------------------------


def _set(path: str, value):
    """A mutation that sets problem[path] (dotted, with list indices) to value."""

    def mutate(problem: dict) -> None:
        *parents, last = path.split(".")
        node = problem
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str):
    def mutate(problem: dict) -> None:
        *parents, last = path.split(".")
        node = problem
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return mutate


MALFORMED = {
    "fractional duration": (
        _set("matrices.car.durations.0.1", 1.5),
        "matrices.car.durations[0][1]: must be an integer, got 1.5",
    ),
    "negative distance": (
        _set("matrices.car.distances.1.0", -3),
        "matrices.car.distances[1][0]: must be >= 0",
    ),
    "NaN duration": (
        _set("matrices.car.durations.2.1", math.nan),
        "matrices.car.durations[2][1]: must be a finite integer",
    ),
    "infinite service": (_set("jobs.0.service", math.inf), "jobs[0].service: must be a finite"),
    "negative service": (_set("jobs.1.service", -1), "jobs[1].service: must be >= 0"),
    "boolean service": (_set("jobs.0.service", True), "jobs[0].service: must be an integer, got a"),
    "NaN coordinate": (
        _set("jobs.0.location", [math.nan, 37.5]),
        "jobs[0].location: must be finite",
    ),
    "string id": (_set("jobs.0.id", "a"), "jobs[0].id: must be an integer, got a string"),
    "row too short": (_set("matrices.car.durations.1", [0, 1]), "matrices.car.durations[1]: must"),
    "distances of another size": (
        _set("matrices.car.distances", [[0]]),
        "matrices.car.distances: is 1 x 1",
    ),
    "matrix smaller than an index": (
        _set("jobs.2.location_index", 9),
        "matrices.car.durations: is 4 x 4, too small for jobs[2].location_index = 9",
    ),
    "negative index": (_set("jobs.0.location_index", -1), "jobs[0].location_index: must be >= 0"),
    "window end before start": (
        _set("jobs.1.time_windows", [[0, 5], [200, 100]]),
        "jobs[1].time_windows[1]: end 100 before start 200",
    ),
    "shift end before start": (
        _set("vehicles.0.time_window", [50, 10]),
        "vehicles[0].time_window: end 10 before start 50",
    ),
    "empty windows": (_set("jobs.0.time_windows", []), "jobs[0].time_windows: must not be empty"),
    "duplicate job id": (_set("jobs.2.id", 10), "jobs[2].id: duplicate id 10 (also jobs[0])"),
    "duplicate vehicle id": (
        _set("vehicles", [{"id": 1, "start_index": 0}, {"id": 1, "start_index": 0}]),
        "vehicles[1].id: duplicate id 1",
    ),
    "no vehicles": (_set("vehicles", []), "vehicles: at least one vehicle is required"),
    "no start nor end": (_set("vehicles.0", {"id": 1}), "vehicles[0]: needs a start or an end"),
    "no location": (_delete("jobs.1.location_index"), "jobs[1]: needs a location or"),
    "coordinates where indices are needed": (
        _set("jobs.1", {"id": 11, "location": [127.0, 37.5]}),
        "jobs[1].location_index: required when matrices are given",
    ),
    "no matrices for the profile": (
        _set("vehicles.0.profile", "bike"),
        "vehicles[0].profile: no matrices for 'bike' (given: car)",
    ),
    "no durations": (_delete("matrices.car.durations"), "matrices.car.durations: required"),
    "costs of another size": (
        _set("matrices.car.costs", [[0, 1], [1, 0]]),
        "matrices.car.costs: is 2 x 2, durations 4 x 4",
    ),
    "capacity of another size": (
        _set("jobs.0.delivery", [1, 2]),
        "vehicles[0].capacity: has 1 values, jobs[0].delivery has 2",
    ),
    "priority above 100": (_set("jobs.0.priority", 101), "jobs[0].priority: must be <= 100"),
    "unsupported matrix": (_set("matrix", [[0]]), "matrix: not supported"),
    "shipment without delivery": (
        _set("shipments", [{"pickup": {"id": 1, "location_index": 1}}]),
        "shipments[0].delivery: required",
    ),
    "a shift too short to get home": (
        _set("vehicles.0", {"id": 1, "start_index": 1, "end_index": 3, "time_window": [0, 5]}),
        "vehicles[0].time_window: too short for the trip from start to end (20 s)",
    ),
    "a break outside the shift": (
        _set(
            "vehicles.0.breaks",
            [{"id": 1, "time_windows": [[5000, 6000]], "service": 10}],
        ),
        "vehicles[0].breaks[0].time_windows: no window fits in the time_window",
    ),
    "too big a matrix": (
        _set("matrices.car.durations", [[0]] * (math.isqrt(MAX_MATRIX_CELLS) + 1)),
        "matrices.car.durations: 5001 x 5001 is too big",
    ),
    "jobs not a list": (_set("jobs", "x"), "jobs: must be a list, got a string"),
}


def malformed_base() -> dict:
    problem = line_problem([10, 20, 30])
    problem["vehicles"][0].update(capacity=[5], time_window=[0, 1000])
    problem["jobs"][1]["time_windows"] = [[0, 500]]
    return problem


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_problems_get_code_2_naming_the_field(case):
    mutate, message = MALFORMED[case]
    problem = malformed_base()
    mutate(problem)
    result = solve(problem, 1, QUICK)
    assert result["code"] == 2, result
    assert result["error"].startswith(message), result["error"]
    assert set(result) == {"code", "error"}


def test_a_problem_that_is_not_an_object_and_unknown_profiles_are_code_2():
    assert solve([1, 2], 1) == {"code": 2, "error": "problem: must be an object, got a list"}
    problem = {"vehicles": [{"id": 1, "start": [127, 37.5], "profile": "boat"}], "jobs": []}
    assert solve(problem, 1)["error"].startswith("vehicles[0].profile: unknown profile 'boat'")


def test_too_many_jobs_for_one_solve_is_code_2():
    problem = {
        "vehicles": [{"id": 1, "start": [127.0, 37.5]}],
        "jobs": [{"id": i, "location": [127.0, 37.5]} for i in range(MAX_NODES)],
    }
    assert solve(problem, 1)["error"].startswith("jobs: too many jobs and vehicles")


def test_an_unexpected_failure_is_code_1_without_details(monkeypatch, caplog):
    def explode(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("routing.vrp.solve.Model", explode)
    assert solve(line_problem([1]), 1) == {"code": 1, "error": "internal error"}
    assert "secret internals" in caplog.text  # logged for us, not shown to the caller


def test_every_search_status_has_an_answer():
    assert sorted(STATUS_RESULTS) == list(range(8))
    assert [s for s, r in STATUS_RESULTS.items() if r is None] == [1, 2, 7]


def test_search_config_is_checked_when_built():
    with pytest.raises(ValueError, match="SearchConfig"):
        SearchConfig(first_solution="CLEVEREST")
    with pytest.raises(ValueError, match="SearchConfig: .*avg_num_removed_visits is 0"):
        SearchConfig(ils_removed=0)
    tuned = SearchConfig(parameters="local_search_operators { use_or_opt: BOOL_FALSE }")
    assert tuned.search_parameters(2.5).time_limit.seconds == 2


# --- Random problems: always a plan, always feasible -------------------------------------


@st.composite
def small_problems(draw) -> dict:
    n_jobs = draw(st.integers(1, 8))
    coords = draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=n_jobs + 1))
    coords = coords[: n_jobs + 1] + [coords[0]] * (n_jobs + 1 - len(coords))
    durations = [[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in coords] for a in coords]
    jobs = []
    for i in range(n_jobs):
        job = {
            "id": i,
            "location_index": i + 1,
            "service": draw(st.integers(0, 30)),
            "delivery": [draw(st.integers(0, 3))],
            "priority": draw(st.integers(0, 100)),
        }
        if draw(st.booleans()):
            start = draw(st.integers(0, 400))
            windows = [[start, start + draw(st.integers(0, 120))]]
            if draw(st.booleans()):
                later = windows[0][1] + draw(st.integers(1, 100))
                windows.append([later, later + draw(st.integers(0, 100))])
            job["time_windows"] = windows
        if draw(st.integers(0, 4)) == 0:
            job["skills"] = [draw(st.integers(1, 2))]
        jobs.append(job)
    vehicles = []
    for k in range(draw(st.integers(1, 3))):
        vehicle = {
            "id": k,
            "capacity": [draw(st.integers(2, 8))],
            "skills": [1 + k % 2],
            "time_window": [0, draw(st.integers(600, 1200))],  # room for the breaks below
        }
        ends = draw(st.sampled_from([["start_index"], ["end_index"], ["start_index", "end_index"]]))
        vehicle.update(dict.fromkeys(ends, 0))
        breaks, earliest = [], 0
        for b in range(draw(st.integers(0, 2))):
            start = earliest + draw(st.integers(0, 150))
            length = draw(st.integers(0, 150))
            service = draw(st.integers(0, 40))
            breaks.append({"id": b, "time_windows": [[start, start + length]], "service": service})
            earliest = start + length + service  # breaks that can follow each other
        if breaks:
            vehicle["breaks"] = breaks
        if draw(st.integers(0, 3)) == 0:
            vehicle["max_tasks"] = draw(st.integers(1, 3))
        vehicles.append(vehicle)
    return {
        "jobs": jobs,
        "vehicles": vehicles,
        "matrices": {
            "car": {"durations": durations, "distances": [[7 * d for d in r] for r in durations]}
        },
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_random_problems_always_get_a_feasible_plan(problem):
    # Greedy descent ends long before the limit; the limit only has to outlast a busy machine.
    result = solve(problem, 2, QUICK)
    assert result["code"] == 0, result
    assert check(problem, result) == []


# --- One process per solve -------------------------------------------------------------------


def crash_in_child(conn, *args) -> None:
    """A solver process that dies like a segfaulting OR-Tools."""
    os.abort()


def hang_in_child(conn, *args) -> None:
    """A solver process that ignores its time limit."""
    time.sleep(60)


def test_solve_isolated_returns_the_childs_answer():
    problem = line_problem([10, 20])
    result = solve_isolated(problem, 1, config=QUICK)
    assert result["code"] == 0 and check(problem, result) == []
    assert solve_isolated({"vehicles": []}, 1)["code"] == 2


def test_a_crashing_solver_process_is_code_1_and_the_caller_lives_on():
    result = solve_isolated(line_problem([1]), 1, target=crash_in_child)
    assert result["code"] == 1 and result["error"].startswith("solver process crashed")


def test_a_hanging_solver_process_is_killed_after_limit_and_grace():
    began = time.monotonic()
    result = solve_isolated(line_problem([1]), 0.5, grace_s=1.0, target=hang_in_child)
    assert result == {"code": 1, "error": "solver did not finish in time"}
    assert time.monotonic() - began < 5


# --- Command line ----------------------------------------------------------------------------


def test_cli_solves_a_problem_file(tmp_path):
    problem_file = tmp_path / "problem.json"
    problem_file.write_text(json.dumps(line_problem([10, 20])))
    runner = CliRunner()
    result = runner.invoke(routing_cli, ["solve", str(problem_file), "--time-limit", "0.5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["cost"] == 40

    output = tmp_path / "solution.json"
    result = runner.invoke(routing_cli, ["solve", "-", "-o", str(output)], input="{not json")
    assert result.exit_code == 2
    assert json.loads(output.read_text())["error"].startswith("problem: not valid JSON")


# --- Solomon -------------------------------------------------------------------------------


@pytest.mark.skipif(not (DATA_DIR / "solomon").is_dir(), reason="no ../shared/data/solomon")
def test_solomon_c101_is_feasible_and_near_the_best_known():
    instance = read_instance(DATA_DIR / "solomon" / "C101.txt")
    problem = to_vroom(instance)
    began = time.monotonic()
    result = solve(problem, 2.0)  # the default SearchConfig, stopped by its time limit
    assert time.monotonic() - began < 3.0
    assert result["code"] == 0 and result["summary"]["unassigned"] == 0
    assert check(problem, result) == []
    best = read_bks(DATA_DIR / "solomon_bks.csv")["C101"]
    assert gap(route_distance(instance, result), best) < 10.0


def test_solomon_reader_and_conversion(tmp_path):
    text = (
        "T1\n\nVEHICLE\nNUMBER     CAPACITY\n  2         50\n\nCUSTOMER\n"
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n \n"
        "    0      0         0          0          0       100          0\n"
        "    1      3         4         10         5        50         10\n"
    )
    path = tmp_path / "T1.txt"
    path.write_text(text.replace("\n", "\r\n"))
    instance = read_instance(path)
    assert (instance.name, instance.vehicles, instance.capacity) == ("T1", 2, 50)
    problem = to_vroom(instance)
    assert problem["matrices"]["car"]["durations"][0][1] == 500
    assert problem["jobs"] == [
        {
            "id": 1,
            "location_index": 1,
            "service": 1000,
            "delivery": [10],
            "time_windows": [[500, 5000]],
        }
    ]
    result = solved(problem)
    assert route_distance(instance, result) == 10.0
    original = copy.deepcopy(problem)
    solve(problem, 0.2, QUICK)
    assert problem == original  # the solver never changes its input


# --- Dispatcher extensions: preferences, current routes, locks ----------------------------------


def two_vehicle_line(shift: list[int] | None = None) -> dict:
    """Jobs at 10, 20 (left) and 40, 50; vehicle 1 at 0, vehicle 2 at 60: each takes its side."""
    problem = line_problem([10, 20, 40, 50, 60])
    problem["jobs"].pop()  # position 60 is vehicle 2's depot
    problem["vehicles"] = [
        {"id": 1, "start_index": 0, "end_index": 0},
        {"id": 2, "start_index": 5, "end_index": 5},
    ]
    if shift:
        for vehicle in problem["vehicles"]:
            vehicle["time_window"] = shift
    return problem


def test_a_preference_moves_a_job_to_its_preferred_vehicle_when_worth_it():
    # Shifts of 90 s: one vehicle cannot do all (100 s); each side costs 40 + 40 s, while
    # serving job 11 from vehicle 2 costs 20 + 80 s.
    problem = two_vehicle_line(shift=[0, 90])
    assert sorted(route_of(solved(problem, config=SearchConfig()), 1)) == [10, 11]
    problem["jobs"][1].update(preferred_vehicles=[2], preference_cost=1000)
    result = solved(problem, config=SearchConfig())
    assert 11 in route_of(result, 2) and route_of(result, 1) == [10]
    # A preference cheaper than the detour does not win.
    problem["jobs"][1]["preference_cost"] = 5
    assert sorted(route_of(solved(problem, config=SearchConfig()), 1)) == [10, 11]


def test_locked_jobs_stay_with_their_vehicle_in_their_order():
    problem = two_vehicle_line()
    # Vehicle 2's current route holds a left-side job, locked, and job 13 before job 12.
    problem["vehicles"][1]["steps"] = [
        {"type": "start"},
        {"type": "job", "id": 13},
        {"type": "job", "id": 10},
        {"type": "job", "id": 12},
        {"type": "end"},
    ]
    for job_id in (10, 12):
        problem["jobs"][job_id - 10]["locked"] = True
    result = solved(problem, config=SearchConfig())
    route = route_of(result, 2)
    # The locked order, against the geography (from 60, job 12 at 40 comes before 10 at 10).
    assert route.index(10) < route.index(12)


def test_current_routes_are_the_starting_point_and_a_lone_insertion_keeps_them():
    problem = two_vehicle_line()
    problem["vehicles"][0]["steps"] = [{"type": "job", "id": 10}, {"type": "job", "id": 11}]
    problem["vehicles"][1]["steps"] = [{"type": "job", "id": 13}, {"type": "job", "id": 12}]
    for job in problem["jobs"]:
        job["locked"] = True
    urgent = {"id": 99, "location_index": 2, "service": 5, "priority": 100}
    problem["jobs"].append(urgent)  # at position 20, beside job 11
    result = solved(problem, config=SearchConfig())
    assert route_of(result, 2) == [13, 12]
    assert route_of(result, 1) in ([10, 11, 99], [10, 99, 11])


def test_a_locked_job_that_cannot_be_served_is_dropped_with_the_reason():
    problem = two_vehicle_line()
    problem["vehicles"][1].update(skills=[], steps=[{"type": "job", "id": 12}])
    problem["jobs"][2].update(locked=True, skills=[4])
    result = solved(problem)
    assert result["unassigned"][0] == {
        "id": 12,
        "type": "job",
        "location_index": 3,
        "reason": REASON_LOCKED,
    }


EXTENSION_ERRORS = {
    "unknown preferred vehicle": (
        {"jobs": {0: {"preferred_vehicles": [7], "preference_cost": 10}}},
        "jobs[0].preferred_vehicles: unknown vehicle 7",
    ),
    "negative preference cost": (
        {"jobs": {0: {"preference_cost": -1}}},
        "jobs[0].preference_cost: must be >= 0",
    ),
    "lock without steps": ({"jobs": {1: {"locked": True}}}, "jobs[1].locked: a locked job must"),
    "lock not a boolean": ({"jobs": {1: {"locked": 1}}}, "jobs[1].locked: must be true or false"),
    "step of an unknown job": (
        {"vehicles": {0: {"steps": [{"type": "job", "id": 77}]}}},
        "vehicles[0].steps: names job 77, which is not in jobs",
    ),
    "step of a job twice": (
        {"vehicles": {0: {"steps": [{"type": "job", "id": 10}, {"type": "job", "id": 10}]}}},
        "vehicles[0].steps: names job 10 again",
    ),
    "step of an unknown type": (
        {"vehicles": {0: {"steps": [{"type": "pickup", "id": 10}]}}},
        "vehicles[0].steps[0].type: must be one of",
    ),
}


@pytest.mark.parametrize("case", list(EXTENSION_ERRORS), ids=list(EXTENSION_ERRORS))
def test_malformed_extensions_get_code_2_naming_the_field(case):
    changes, message = EXTENSION_ERRORS[case]
    problem = malformed_base()
    for key, entries in changes.items():
        for index, fields in entries.items():
            problem[key][index].update(fields)
    result = solve(problem, 1.0, QUICK)
    assert result["code"] == 2 and result["error"].startswith(message), result


def test_evaluate_times_given_routes_and_flags_what_is_late():
    vehicle = {
        "id": 1,
        "start_index": 0,
        "end_index": 0,
        "time_window": [0, 100],
        "breaks": [{"id": 5, "time_windows": [[25, 40]], "service": 10}],
        "steps": [{"type": "job", "id": 12}, {"type": "job", "id": 10}],
    }
    problem = line_problem([10, 20, 30], vehicles=[vehicle])
    problem["jobs"][0]["time_windows"] = [[0, 40]]  # job 10 at 10, reached only at 50 + break
    result = evaluate(problem)
    assert result["code"] == 0 and result["unassigned"][0]["id"] == 11
    steps = result["routes"][0]["steps"]
    assert [s["type"] for s in steps] == ["start", "break", "job", "job", "end"]
    # The break's window opens on the way to job 12: taken there at 25, job 12 at 40, then
    # 20 s to job 10 at 60, 20 s after its window.
    assert steps[1]["arrival"] == 25 and steps[2]["arrival"] == 40 and steps[3]["arrival"] == 60
    assert steps[3]["violations"] == [{"cause": "delay", "duration": 20}]
    assert steps[4]["arrival"] == 70 and steps[4]["violations"] == []
    vehicle["time_window"] = [0, 65]
    assert evaluate(problem)["routes"][0]["steps"][-1]["violations"] == [
        {"cause": "delay", "duration": 5}
    ]
    assert evaluate({"vehicles": []})["code"] == 2


# Found by the search's property test: locked jobs 0, 1, 3 with 1 unservable in between.
DROPPED_IN_THE_MIDDLE = json.loads(
    '{"jobs":[{"id":0,"location_index":1,"service":20,"delivery":[2],"priority":69,"time_windows":[[378,479],[561,561]],"locked":true},{"id":1,"location_index":2,"service":20,"delivery":[0],"priority":19,"time_windows":[[263,351]],"locked":true},{"id":2,"location_index":3,"service":29,"delivery":[2],"priority":61,"locked":false},{"id":3,"location_index":4,"service":20,"delivery":[1],"priority":94,"time_windows":[[212,328],[369,371]],"locked":true}],"vehicles":[{"id":0,"capacity":[4],"skills":[1],"time_window":[0,834],"end_index":0,"breaks":[{"id":0,"time_windows":[[83,187]],"service":25},{"id":1,"time_windows":[[312,354]],"service":38}],"steps":[{"type":"job","id":0},{"type":"job","id":1},{"type":"job","id":2},{"type":"job","id":3}]}],"matrices":{"car":{"durations":[[0,49,20,44,77],[49,0,39,13,42],[20,39,0,52,57],[44,13,52,0,55],[77,42,57,55,0]],"distances":[[0,343,140,308,539],[343,0,273,91,294],[140,273,0,364,399],[308,91,364,0,385],[539,294,399,385,0]]}}}'
)


def test_a_dropped_locked_job_does_not_free_its_neighbours_order():
    problem = copy.deepcopy(DROPPED_IN_THE_MIDDLE)
    for metaheuristic in ("GUIDED_LOCAL_SEARCH", "ITERATED_LOCAL_SEARCH"):
        result = solve(problem, 1.0, SearchConfig(metaheuristic=metaheuristic))
        assert result["code"] == 0 and check(problem, result) == []

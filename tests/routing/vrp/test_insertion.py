"""Fitting one job into routes as they stand: the cheapest place in time, never another late."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.vrp.insertion import LATE_OTHERS, LATE_UNREACHABLE, insert_into_routes
from routing.vrp.solve import evaluate

NEW = 99


def line(n: int) -> list[list[int]]:
    """Places 0..n-1 on a line, 100 s apart; place 0 is the depot."""
    return [[100 * abs(i - j) for j in range(n)] for i in range(n)]


def problem(
    routes: dict[int, list[int]],
    places: dict[int, int],
    *,
    windows: dict[int, list[int]] | None = None,
    shift: tuple[int, int] = (0, 10_000),
    size: int = 10,
    **new_job,
) -> dict:
    """Jobs at `places` (job id -> matrix index), vehicles with `routes`, and the new job 99."""
    windows = windows or {}
    jobs = [
        {"id": job_id, "location_index": index, "service": 10}
        | ({"time_windows": [windows[job_id]]} if job_id in windows else {})
        for job_id, index in places.items()
    ]
    jobs.append({"id": NEW, "location_index": new_job.pop("at"), "service": 10} | new_job)
    vehicles = [
        {
            "id": vehicle_id,
            "start_index": 0,
            "end_index": 0,
            "time_window": list(shift),
            "steps": [{"type": "job", "id": job_id} for job_id in route],
        }
        for vehicle_id, route in routes.items()
    ]
    return {"jobs": jobs, "vehicles": vehicles, "matrices": {"car": {"durations": line(size)}}}


def timed(data: dict, vehicle: int | None = None, after: int | None = None) -> dict[int, dict]:
    """Every job's step of the routes timed by evaluate(), with the new job placed if told."""
    for v in data["vehicles"]:
        if v["id"] == vehicle:
            ids = [s["id"] for s in v["steps"]]
            at = 0 if after is None else ids.index(after) + 1
            v["steps"] = [{"type": "job", "id": i} for i in [*ids[:at], NEW, *ids[at:]]]
    answer = evaluate(data)
    return {s["id"]: s for r in answer["routes"] for s in r["steps"] if s["type"] == "job"}


def late(step: dict) -> int:
    """Seconds an evaluated step is late."""
    return sum(v["duration"] for v in step.get("violations", []))


def test_the_job_goes_where_it_adds_the_least_travel():
    data = problem({1: [1, 3], 2: []}, {1: 1, 3: 3}, at=2)
    insertion = insert_into_routes(data, NEW)
    assert (insertion.vehicle, insertion.after) == (1, 1)
    assert insertion.cost == 0 and insertion.late_by == 0 and insertion.late_reason is None
    assert timed(data, 1, 1)[NEW]["arrival"] == insertion.begin


def test_no_other_stop_becomes_late():
    # Between 1 and 3 is cheapest, but job 3 must begin by 310: it goes after 3.
    data = problem({1: [1, 3]}, {1: 1, 3: 3}, windows={3: [0, 310]}, at=2)
    insertion = insert_into_routes(data, NEW)
    assert (insertion.vehicle, insertion.after) == (1, 3)
    assert not any(late(step) for step in timed(data, 1, 3).values())


def test_the_preferred_vehicle_wins_unless_the_detour_costs_more():
    data = problem({1: [2], 2: []}, {2: 2}, at=2, preferred_vehicles=[2])  # 2: 400 s away
    data["jobs"][-1]["preference_cost"] = 500
    assert insert_into_routes(data, NEW).vehicle == 2
    data["jobs"][-1]["preference_cost"] = 300
    assert insert_into_routes(data, NEW).vehicle == 1


def test_out_of_reach_in_time_it_is_served_earliest_and_late_with_the_reason():
    data = problem({1: [1, 2], 2: [6]}, {1: 1, 2: 2, 6: 6}, at=5, time_windows=[[0, 200]])
    insertion = insert_into_routes(data, NEW)
    assert (insertion.vehicle, insertion.after) == (2, None)  # at 500, before job 6
    assert insertion.begin == 500 and insertion.late_by == 300
    assert insertion.late_reason == LATE_UNREACHABLE


def test_in_time_only_by_making_another_late_it_is_late_and_says_so():
    # First on vehicle 1 would be in time but job 3 (due by 300) would then be late.
    data = problem({1: [3]}, {3: 3}, windows={3: [0, 300]}, at=1, time_windows=[[0, 100]])
    insertion = insert_into_routes(data, NEW)
    assert insertion.after == 3 and insertion.late_reason == LATE_OTHERS
    assert insertion.begin == 510


def test_none_when_every_place_would_overrun_the_shift():
    data = problem({1: [4]}, {4: 4}, at=9, shift=(0, 1000))
    assert insert_into_routes(data, NEW) is None


def test_a_full_vehicle_is_passed_over():
    data = problem({1: [1], 2: [8]}, {1: 1, 8: 8}, at=2)
    for job in data["jobs"]:
        job["delivery"] = [1]
    data["vehicles"][0]["capacity"] = [1]
    data["vehicles"][1]["capacity"] = [2]
    assert insert_into_routes(data, NEW).vehicle == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=8, unique=True),
    st.integers(1, 9),
    st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 1500)), min_size=8, max_size=8),
    st.integers(2, 3),
    st.integers(0, 1500),
)
def test_the_place_found_keeps_every_other_stop_as_it_was(indices, at, raw_windows, vehicles, due):
    places = {index: index for index in indices}
    windows = {j: sorted(w) for j, w in zip(indices, raw_windows, strict=False)}
    routes = {v: indices[v - 1 :: vehicles] for v in range(1, vehicles + 1)}

    def day() -> dict:
        return problem(
            routes, places, windows=windows, at=at, shift=(0, 3000), time_windows=[[0, due]]
        )

    data, before = day(), timed(day())
    insertion = insert_into_routes(data, NEW)
    if insertion is None:
        return
    after = timed(data, insertion.vehicle, insertion.after)
    assert after[NEW]["arrival"] + after[NEW]["waiting_time"] == insertion.begin
    for job_id, step in after.items():
        if job_id == NEW:
            assert late(step) == insertion.late_by
        else:
            assert late(step) <= late(before[job_id])

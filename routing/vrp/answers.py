"""The solution in VROOM's format (see VROOM's docs/API.md): routes, unassigned tasks, summary.

As VROOM's: every step has `setup`, `service`, `waiting_time`, `load` (after the step) and
`violations` (empty unless evaluate() finds the step late); a route's `cost` is its vehicle's
fixed cost + the travel cost (the `costs` matrix's legs, or per_hour x hours + per_km x km,
rounded half up) + per_task_hour x hours of setup and service (rounded down); `distance` is
reported only when the distances are known (not for matrices with durations only).

Answer `code`: 0 ok, 1 internal error, 2 input error, 3 routing error (the road-network matrix
could not be fetched).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing.vrp.problem import (
    JOB,
    Break,
    Job,
    Matrices,
    Place,
    Problem,
    Vehicle,
    leg,
    picked,
)
from routing.vrp.schedule import Step, schedule

# An unassigned job's `reason`: found before the search (routing.vrp.screen), for a job the
# search dropped (GENERIC), or for a job in no vehicle's steps when routes are only timed.
REASON_SKILLS = "no vehicle has the skills"
REASON_CAPACITY = "exceeds the capacity of every vehicle with the skills"
REASON_WINDOW = "no time window reachable"
REASON_GENERIC = "does not fit (time or capacity)"
REASON_LOCKED = "locked to a vehicle that cannot serve it"
REASON_NOT_ROUTED = "not in any vehicle's steps"
REASON_RANGE = "beyond the max_travel_time or max_distance of every vehicle able to serve it"
# Route figures that add up into the summary, in VROOM's order.
ADDED_UP = ("setup", "service", "duration", "waiting_time", "priority")


def _where(place: Place | None, indexed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if place is not None:
        if place.coords is not None:
            out["location"] = list(place.coords)
        if indexed:
            out["location_index"] = place.index
    return out


def reports_distances(problem: Problem) -> bool:
    """Whether answers carry `distance`: the input gave coordinates or distance matrices."""
    return problem.matrices is None or all(
        m.distances is not None for m in problem.matrices.values()
    )


def route_cost(
    vehicle: Vehicle, travel: int, distance: int, task_time: int, legs: int | None
) -> int:
    """VROOM's cost of a route: `legs` is the sum of its costs-matrix legs, when one is given."""
    costs = vehicle.costs
    if legs is None:
        # per_hour x s / 3600 + per_km x m / 1000, rounded half up, in integers.
        legs = (travel * costs.per_hour * 1000 + distance * costs.per_km * 3600 + 1_800_000) // (
            3_600_000
        )
    return costs.fixed + legs + task_time * costs.per_task_hour // 3600


def _distances(steps: list[Step], mats: Matrices) -> tuple[list[int], int]:
    """Cumulated distance per step; breaks on a leg get its distance in proportion to the time."""
    distances = [0] * len(steps)
    if mats.distances is None:
        return distances, 0
    distance, origin, on_leg = 0, steps[0].place, []
    for k, step in enumerate(steps):
        if step.kind == "break":
            on_leg.append(k)
            continue
        leg_distance = leg(mats.distances, origin, step.place)
        leg_time = sum(steps[i].travel for i in on_leg) + step.travel
        done = 0
        for i in on_leg:
            done += steps[i].travel
            distances[i] = distance + (leg_distance * done // leg_time if leg_time else 0)
        distance += leg_distance
        distances[k], origin, on_leg = distance, step.place, []
    return distances, distance


def _legs_cost(steps: list[Step], mats: Matrices) -> int | None:
    """The sum of the route's legs in the costs matrix, None without one."""
    if mats.costs is None:
        return None
    places = [s.place for s in steps if s.kind != "break"]
    return sum(leg(mats.costs, a, b) for a, b in zip(places, places[1:], strict=False))


def _added(amounts: list[list[int]], size: int) -> list[int]:
    return [sum(a[i] for a in amounts) for i in range(size)]


def _route_answer(
    vehicle: Vehicle, steps: list[Step], mats: Matrices, amount_size: int, where: dict[str, bool]
) -> dict[str, Any]:
    """One route in VROOM's shape; a missing start/end is shown at the first/last task."""
    tasks_at = [i for i, s in enumerate(steps) if s.item is not None and s.kind != "break"]
    if steps[0].place is None:
        steps[0].place = steps[tasks_at[0]].place
    if steps[-1].place is None:
        steps[-1].place = steps[tasks_at[-1]].place
    distances, distance = _distances(steps, mats)
    tasks = [steps[k].item for k in tasks_at]
    # Jobs' deliveries are on board from the start (VROOM); everything else loads on the way.
    load = _added([list(t.delivery) for t in tasks if t.kind == JOB], amount_size)
    travel, out_steps = 0, []
    for step, step_distance in zip(steps, distances, strict=True):
        travel += step.travel
        if step.item is not None and step.kind != "break":
            change = zip(load, picked(step.item, amount_size), step.item.delivery, strict=True)
            load = [a + p - d for a, p, d in change]
        entry: dict[str, Any] = {"type": step.kind}
        if step.item is not None:
            entry["id"] = step.item.id
        entry.update(_where(step.place, where["indexed"]))
        entry.update(
            arrival=step.arrival,
            duration=travel,
            setup=step.setup,
            service=step.service,
            waiting_time=step.waiting,
            load=list(load),
        )
        if where["distances"]:
            entry["distance"] = step_distance
        entry["violations"] = [{"cause": "delay", "duration": step.late_by}] if step.late_by else []
        out_steps.append(entry)
    setup = sum(s.setup for s in steps)
    service = sum(s.service for s in steps)
    cost = route_cost(vehicle, travel, distance, setup + service, _legs_cost(steps, mats))
    route: dict[str, Any] = {
        "vehicle": vehicle.id,
        "cost": cost,
        "delivery": _added([list(t.delivery) for t in tasks], amount_size),
        "pickup": _added([list(picked(t, amount_size)) for t in tasks], amount_size),
        "setup": setup,
        "service": service,
        "duration": travel,
        "waiting_time": sum(s.waiting for s in steps),
        "priority": sum(t.priority for t in tasks),
    }
    if where["distances"]:
        route["distance"] = distance
    return {**route, "steps": out_steps, "violations": []}


def summary(
    routes: list[dict[str, Any]],
    unassigned: int,
    amount_size: int,
    distances: bool,
    computing_times: dict[str, int],
) -> dict[str, Any]:
    """VROOM's `summary` of routes in its shape."""
    out: dict[str, Any] = {
        "cost": sum(r["cost"] for r in routes),
        "routes": len(routes),
        "unassigned": unassigned,
        "delivery": _added([r["delivery"] for r in routes], amount_size),
        "pickup": _added([r["pickup"] for r in routes], amount_size),
    }
    out.update({key: sum(r[key] for r in routes) for key in ADDED_UP})
    out["violations"] = [v for r in routes for v in r["violations"]]
    if distances:
        out["distance"] = sum(r["distance"] for r in routes)
    out["computing_times"] = computing_times
    return out


def unassigned_entry(task: Job, reason: str, indexed: bool) -> dict[str, Any]:
    """VROOM's entry for a task left unassigned, with why."""
    return {"id": task.id, "type": task.kind, **_where(task.place, indexed), "reason": reason}


def build_answer(
    problem: Problem,
    mats: Mapping[str, Matrices],
    routes: list[tuple[Vehicle, list[Job], dict[int, list[Break]]]],
    unassigned: list[tuple[Job, str]],
    loading_ms: int,
    solving_ms: int,
) -> dict[str, Any]:
    """The solution in VROOM's shape."""
    where = {"indexed": problem.matrices is not None, "distances": reports_distances(problem)}
    answers = []
    for vehicle, jobs, gaps in routes:
        matrices = mats[vehicle.profile]
        steps = schedule(vehicle, jobs, gaps, matrices.durations)
        answers.append(_route_answer(vehicle, steps, matrices, problem.amount_size, where))
    order = {id(task): i for i, task in enumerate(problem.tasks)}
    times = {"loading": loading_ms, "solving": solving_ms}
    return {
        "code": 0,
        "summary": summary(
            answers, len(unassigned), problem.amount_size, where["distances"], times
        ),
        "unassigned": [
            unassigned_entry(task, reason, where["indexed"])
            for task, reason in sorted(unassigned, key=lambda item: order[id(item[0])])
        ],
        "routes": answers,
    }

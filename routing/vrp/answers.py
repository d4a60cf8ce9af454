"""The solution in VROOM's format (see VROOM's docs/API.md): routes, unassigned jobs, summary.

Answer `code`: 0 ok, 1 internal error, 2 input error, 3 routing error (the road-network matrix
could not be fetched).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing.vrp.problem import Break, Job, Matrices, Place, Problem, Vehicle, leg
from routing.vrp.schedule import Step, schedule

# An unassigned job's `reason`: found before the search (routing.vrp.screen), for a job the
# search dropped (GENERIC), or for a job in no vehicle's steps when routes are only timed.
REASON_SKILLS = "no vehicle has the skills"
REASON_CAPACITY = "exceeds the capacity of every vehicle with the skills"
REASON_WINDOW = "no time window reachable"
REASON_GENERIC = "does not fit (time or capacity)"
REASON_LOCKED = "locked to a vehicle that cannot serve it"
REASON_NOT_ROUTED = "not in any vehicle's steps"


def _where(place: Place | None, indexed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if place is not None:
        if place.coords is not None:
            out["location"] = list(place.coords)
        if indexed:
            out["location_index"] = place.index
    return out


def _route_answer(
    vehicle: Vehicle, steps: list[Step], mats: Matrices, amount_size: int, indexed: bool
) -> dict[str, Any]:
    """One route in VROOM's shape; a missing start/end is shown at the first/last job."""
    jobs_at = [i for i, s in enumerate(steps) if s.kind == "job"]
    if steps[0].place is None:
        steps[0].place = steps[jobs_at[0]].place
    if steps[-1].place is None:
        steps[-1].place = steps[jobs_at[-1]].place
    # Cumulated distance; breaks on a leg get its distance in proportion to the time travelled.
    distances = [0] * len(steps)
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
    delivered = [0] * amount_size
    for k in jobs_at:
        delivered = [a + b for a, b in zip(delivered, steps[k].item.delivery, strict=True)]
    load, travel, out_steps = list(delivered), 0, []
    for step, step_distance in zip(steps, distances, strict=True):
        travel += step.travel
        if step.kind == "job":
            load = [a - b for a, b in zip(load, step.item.delivery, strict=True)]
        entry: dict[str, Any] = {"type": step.kind}
        if step.item is not None:
            entry["id"] = step.item.id
        entry.update(_where(step.place, indexed))
        entry.update(
            arrival=step.arrival,
            duration=travel,
            distance=step_distance,
            service=step.service,
            waiting_time=step.waiting,
            load=list(load),
        )
        if step.late_by:
            entry["violations"] = [{"cause": "delay", "duration": step.late_by}]
        out_steps.append(entry)
    return {
        "vehicle": vehicle.id,
        "cost": travel,
        "service": sum(s.service for s in steps),
        "duration": travel,
        "waiting_time": sum(s.waiting for s in steps),
        "distance": distance,
        "delivery": delivered,
        "steps": out_steps,
    }


def build_answer(
    problem: Problem,
    mats: Mapping[str, Matrices],
    routes: list[tuple[Vehicle, list[Job], dict[int, list[Break]]]],
    unassigned: list[tuple[Job, str]],
    loading_ms: int,
    solving_ms: int,
) -> dict[str, Any]:
    """The solution in VROOM's shape."""
    indexed = problem.matrices is not None
    answers = []
    for vehicle, jobs, gaps in routes:
        matrices = mats[vehicle.profile]
        steps = schedule(vehicle, jobs, gaps, matrices.durations)
        answers.append(_route_answer(vehicle, steps, matrices, problem.amount_size, indexed))
    delivery = [0] * problem.amount_size
    for route in answers:
        delivery = [a + b for a, b in zip(delivery, route["delivery"], strict=True)]
    order = {job.id: i for i, job in enumerate(problem.jobs)}
    return {
        "code": 0,
        "summary": {
            "cost": sum(r["cost"] for r in answers),
            "routes": len(answers),
            "unassigned": len(unassigned),
            "delivery": delivery,
            "service": sum(r["service"] for r in answers),
            "duration": sum(r["duration"] for r in answers),
            "waiting_time": sum(r["waiting_time"] for r in answers),
            "distance": sum(r["distance"] for r in answers),
            "computing_times": {"loading": loading_ms, "solving": solving_ms},
        },
        "unassigned": [
            {"id": job.id, "type": "job", **_where(job.place, indexed), "reason": reason}
            for job, reason in sorted(unassigned, key=lambda item: order[item[0].id])
        ],
        "routes": answers,
    }

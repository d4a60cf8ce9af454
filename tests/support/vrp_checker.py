"""An independent feasibility checker for VROOM-format solutions (shares no code with the solver).

Semantics checked (VROOM's docs/API.md plus routing/vrp/problem.py's stated conventions): every
job once (routed or unassigned); a step's service starts (arrival + waiting_time) inside one of its
windows; arrival[k] = arrival[k-1] + waiting[k-1] + service[k-1] + travel[k]; travel between
the same place is 0 and so is travel from a vehicle without start / to a vehicle without end;
a break may fall during a leg (its travel is the growth of `duration`), and the travel of the
breaks on a leg plus that of the step ending it is the leg's; loads start at the route's total
delivery and fall at each job; skills, max_tasks, shifts; figures of routes and summary add up.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from routing.vrp.matrix import matrices_from_points


class _Travel:
    """Durations and distances between the places the problem names."""

    def __init__(self, problem: dict[str, Any]) -> None:
        self.matrices = problem.get("matrices")
        self._cache: dict[tuple, tuple[int, int]] = {}

    def place(self, obj: dict[str, Any], coords_key: str, index_key: str) -> Any:
        if self.matrices is not None:
            return obj.get(index_key)
        coords = obj.get(coords_key)
        return None if coords is None else tuple(coords)

    def between(self, profile: str, a: Any, b: Any) -> tuple[int, int]:
        """(duration, distance) from a to b; None is a missing start or end."""
        if a is None or b is None or a == b:
            return 0, 0
        if self.matrices is not None:
            m = self.matrices[profile]
            return m["durations"][a][b], m["distances"][a][b]
        key = (profile, a, b)
        if key not in self._cache:
            durations, distances = matrices_from_points([a, b], profile)
            self._cache[key] = int(durations[0, 1]), int(distances[0, 1])
        return self._cache[key]


def _in_windows(t: int, windows: list[list[int]] | None) -> bool:
    return not windows or any(start <= t <= end for start, end in windows)


def check(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """Return every violation found in the solution of the problem (empty: feasible)."""
    if solution.get("code") != 0:
        return [f"code {solution.get('code')}: {solution.get('error')}"]
    errors: list[str] = []
    jobs = {job["id"]: job for job in problem.get("jobs", [])}
    vehicles = {v["id"]: v for v in problem["vehicles"]}
    travel = _Travel(problem)
    size = max(
        [len(j.get("delivery", [])) for j in jobs.values()]
        + [len(v.get("capacity", [])) for v in vehicles.values()]
    )
    seen: Counter[int] = Counter(u["id"] for u in solution.get("unassigned", []))
    used: Counter[int] = Counter()
    totals = Counter()
    delivery_total = [0] * size
    for route in solution.get("routes", []):
        vid = route.get("vehicle")
        if vid not in vehicles:
            errors.append(f"route of unknown vehicle {vid}")
            continue
        used[vid] += 1
        route_errors, sums = _check_route(vehicles[vid], jobs, route, travel, size)
        errors += [f"vehicle {vid}: {e}" for e in route_errors]
        seen.update(sums.pop("job_ids"))
        delivery_total = [
            a + b for a, b in zip(delivery_total, route.get("delivery", []), strict=False)
        ]
        totals.update(sums)
    errors += [f"vehicle {vid} has {n} routes" for vid, n in used.items() if n > 1]
    errors += [f"job {jid} appears {seen[jid]} times" for jid in jobs if seen[jid] != 1]
    errors += [f"unknown job {jid} in the solution" for jid in seen if jid not in jobs]
    summary = solution.get("summary", {})
    expected = {
        "cost": totals["cost"],
        "duration": totals["duration"],
        "distance": totals["distance"],
        "service": totals["service"],
        "waiting_time": totals["waiting_time"],
        "routes": len(solution.get("routes", [])),
        "unassigned": len(solution.get("unassigned", [])),
        "delivery": delivery_total,
    }
    for key, value in expected.items():
        if summary.get(key) != value:
            errors.append(f"summary.{key} is {summary.get(key)}, routes add up to {value}")
    return errors + _check_locks(problem, solution)


def _check_locks(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """Locked jobs that are served ride the vehicle whose steps name them, in that order."""
    locked = {job["id"] for job in problem.get("jobs", []) if job.get("locked")}
    served = {
        route["vehicle"]: [s["id"] for s in route["steps"] if s["type"] == "job"]
        for route in solution.get("routes", [])
    }
    errors = []
    for vehicle in problem["vehicles"]:
        steps = vehicle.get("steps", [])
        wanted = [s["id"] for s in steps if s.get("type") == "job" and s["id"] in locked]
        route = served.get(vehicle["id"], [])
        kept = [job_id for job_id in route if job_id in locked]
        elsewhere = [
            job_id
            for vid, jobs in served.items()
            if vid != vehicle["id"]
            for job_id in jobs
            if job_id in wanted
        ]
        if elsewhere:
            errors.append(f"locked jobs {elsewhere} left vehicle {vehicle['id']}")
        if kept != [job_id for job_id in wanted if job_id in route]:
            errors.append(f"vehicle {vehicle['id']}: locked jobs out of order {kept}")
    return errors


def _check_route(
    vehicle: dict[str, Any],
    jobs: dict[int, dict[str, Any]],
    route: dict[str, Any],
    travel: _Travel,
    size: int,
) -> tuple[list[str], dict[str, Any]]:
    errors: list[str] = []
    steps = route.get("steps", [])
    profile = vehicle.get("profile", "car")
    if len(steps) < 2 or steps[0]["type"] != "start" or steps[-1]["type"] != "end":
        return ["steps must run from start to end"], {"job_ids": []}
    vehicle_start = travel.place(vehicle, "start", "start_index")
    vehicle_end = travel.place(vehicle, "end", "end_index")
    breaks = {b["id"]: b for b in vehicle.get("breaks", [])}

    # Where each step is, from the problem (never from the answer, except for breaks).
    places: list[Any] = []
    job_ids: list[int] = []
    for k, step in enumerate(steps):
        kind = step["type"]
        if kind == "start":
            places.append(vehicle_start)
        elif kind == "end":
            places.append(vehicle_end)
        elif kind == "job":
            job = jobs.get(step.get("id"))
            if job is None:
                errors.append(f"step {k}: unknown job {step.get('id')}")
                places.append(None)
                continue
            job_ids.append(job["id"])
            places.append(travel.place(job, "location", "location_index"))
        elif kind == "break":
            places.append(None)
        else:
            errors.append(f"step {k}: unknown type {kind!r}")
            places.append(None)

    # Skills, task count, capacity and loads.
    skills = set(vehicle.get("skills", []))
    for jid in job_ids:
        if not set(jobs[jid].get("skills", [])) <= skills:
            errors.append(f"job {jid}: lacks skills")
    if "max_tasks" in vehicle and len(job_ids) > vehicle["max_tasks"]:
        errors.append(f"{len(job_ids)} jobs, max_tasks {vehicle['max_tasks']}")
    delivered = [0] * size
    for jid in job_ids:
        delivered = [
            a + b for a, b in zip(delivered, jobs[jid].get("delivery", [0] * size), strict=True)
        ]
    capacity = vehicle.get("capacity", [])
    if size and any(d > c for d, c in zip(delivered, capacity, strict=False)):
        errors.append(f"delivers {delivered}, capacity {capacity}")
    if route.get("delivery") != delivered:
        errors.append(f"route delivery {route.get('delivery')}, jobs add up to {delivered}")
    load = list(delivered)
    for k, step in enumerate(steps):
        if step["type"] == "job" and step.get("id") in jobs:
            load = [
                a - b
                for a, b in zip(load, jobs[step["id"]].get("delivery", [0] * size), strict=True)
            ]
        if step.get("load") != load:
            errors.append(f"step {k}: load {step.get('load')}, expected {load}")

    # Time and distance arithmetic, windows, shift, breaks.
    shift = vehicle.get("time_window")
    if shift and not shift[0] <= steps[0]["arrival"] <= shift[1]:
        errors.append(f"starts at {steps[0]['arrival']}, shift {shift}")
    if shift and steps[-1]["arrival"] > shift[1]:
        errors.append(f"ends at {steps[-1]['arrival']}, shift {shift}")
    duration = distance = 0
    origin, on_leg = places[0], 0  # last place reached, travel done since on breaks
    taken: Counter[int] = Counter()
    for k, step in enumerate(steps):
        if k and step["type"] == "break":
            leg_time = step.get("duration", 0) - steps[k - 1].get("duration", 0)
            on_leg += leg_time
            if leg_time < 0 or not steps[k - 1]["distance"] <= step["distance"]:
                errors.append(f"step {k}: break goes back in duration or distance")
        elif k:
            leg_time, leg_dist = travel.between(profile, origin, places[k])
            leg_time -= on_leg
            if leg_time < 0:
                errors.append(f"step {k}: breaks before it travelled more than the leg")
            origin, on_leg = places[k], 0
            distance += leg_dist
            if steps[k - 1]["distance"] > distance:
                errors.append(f"step {k - 1}: distance beyond the next step's")
        else:
            leg_time = 0
        duration += leg_time
        if k:
            prev = steps[k - 1]
            expected = prev["arrival"] + prev["waiting_time"] + prev["service"] + leg_time
            if step["arrival"] != expected:
                errors.append(f"step {k}: arrival {step['arrival']}, expected {expected}")
        if step.get("duration") != duration:
            errors.append(f"step {k}: duration {step.get('duration')}, expected {duration}")
        if step["type"] != "break" and step.get("distance") != distance:
            errors.append(f"step {k}: distance {step.get('distance')}, expected {distance}")
        if step["waiting_time"] < 0:
            errors.append(f"step {k}: negative waiting_time")
        begin = step["arrival"] + step["waiting_time"]
        if step["type"] == "job" and step.get("id") in jobs:
            job = jobs[step["id"]]
            if step["service"] != job.get("service", 0):
                errors.append(f"job {job['id']}: service {step['service']}")
            if not _in_windows(begin, job.get("time_windows")):
                errors.append(f"job {job['id']}: starts at {begin}, windows {job['time_windows']}")
        elif step["type"] == "break":
            brk = breaks.get(step.get("id"))
            if brk is None:
                errors.append(f"step {k}: unknown break {step.get('id')}")
                continue
            taken[brk["id"]] += 1
            if step["service"] != brk.get("service", 0):
                errors.append(f"break {brk['id']}: service {step['service']}")
            if not _in_windows(begin, brk.get("time_windows")):
                errors.append(
                    f"break {brk['id']}: starts at {begin}, windows {brk['time_windows']}"
                )
        elif step["service"] or step["waiting_time"]:
            errors.append(f"step {k}: {step['type']} with service or waiting")
    errors += [f"break {bid} taken {taken[bid]} times" for bid in breaks if taken[bid] != 1]

    sums = {
        "cost": route.get("cost"),
        "duration": duration,
        "distance": distance,
        "service": sum(s["service"] for s in steps),
        "waiting_time": sum(s["waiting_time"] for s in steps),
    }
    for key in ("duration", "distance", "service", "waiting_time"):
        if route.get(key) != sums[key]:
            errors.append(f"route {key} {route.get(key)}, steps add up to {sums[key]}")
    if route.get("cost") != duration:
        errors.append(f"route cost {route.get('cost')}, travel time {duration}")
    return errors, {**sums, "job_ids": job_ids}

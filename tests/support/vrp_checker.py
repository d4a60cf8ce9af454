"""An independent feasibility checker for VROOM-format solutions (shares no code with the solver).

Semantics checked (VROOM's docs/API.md plus routing/vrp/problem.py's stated conventions): every
task (job, shipment pickup, shipment delivery) once, routed or unassigned with its `type`; a
shipment's pickup and delivery on one vehicle, pickup first, or both unassigned; a step's task
starts (arrival + waiting_time) inside one of its windows; arrival[k] = arrival[k-1] +
waiting[k-1] + setup[k-1] + service[k-1] + travel[k]; a task's setup is spent unless the
previous task (or the vehicle's start) is at the same place; travel between the same place is 0
and so is travel from a vehicle without start / to a vehicle without end; a vehicle's
speed_factor scales each leg to round(d x round(100 / speed_factor) / 100) seconds, half up; a
break may fall during a leg (its travel is the growth of `duration`), and the travel of the
breaks on a leg plus that of the step ending it is the leg's; loads start at the route's jobs'
deliveries, change by pickup - delivery at each task and stay within capacity at every step;
skills, max_tasks, max_travel_time, max_distance, shifts; a route's cost recomputed from the
matrices and the vehicle's costs (fixed + costs-matrix legs or per_hour x h + per_km x km rounded
half up + per_task_hour x task hours rounded down); `distance` absent when the matrices have no
distances; figures of routes and summary add up.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import Any

from routing.vrp.matrix import matrices_from_points


class _Travel:
    """Durations, distances and costs between the places the problem names."""

    def __init__(self, problem: dict[str, Any]) -> None:
        self.matrices = problem.get("matrices")
        self._cache: dict[tuple, tuple[int, int]] = {}

    def has_distances(self) -> bool:
        return self.matrices is None or all("distances" in m for m in self.matrices.values())

    def cost(self, profile: str, a: Any, b: Any) -> int | None:
        """The costs matrix's leg, None without a costs matrix."""
        if self.matrices is None or "costs" not in self.matrices[profile]:
            return None
        return 0 if a is None or b is None or a == b else self.matrices[profile]["costs"][a][b]

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
            return m["durations"][a][b], m["distances"][a][b] if "distances" in m else 0
        key = (profile, a, b)
        if key not in self._cache:
            durations, distances = matrices_from_points([a, b], profile)
            self._cache[key] = int(durations[0, 1]), int(distances[0, 1])
        return self._cache[key]


def _in_windows(t: int, windows: list[list[int]] | None) -> bool:
    return not windows or any(start <= t <= end for start, end in windows)


def _tasks(problem: dict[str, Any], size: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Every task by (type, id), as a job-like dict with `delivery`, `pickup` and `loaded`."""
    zero = [0] * size
    tasks = {}
    for job in problem.get("jobs", []):
        tasks["job", job["id"]] = {
            **job,
            "delivery": job.get("delivery", zero),
            "pickup": job.get("pickup", zero),
            "loaded": job.get("delivery", zero),  # on board from the start
        }
    for shipment in problem.get("shipments", []):
        amount = shipment.get("amount", zero)
        shared = {k: shipment[k] for k in ("skills", "priority") if k in shipment}
        tasks["pickup", shipment["pickup"]["id"]] = {
            **shipment["pickup"],
            **shared,
            "pickup": amount,
            "delivery": zero,
            "loaded": zero,
        }
        tasks["delivery", shipment["delivery"]["id"]] = {
            **shipment["delivery"],
            **shared,
            "pickup": zero,
            "delivery": amount,
            "loaded": zero,
        }
    return tasks


def check(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """Return every violation found in the solution of the problem (empty: feasible)."""
    if solution.get("code") != 0:
        return [f"code {solution.get('code')}: {solution.get('error')}"]
    errors: list[str] = []
    vehicles = {v["id"]: v for v in problem["vehicles"]}
    travel = _Travel(problem)
    size = max(
        [len(j.get(k, [])) for j in problem.get("jobs", []) for k in ("delivery", "pickup")]
        + [len(s.get("amount", [])) for s in problem.get("shipments", [])]
        + [len(v.get("capacity", [])) for v in vehicles.values()]
    )
    tasks = _tasks(problem, size)
    seen: Counter[tuple[str, int]] = Counter(
        (u.get("type"), u["id"]) for u in solution.get("unassigned", [])
    )
    where: dict[tuple[str, int], tuple[int, int]] = {}  # task -> (vehicle, position)
    used: Counter[int] = Counter()
    totals: Counter[str] = Counter()
    amounts = {"delivery": [0] * size, "pickup": [0] * size}
    for route in solution.get("routes", []):
        vid = route.get("vehicle")
        if vid not in vehicles:
            errors.append(f"route of unknown vehicle {vid}")
            continue
        used[vid] += 1
        route_errors, sums = _check_route(vehicles[vid], tasks, route, travel, size)
        errors += [f"vehicle {vid}: {e}" for e in route_errors]
        for position, key in enumerate(sums.pop("tasks")):
            seen[key] += 1
            where[key] = (vid, position)
        for key, total in amounts.items():
            amounts[key] = [a + b for a, b in zip(total, route.get(key, []), strict=False)]
        totals.update(sums)
    errors += [f"vehicle {vid} has {n} routes" for vid, n in used.items() if n > 1]
    errors += [
        f"{kind} {tid} appears {seen[kind, tid]} times"
        for kind, tid in tasks
        if seen[kind, tid] != 1
    ]
    errors += [
        f"unknown {kind} {tid} in the solution" for kind, tid in seen if (kind, tid) not in tasks
    ]
    errors += _check_shipments(problem, where)
    summary = solution.get("summary", {})
    expected: dict[str, Any] = {
        key: totals[key]
        for key in ("cost", "duration", "service", "setup", "waiting_time", "priority")
    }
    expected.update(
        routes=len(solution.get("routes", [])),
        unassigned=len(solution.get("unassigned", [])),
        **amounts,
    )
    if travel.has_distances():
        expected["distance"] = totals["distance"]
    elif "distance" in summary:
        errors.append("summary.distance given, but the matrices have no distances")
    for key, value in expected.items():
        if summary.get(key) != value:
            errors.append(f"summary.{key} is {summary.get(key)}, routes add up to {value}")
    return errors + _check_locks(problem, solution)


def _check_shipments(
    problem: dict[str, Any], where: dict[tuple[str, int], tuple[int, int]]
) -> list[str]:
    """A shipment's pickup and delivery: one vehicle, pickup first; or neither served."""
    errors = []
    for shipment in problem.get("shipments", []):
        pickup = where.get(("pickup", shipment["pickup"]["id"]))
        delivery = where.get(("delivery", shipment["delivery"]["id"]))
        name = f"shipment {shipment['pickup']['id']}/{shipment['delivery']['id']}"
        if (pickup is None) != (delivery is None):
            errors.append(f"{name}: only one half served")
        elif pickup is not None and delivery is not None:
            if pickup[0] != delivery[0]:
                errors.append(f"{name}: pickup on vehicle {pickup[0]}, delivery on {delivery[0]}")
            elif pickup[1] > delivery[1]:
                errors.append(f"{name}: delivered before picked up")
    return errors


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


def _scaled(seconds: int, vehicle: dict[str, Any]) -> int:
    """A leg's duration at the vehicle's speed (the solver's stated convention)."""
    factor = vehicle.get("speed_factor", 1)
    if factor == 1:
        return seconds
    return (seconds * round(100 / factor) + 50) // 100


def _expected_cost(
    vehicle: dict[str, Any], duration: int, distance: int, task_time: int, legs: int | None
) -> int:
    """VROOM's route cost, from the vehicle's costs and the route's figures."""
    costs = {"fixed": 0, "per_hour": 3600, "per_km": 0, "per_task_hour": 0}
    costs.update(vehicle.get("costs", {}))
    if legs is None:
        exact = Fraction(duration * costs["per_hour"], 3600) + Fraction(
            distance * costs["per_km"], 1000
        )
        legs = math.floor(exact + Fraction(1, 2))
    return costs["fixed"] + legs + task_time * costs["per_task_hour"] // 3600


def _check_route(
    vehicle: dict[str, Any],
    tasks: dict[tuple[str, int], dict[str, Any]],
    route: dict[str, Any],
    travel: _Travel,
    size: int,
) -> tuple[list[str], dict[str, Any]]:
    errors: list[str] = []
    steps = route.get("steps", [])
    profile = vehicle.get("profile", "car")
    if len(steps) < 2 or steps[0]["type"] != "start" or steps[-1]["type"] != "end":
        return ["steps must run from start to end"], {"tasks": []}
    vehicle_start = travel.place(vehicle, "start", "start_index")
    vehicle_end = travel.place(vehicle, "end", "end_index")
    breaks = {b["id"]: b for b in vehicle.get("breaks", [])}

    # Where each step is, from the problem (never from the answer, except for breaks).
    places: list[Any] = []
    keys: list[tuple[str, int]] = []
    for k, step in enumerate(steps):
        kind = step["type"]
        if kind == "start":
            places.append(vehicle_start)
        elif kind == "end":
            places.append(vehicle_end)
        elif kind in ("job", "pickup", "delivery"):
            task = tasks.get((kind, step.get("id")))
            if task is None:
                errors.append(f"step {k}: unknown {kind} {step.get('id')}")
                places.append(None)
                continue
            keys.append((kind, task["id"]))
            places.append(travel.place(task, "location", "location_index"))
        elif kind == "break":
            places.append(None)
        else:
            errors.append(f"step {k}: unknown type {kind!r}")
            places.append(None)
    served = [tasks[key] for key in keys]

    # Skills, task count, capacity and loads (within capacity at every step).
    skills = set(vehicle.get("skills", []))
    for key, task in zip(keys, served, strict=True):
        if not set(task.get("skills", [])) <= skills:
            errors.append(f"{key[0]} {key[1]}: lacks skills")
    if "max_tasks" in vehicle and len(keys) > vehicle["max_tasks"]:
        errors.append(f"{len(keys)} tasks, max_tasks {vehicle['max_tasks']}")
    capacity = vehicle.get("capacity", [0] * size)
    for name in ("delivery", "pickup"):
        total = [sum(t[name][i] for t in served) for i in range(size)]
        if route.get(name) != total:
            errors.append(f"route {name} {route.get(name)}, tasks add up to {total}")
    load = [sum(t["loaded"][i] for t in served) for i in range(size)]
    by_step = iter(served)
    for k, step in enumerate(steps):
        if step["type"] in ("job", "pickup", "delivery") and step.get("id") is not None:
            task = next(by_step, None)
            if task is not None:
                load = [
                    a + p - d
                    for a, p, d in zip(load, task["pickup"], task["delivery"], strict=True)
                ]
        if any(a > c or a < 0 for a, c in zip(load, capacity, strict=True)):
            errors.append(f"step {k}: load {load} outside capacity {capacity}")
        if step.get("load") != load:
            errors.append(f"step {k}: load {step.get('load')}, expected {load}")

    # Time and distance arithmetic, setups, windows, shift, breaks.
    shift = vehicle.get("time_window")
    if shift and not shift[0] <= steps[0]["arrival"] <= shift[1]:
        errors.append(f"starts at {steps[0]['arrival']}, shift {shift}")
    if shift and steps[-1]["arrival"] > shift[1]:
        errors.append(f"ends at {steps[-1]['arrival']}, shift {shift}")
    with_distances = travel.has_distances()
    duration = distance = 0
    legs_cost: int | None = 0
    origin, on_leg = places[0], 0  # last place reached, travel done since on breaks
    last_task_place = vehicle_start  # where a setup is judged from (None: no start)
    taken: Counter[int] = Counter()
    for k, step in enumerate(steps):
        if with_distances != ("distance" in step):
            errors.append(f"step {k}: distance {'missing' if with_distances else 'given'}")
        if k and step["type"] == "break":
            leg_time = step.get("duration", 0) - steps[k - 1].get("duration", 0)
            on_leg += leg_time
            if leg_time < 0 or (
                with_distances and not steps[k - 1]["distance"] <= step["distance"]
            ):
                errors.append(f"step {k}: break goes back in duration or distance")
        elif k:
            raw_time, leg_dist = travel.between(profile, origin, places[k])
            leg_cost = travel.cost(profile, origin, places[k])
            legs_cost = None if leg_cost is None else (legs_cost or 0) + leg_cost
            leg_time = _scaled(raw_time, vehicle) - on_leg
            if leg_time < 0:
                errors.append(f"step {k}: breaks before it travelled more than the leg")
            origin, on_leg = places[k], 0
            distance += leg_dist
            if with_distances and steps[k - 1]["distance"] > distance:
                errors.append(f"step {k - 1}: distance beyond the next step's")
        else:
            leg_time = 0
        duration += leg_time
        if k:
            prev = steps[k - 1]
            expected = (
                prev["arrival"] + prev["waiting_time"] + prev["setup"] + prev["service"] + leg_time
            )
            if step["arrival"] != expected:
                errors.append(f"step {k}: arrival {step['arrival']}, expected {expected}")
        if step.get("duration") != duration:
            errors.append(f"step {k}: duration {step.get('duration')}, expected {duration}")
        if with_distances and step["type"] != "break" and step.get("distance") != distance:
            errors.append(f"step {k}: distance {step.get('distance')}, expected {distance}")
        if step["waiting_time"] < 0:
            errors.append(f"step {k}: negative waiting_time")
        if step.get("violations"):
            errors.append(f"step {k}: violations {step['violations']}")
        begin = step["arrival"] + step["waiting_time"]
        key = (step["type"], step.get("id"))
        if key in tasks:
            task = tasks[key]
            name = f"{key[0]} {key[1]}"
            same_place = last_task_place is not None and places[k] == last_task_place
            setup = 0 if same_place else task.get("setup", 0)
            if step["setup"] != setup:
                errors.append(f"{name}: setup {step['setup']}, expected {setup}")
            last_task_place = places[k]
            if step["service"] != task.get("service", 0):
                errors.append(f"{name}: service {step['service']}")
            if not _in_windows(begin, task.get("time_windows")):
                errors.append(f"{name}: starts at {begin}, windows {task['time_windows']}")
        elif step["type"] == "break":
            brk = breaks.get(step.get("id"))
            if brk is None:
                errors.append(f"step {k}: unknown break {step.get('id')}")
                continue
            taken[brk["id"]] += 1
            if step["service"] != brk.get("service", 0) or step["setup"]:
                errors.append(f"break {brk['id']}: service {step['service']}")
            if not _in_windows(begin, brk.get("time_windows")):
                errors.append(
                    f"break {brk['id']}: starts at {begin}, windows {brk['time_windows']}"
                )
        elif step["service"] or step["waiting_time"] or step["setup"]:
            errors.append(f"step {k}: {step['type']} with setup, service or waiting")
    errors += [f"break {bid} taken {taken[bid]} times" for bid in breaks if taken[bid] != 1]
    if "max_travel_time" in vehicle and duration > vehicle["max_travel_time"]:
        errors.append(f"travels {duration} s, max_travel_time {vehicle['max_travel_time']}")
    if "max_distance" in vehicle and distance > vehicle["max_distance"]:
        errors.append(f"travels {distance} m, max_distance {vehicle['max_distance']}")

    sums = {
        "duration": duration,
        "distance": distance,
        "setup": sum(s["setup"] for s in steps),
        "service": sum(s["service"] for s in steps),
        "waiting_time": sum(s["waiting_time"] for s in steps),
        "priority": sum(t.get("priority", 0) for t in served),
    }
    for key, value in sums.items():
        if key == "distance" and not with_distances:
            if "distance" in route:
                errors.append("route distance given, but the matrices have no distances")
            continue
        if route.get(key) != value:
            errors.append(f"route {key} {route.get(key)}, steps add up to {value}")
    cost = _expected_cost(vehicle, duration, distance, sums["setup"] + sums["service"], legs_cost)
    if route.get("cost") != cost:
        errors.append(f"route cost {route.get('cost')}, expected {cost}")
    return errors, {**sums, "cost": route.get("cost"), "tasks": keys}

"""Checks before the search: shifts that cannot work are refused, unservable tasks set aside.

A task that no vehicle could serve (skills, capacity, time windows, range, a lock) stays out of
the model and is unassigned with the reason (routing.vrp.answers.REASON_*); a shipment's two
tasks stay out together.
"""

from __future__ import annotations

from collections.abc import Mapping

from routing.vrp.answers import (
    REASON_CAPACITY,
    REASON_GENERIC,
    REASON_LOCKED,
    REASON_RANGE,
    REASON_SKILLS,
    REASON_WINDOW,
)
from routing.vrp.problem import (
    Job,
    Matrices,
    Problem,
    ProblemError,
    Vehicle,
    earliest,
    leg,
    picked,
    setup_time,
    travel_time,
)


def screen_jobs(
    problem: Problem, mats: Mapping[str, Matrices]
) -> tuple[list[tuple[Job, list[int]]], list[tuple[Job, str]]]:
    """Split tasks into those some vehicle could serve (and which) and the rest with a reason.

    Tasks come in problem.tasks order: a shipment's pickup and delivery are candidates together
    (with the vehicles that can serve both), one after the other, or rejected together.
    """
    candidates, rejected = [], []
    owner = {job_id: k for k, v in enumerate(problem.vehicles) for job_id in v.steps}
    for job in problem.jobs:
        allowed, reason = _vehicles_for([job], problem, mats, owner.get(job.id))
        if allowed:
            candidates.append((job, allowed))
        else:
            rejected.append((job, reason))
    for shipment in problem.shipments:
        halves = [shipment.pickup, shipment.delivery]
        allowed, reason = _vehicles_for(halves, problem, mats, None)
        if allowed:
            candidates += [(half, allowed) for half in halves]
        else:
            rejected += [(half, reason) for half in halves]
    return candidates, rejected


def _vehicles_for(
    tasks: list[Job], problem: Problem, mats: Mapping[str, Matrices], owner: int | None
) -> tuple[list[int], str]:
    """The vehicles that could serve all these tasks, or none and the first reason why not."""
    vehicles = problem.vehicles
    allowed = [k for k, v in enumerate(vehicles) if all(t.skills <= v.skills for t in tasks)]
    if any(t.locked for t in tasks):
        allowed = [k for k in allowed if k == owner]
        if not allowed:
            return [], REASON_LOCKED
    checks = (
        (REASON_SKILLS, lambda v: True),
        (REASON_CAPACITY, lambda v: all(_fits(t, v) for t in tasks)),
        (REASON_WINDOW, lambda v: all(_reachable(t, v, mats) for t in tasks)),
        (REASON_RANGE, lambda v: all(_in_range(t, v, mats) for t in tasks)),
        (REASON_GENERIC, lambda v: v.max_tasks is None or v.max_tasks >= len(tasks)),
    )
    for reason, check in checks:
        allowed = [k for k in allowed if check(vehicles[k])]
        if not allowed:
            return [], reason
    return allowed, ""


def _fits(task: Job, vehicle: Vehicle) -> bool:
    """Whether the task's amounts fit the vehicle's capacity on their own."""
    amounts = zip(task.delivery, picked(task, len(task.delivery)), vehicle.capacity, strict=True)
    return all(d <= c and p <= c for d, p, c in amounts)


def _reachable(job: Job, vehicle: Vehicle, mats: Mapping[str, Matrices]) -> bool:
    """Whether the vehicle alone, going straight there and back, could serve the job in time."""
    shift = vehicle.time_window
    if shift is None and not job.time_windows:
        return True
    durations = mats[vehicle.profile].durations
    arrival = (shift.start if shift else 0) + travel_time(
        durations, vehicle, vehicle.start, job.place
    )
    begin = earliest(job.time_windows, arrival)
    if begin is None:
        return False
    done = begin + setup_time(job, vehicle.start) + job.service
    done += travel_time(durations, vehicle, job.place, vehicle.end)
    return shift is None or done <= shift.end


def _in_range(job: Job, vehicle: Vehicle, mats: Mapping[str, Matrices]) -> bool:
    """Whether the trip start-task-end fits the vehicle's max_travel_time and max_distance."""
    matrices = mats[vehicle.profile]
    if vehicle.max_travel_time is not None:
        there = travel_time(matrices.durations, vehicle, vehicle.start, job.place)
        back = travel_time(matrices.durations, vehicle, job.place, vehicle.end)
        if there + back > vehicle.max_travel_time:
            return False
    if vehicle.max_distance is not None and matrices.distances is not None:
        there = leg(matrices.distances, vehicle.start, job.place)
        if there + leg(matrices.distances, job.place, vehicle.end) > vehicle.max_distance:
            return False
    return True


def check_vehicles(problem: Problem, mats: Mapping[str, Matrices]) -> None:
    """Refuse a shift that cannot hold its breaks and the trip home: OR-Tools would just fail."""
    for i, v in enumerate(problem.vehicles):
        shift = v.time_window
        if shift is None:
            continue
        for j, brk in enumerate(v.breaks):
            begin = earliest(brk.time_windows, shift.start)
            if begin is None or begin + brk.service > shift.end:
                raise ProblemError(
                    f"vehicles[{i}].breaks[{j}].time_windows", "no window fits in the time_window"
                )
        # The empty route, breaks in window order, travelling while a window is not open yet.
        t, remaining = shift.start, travel_time(mats[v.profile].durations, v, v.start, v.end)
        trip = remaining
        for brk in sorted(v.breaks, key=lambda b: b.time_windows[:1]):
            begin = earliest(brk.time_windows, t)
            if begin is None:
                t = shift.end + 1
                break
            remaining -= min(remaining, begin - t)
            t = begin + brk.service
        if t + remaining > shift.end:
            raise ProblemError(
                f"vehicles[{i}].time_window",
                f"too short for the trip from start to end ({trip} s) with the breaks",
            )

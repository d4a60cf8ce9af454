"""Checks before the search: shifts that cannot work are refused, unservable jobs set aside.

A job that no vehicle could serve (skills, capacity, time windows, a lock) stays out of the
model and is unassigned with the reason (routing.vrp.answers.REASON_*).
"""

from __future__ import annotations

from collections.abc import Mapping

from routing.vrp.answers import (
    REASON_CAPACITY,
    REASON_GENERIC,
    REASON_LOCKED,
    REASON_SKILLS,
    REASON_WINDOW,
)
from routing.vrp.problem import Job, Matrices, Problem, ProblemError, Vehicle, earliest, leg


def screen_jobs(
    problem: Problem, mats: Mapping[str, Matrices]
) -> tuple[list[tuple[Job, list[int]]], list[tuple[Job, str]]]:
    """Split jobs into those some vehicle could serve (and which) and the rest with a reason."""
    candidates, rejected = [], []
    vehicles = list(enumerate(problem.vehicles))
    owner = {job_id: k for k, v in vehicles for job_id in v.steps}
    for job in problem.jobs:
        allowed = [k for k, v in vehicles if job.skills <= v.skills]
        if job.locked:
            allowed = [k for k in allowed if k == owner[job.id]]
            if not allowed:
                rejected.append((job, REASON_LOCKED))
                continue
        if not allowed:
            rejected.append((job, REASON_SKILLS))
            continue
        allowed = [
            k
            for k in allowed
            if all(d <= c for d, c in zip(job.delivery, problem.vehicles[k].capacity, strict=True))
        ]
        if not allowed:
            rejected.append((job, REASON_CAPACITY))
            continue
        allowed = [k for k in allowed if _reachable(job, problem.vehicles[k], mats)]
        if not allowed:
            rejected.append((job, REASON_WINDOW))
            continue
        allowed = [k for k in allowed if problem.vehicles[k].max_tasks != 0]
        if not allowed:
            rejected.append((job, REASON_GENERIC))
            continue
        candidates.append((job, allowed))
    return candidates, rejected


def _reachable(job: Job, vehicle: Vehicle, mats: Mapping[str, Matrices]) -> bool:
    """Whether the vehicle alone, going straight there and back, could serve the job in time."""
    shift = vehicle.time_window
    if shift is None and not job.time_windows:
        return True
    durations = mats[vehicle.profile].durations
    arrival = (shift.start if shift else 0) + leg(durations, vehicle.start, job.place)
    begin = earliest(job.time_windows, arrival)
    if begin is None:
        return False
    done = begin + job.service + leg(durations, job.place, vehicle.end)
    return shift is None or done <= shift.end


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
        t, remaining = shift.start, leg(mats[v.profile].durations, v.start, v.end)
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

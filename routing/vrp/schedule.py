"""Timing a route: when each job, break and the end happen, as early as the windows allow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routing.vrp.problem import (
    Break,
    Job,
    Place,
    Vehicle,
    Window,
    earliest,
    setup_time,
    travel_time,
)


@dataclass
class Step:
    """One step of a timed route: its start, a task (job, pickup, delivery), a break or its end."""

    kind: str
    place: Place | None  # None: a break (possibly on the way), or a missing start/end
    item: Job | Break | None
    arrival: int
    travel: int  # travel time since the previous step
    waiting: int = 0
    service: int = 0
    windows: tuple[Window, ...] = ()
    late_by: int = 0  # seconds past the last window (or the shift's end); only in evaluate()
    setup: int = 0


def schedule(
    vehicle: Vehicle, jobs: list[Job], gaps: dict[int, list[Break]], durations: np.ndarray
) -> list[Step]:
    """Time a route as early as possible, then start it as late as that allows (unless fixed).

    Breaks are taken as OR-Tools allows them: anywhere between two places, so the travel goes on
    while a break's window is not yet open. Earliest is best: any later choice only delays.
    A task starts (inside its window) with its setup, when it has one here, then its service.
    """
    t = vehicle.time_window.start if vehicle.time_window else 0
    here = vehicle.start
    steps = [Step("start", here, None, t, 0)]
    targets: list[tuple[Place | None, Job | None]] = [(job.place, job) for job in jobs]
    targets.append((vehicle.end, None))
    for gap, (place, job) in enumerate(targets):
        remaining = travel_time(durations, vehicle, here, place)
        for brk in gaps.get(gap, []):
            begin = earliest(brk.time_windows, t)
            late_by = 0 if begin is not None else t - brk.time_windows[-1].end
            begin = t if begin is None else begin
            on_the_way = min(remaining, begin - t)
            remaining -= on_the_way
            t += on_the_way
            steps.append(
                Step(
                    "break",
                    None,
                    brk,
                    t,
                    on_the_way,
                    begin - t,
                    brk.service,
                    brk.time_windows,
                    late_by,
                )
            )
            t = begin + brk.service
        t += remaining
        if job is None:
            shift_end = vehicle.time_window.end if vehicle.time_window else t
            steps.append(Step("end", place, None, t, remaining, late_by=max(0, t - shift_end)))
            break
        begin = earliest(job.time_windows, t)
        late_by = 0 if begin is not None else t - job.time_windows[-1].end
        begin = t if begin is None else begin
        setup = setup_time(job, here)
        steps.append(
            Step(
                job.kind,
                place,
                job,
                t,
                remaining,
                begin - t,
                job.service,
                job.time_windows,
                late_by,
                setup,
            )
        )
        t = begin + setup + job.service
        here = place
    if not vehicle.fixed_start:
        _start_late(steps)
    return steps


def break_gaps(vehicle: Vehicle, jobs: list[Job], durations: np.ndarray) -> dict[int, list[Break]]:
    """Where a fixed route takes its breaks: each at the first gap its window opens in.

    A break goes before the next stop when its window opens before the carrier would get
    there; one whose windows all passed goes where that became so (and shows as late).
    """
    pending = sorted(vehicle.breaks, key=lambda b: b.time_windows[:1])
    t = vehicle.time_window.start if vehicle.time_window else 0
    here, gaps = vehicle.start, {}
    targets = [job.place for job in jobs] + [vehicle.end]
    for gap, place in enumerate(targets):
        travel = travel_time(durations, vehicle, here, place)
        while pending:
            begin = earliest(pending[0].time_windows, t)
            if begin is not None and begin > t + travel and gap < len(jobs):
                break
            brk = pending.pop(0)
            gaps.setdefault(gap, []).append(brk)
            t = (t if begin is None else begin) + brk.service
        t += travel
        if gap < len(jobs):
            begin = earliest(jobs[gap].time_windows, t)
            t = (t if begin is None else begin) + setup_time(jobs[gap], here) + jobs[gap].service
        here = place
    return gaps


def _start_late(steps: list[Step]) -> None:
    """Move the start (and the steps before the first wait) later, to cut that wait."""
    first_wait = next((i for i, s in enumerate(steps) if s.waiting > 0), None)
    if first_wait is None:
        return
    delay = steps[first_wait].waiting
    for step in steps[1:first_wait]:
        begin = step.arrival + step.waiting
        window = next((w for w in step.windows if w.start <= begin <= w.end), None)
        if window is not None:
            delay = min(delay, window.end - begin)
    for step in steps[:first_wait]:
        step.arrival += delay
    steps[first_wait].arrival += delay
    steps[first_wait].waiting -= delay

"""What the decomposition knows about the whole problem: places, travel, work, who serves what."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.vrp.matrix import PROFILES, haversine_matrix
from routing.vrp.problem import DEFAULT_PROFILE, Problem


@dataclass(frozen=True, eq=False)
class WholeProblem:
    """The whole problem as the decomposition sees it: places, work and who may serve what."""

    raw: dict[str, Any]
    parsed: Problem
    # Travel seconds between places (the matrix rows of the input, or deduplicated coordinates)
    # for the most common profile: for clustering and for finding neighbouring routes.
    travel: np.ndarray
    job_place: np.ndarray
    vehicle_start: np.ndarray  # place index, -1 without a start
    vehicle_end: np.ndarray  # place index, -1 without an end
    # Where most vehicles start (a post office), if at least half of them do.
    depot: int | None
    # Per job: service plus an estimate of the travel to reach it (half its two nearest legs).
    work: np.ndarray
    # Mean working time of a shift (its window less its breaks), None when some have no window.
    shift: float | None
    servable: np.ndarray  # jobs x vehicles: skills and capacity allow it
    owner: dict[int, int]  # job -> the vehicle whose steps name it
    preferred: dict[int, list[int]]  # job -> its preferred vehicles
    job_of: dict[int, int]  # job id -> position
    vehicle_of: dict[int, int]  # vehicle id -> position

    @property
    def indexed(self) -> bool:
        """Whether the problem came with matrices (else coordinates only)."""
        return self.parsed.matrices is not None


def whole_problem_of(raw: dict[str, Any], parsed: Problem) -> WholeProblem:
    """Gather what clustering needs from a problem and its parsed form."""
    jobs, vehicles = parsed.jobs, parsed.vehicles
    profile = Counter(v.profile for v in vehicles).most_common(1)[0][0]
    if parsed.matrices is not None:
        travel = parsed.matrices[profile].durations
    else:
        # Great-circle estimates are enough to group stops, even when a routing engine will
        # time the sub-problems' legs.
        speed = PROFILES.get(profile, PROFILES[DEFAULT_PROFILE])
        travel = haversine_matrix(parsed.points) * (speed.circuity / speed.speed_m_s)
    job_place = np.array([job.place.index for job in jobs], dtype=np.intp)
    vehicle_of = {v.id: k for k, v in enumerate(vehicles)}
    job_of = {job.id: i for i, job in enumerate(jobs)}
    servable = np.array(
        [
            [
                job.skills <= v.skills
                and all(d <= c for d, c in zip(job.delivery, v.capacity, strict=True))
                for v in vehicles
            ]
            for job in jobs
        ],
        dtype=bool,
    ).reshape(len(jobs), len(vehicles))
    service = np.array([job.service for job in jobs], dtype=float)
    starts = Counter(v.start.index for v in vehicles if v.start is not None).most_common(1)
    shifts = [
        v.time_window.end - v.time_window.start - sum(b.service for b in v.breaks)
        for v in vehicles
        if v.time_window is not None
    ]
    return WholeProblem(
        raw=raw,
        parsed=parsed,
        travel=travel,
        job_place=job_place,
        vehicle_start=np.array([-1 if v.start is None else v.start.index for v in vehicles]),
        vehicle_end=np.array([-1 if v.end is None else v.end.index for v in vehicles]),
        depot=starts[0][0] if starts and 2 * starts[0][1] >= len(vehicles) else None,
        work=service + reach_estimate(travel, job_place),
        shift=float(np.mean(shifts)) if len(shifts) == len(vehicles) else None,
        servable=servable,
        owner={job_of[j]: k for k, v in enumerate(vehicles) for j in v.steps},
        preferred={
            i: sorted(vehicle_of[v] for v in job.preferred_vehicles)
            for i, job in enumerate(jobs)
            if job.preferred_vehicles
        },
        job_of=job_of,
        vehicle_of=vehicle_of,
    )


def symmetric(travel: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean of both directions between two sets of places, as floats (rows x cols)."""
    return (travel[np.ix_(rows, cols)] + travel[np.ix_(cols, rows)].T) / 2.0


def reach_estimate(travel: np.ndarray, places: np.ndarray, block: int = 512) -> np.ndarray:
    """Per place: the mean of its two shortest legs to the other places (a route's share)."""
    n = len(places)
    if n < 3:
        return np.zeros(n)
    out = np.empty(n)
    for start in range(0, n, block):
        rows = places[start : start + block]
        legs = symmetric(travel, rows, places)
        legs[np.arange(len(rows)), np.arange(start, start + len(rows))] = np.inf
        out[start : start + len(rows)] = np.partition(legs, 1, axis=1)[:, :2].mean(axis=1)
    return out

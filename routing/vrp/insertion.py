"""Fitting one new job into the routes as they stand, without a search (an urgent visit).

Every route keeps its jobs in their order; the job goes between two of them, after the jobs
served already (the past is not a place to go back to). A position is
feasible when no other job, break or route end becomes later past its window (or the shift's
end) than it already was, and the vehicle can take the job (skills, max_tasks, the load on
board, max_travel_time, max_distance).
Among feasible positions the job's own window decides: the cheapest position that serves it
in its window wins, cost being the added travel plus the job's preference cost on a vehicle
it does not prefer (the solver's own objective, so a later re-optimisation agrees). When no
feasible position serves it in its window, the one serving it earliest wins and the answer
says why it is late.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Set
from dataclasses import dataclass

import numpy as np

from routing.vrp.matrix import PROFILES
from routing.vrp.parse import parse_problem
from routing.vrp.problem import Job, Matrices, Place, Problem, Vehicle, leg, travel_time
from routing.vrp.schedule import Step, break_gaps, schedule
from routing.vrp.solve import build_matrices

# Why the job is served after its window closes.
LATE_OTHERS = "in time only by making other stops late or a shift overrun"
LATE_UNREACHABLE = "no route reaches it in time"


@dataclass(frozen=True)
class Insertion:
    """Where the job goes: after job `after` (None: first) on `vehicle`'s route."""

    vehicle: int
    after: int | None
    #: When its service begins (seconds).
    begin: int
    #: Added travel plus any preference cost (seconds).
    cost: int
    #: Seconds past its window's end (0: in time), and why when late.
    late_by: int = 0
    late_reason: str | None = None


@dataclass(frozen=True)
class _Candidate:
    vehicle: Vehicle
    position: int
    step: Step  # the job's own step on the timed route
    cost: int

    @property
    def begin(self) -> int:
        return self.step.arrival + self.step.waiting


def insert_into_routes(
    problem: object, job_id: int, osrm_url: str | None = None, done: Set[int] = frozenset()
) -> Insertion | None:
    """cheapest_insertion() of a VROOM-format problem (ProblemError, MatrixError if bad)."""
    parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
    return cheapest_insertion(parsed, build_matrices(parsed, osrm_url), job_id, done)


def cheapest_insertion(
    problem: Problem, mats: Mapping[str, Matrices], job_id: int, done: Set[int] = frozenset()
) -> Insertion | None:
    """The best feasible place for job `job_id` (in no vehicle's steps); None if there is none.

    `done`: jobs served already; the job goes after every one of them on their route.
    """
    by_id = {job.id: job for job in problem.jobs}
    job = by_id[job_id]
    feasible, in_time_somewhere = [], False
    for vehicle in problem.vehicles:
        if not _can_take(vehicle, job):
            continue
        route = [by_id[i] for i in vehicle.steps]
        durations = mats[vehicle.profile].durations
        before = _lateness(_timed(vehicle, route, durations))
        served = [k for k, j in enumerate(route) if j.id in done]
        for position in range(served[-1] + 1 if served else 0, len(route) + 1):
            jobs = [*route[:position], job, *route[position:]]
            if not _within_limits(vehicle, jobs, mats[vehicle.profile]):
                continue
            steps = _timed(vehicle, jobs, durations)
            step = next(s for s in steps if s.item is job)
            in_time_somewhere |= step.late_by == 0
            after = _lateness(steps)
            del after[("job", job.id)]
            if any(late > before.get(key, 0) for key, late in after.items()):
                continue
            cost = _added_travel(vehicle, route, position, job, durations)
            if job.preferred_vehicles and vehicle.id not in job.preferred_vehicles:
                cost += job.preference_cost
            feasible.append(_Candidate(vehicle, position, step, cost))
    if not feasible:
        return None
    in_time = [c for c in feasible if c.step.late_by == 0]
    if in_time:
        return _insertion(min(in_time, key=lambda c: (c.cost, c.begin)))
    best = min(feasible, key=lambda c: (c.begin, c.cost))
    return _insertion(best, LATE_OTHERS if in_time_somewhere else LATE_UNREACHABLE)


def _can_take(vehicle: Vehicle, job: Job) -> bool:
    """Skills and one more task: what no position changes."""
    if not job.skills <= vehicle.skills:
        return False
    return vehicle.max_tasks is None or len(vehicle.steps) < vehicle.max_tasks


def _within_limits(vehicle: Vehicle, jobs: list[Job], mats: Matrices) -> bool:
    """The load on board never above capacity; travel time and distance within the vehicle's."""
    if vehicle.capacity and not _load_fits(vehicle.capacity, jobs):
        return False
    places = [vehicle.start, *(job.place for job in jobs), vehicle.end]
    legs = list(itertools.pairwise(places))
    if vehicle.max_travel_time is not None:
        travel = sum(travel_time(mats.durations, vehicle, a, b) for a, b in legs)
        if travel > vehicle.max_travel_time:
            return False
    if vehicle.max_distance is None or mats.distances is None:
        return True
    return sum(leg(mats.distances, a, b) for a, b in legs) <= vehicle.max_distance


def _load_fits(capacity: tuple[int, ...], jobs: list[Job]) -> bool:
    """Deliveries on board from the start, pickups from where they happen: never too much."""
    size = len(capacity)

    def amount(values: tuple[int, ...]) -> tuple[int, ...]:
        return values or (0,) * size

    load = [sum(amount(job.delivery)[k] for job in jobs) for k in range(size)]
    loads = [load]
    for job in jobs:
        picked, dropped = amount(job.pickup), amount(job.delivery)
        load = [load[k] + picked[k] - dropped[k] for k in range(size)]
        loads.append(load)
    return all(held <= most for load in loads for held, most in zip(load, capacity, strict=True))


def _timed(vehicle: Vehicle, jobs: list[Job], durations: np.ndarray) -> list[Step]:
    """The route timed as evaluate() times it: breaks at the first gap their window opens in."""
    return schedule(vehicle, jobs, break_gaps(vehicle, jobs, durations), durations)


def _lateness(steps: list[Step]) -> dict[tuple[str, int], int]:
    """Seconds late of each job, break and the end, keyed by kind and id."""
    return {(s.kind, s.item.id if s.item else 0): s.late_by for s in steps if s.kind != "start"}


def _added_travel(
    vehicle: Vehicle, route: list[Job], position: int, job: Job, durations: np.ndarray
) -> int:
    """Travel the detour adds: previous place to the job to the next, less the direct leg."""
    previous = route[position - 1].place if position else vehicle.start
    following = route[position].place if position < len(route) else vehicle.end

    def travel(a: Place | None, b: Place | None) -> int:
        return travel_time(durations, vehicle, a, b)

    return travel(previous, job.place) + travel(job.place, following) - travel(previous, following)


def _insertion(candidate: _Candidate, late_reason: str | None = None) -> Insertion:
    steps = candidate.vehicle.steps
    return Insertion(
        vehicle=candidate.vehicle.id,
        after=steps[candidate.position - 1] if candidate.position else None,
        begin=candidate.begin,
        cost=candidate.cost,
        late_by=candidate.step.late_by,
        late_reason=late_reason,
    )

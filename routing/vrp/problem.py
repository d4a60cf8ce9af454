"""A VROOM-format routing problem once validated (see VROOM's docs/API.md), and its conventions.

Units as in VROOM: timings in seconds, distances in metres, coordinates [lon, lat], time windows
[start, end] with both ends inclusive. A "task" is a job or one half of a shipment (its pickup or
its delivery), as in VROOM.

Extensions beyond VROOM's format, for the dispatcher's plans:
- job `preferred_vehicles` (vehicle ids) with `preference_cost`: serving the job with any other
  vehicle adds that cost (in seconds of travel) to the plan, e.g. a carrier's home district;
- vehicle `steps` (VROOM's vehicle_step objects; `job` steps count): the vehicle's current route,
  the search's starting point when it is feasible;
- job `locked`: true keeps the job on the vehicle whose `steps` name it, in the order those
  steps give among the vehicle's locked jobs (other jobs may go in between). A locked job is
  dropped only when it cannot be served at all, before any other job;
- vehicle `balance_cost` (the postal objective's fair shares): the vehicles with one share the
  problem's work (each job's service and an estimate of the travel to reach it) in proportion
  to their time window less breaks; each second of a route's work outside its fair share
  (give or take 20 %) adds balance_cost to the plan's cost (routing.vrp.balance);
- vehicle `fixed_start`: true makes the vehicle leave its start at its `time_window`'s start
  (a carrier's round begins after the morning's sorting), never later to cut a wait as VROOM
  does.

Conventions beyond VROOM's text:
- a matrix diagonal is read as 0 (staying put takes no time), whatever the input says;
- a vehicle's `speed_factor` scales each leg's duration to whole seconds, rounded half up, with
  VROOM's factor round(100 / speed_factor) / 100 (VROOM keeps hundredths of a second inside a
  route and truncates the times it reports, so its times may differ by under a second a leg);
- a task's `setup` is spent when the vehicle arrives from another place (another matrix index,
  or coordinates), as VROOM does; a vehicle without `start` sets up at its first task. Where it
  may be skipped (another task or a vehicle start at the same place), the search plans the task
  so that its window holds either way (a window shorter than the setup there: left
  unassigned); the answer times it exactly;
- a vehicle without `start` (or `end`) starts (ends) at its first (last) job at no cost;
- as in OR-Tools, a break may fall during a travel leg (the carrier travels on while its window
  is not open yet): a break step has no location, its `duration` is the travel time done so far
  and its `distance` the share of the leg in proportion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_PROFILE = "car"


class ProblemError(Exception):
    """The problem is malformed; `field` names the offending part, e.g. jobs[3].service."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive [start, end] interval of seconds."""

    start: int
    end: int


@dataclass(frozen=True)
class Place:
    """A matrix row/column, with the input's coordinates when it gave them."""

    index: int
    coords: tuple[float, float] | None


# Task kinds, as the answer's step `type` names them.
JOB, PICKUP, DELIVERY = "job", "pickup", "delivery"


@dataclass(frozen=True)
class Job:
    """A task to serve once: a job, or the pickup or delivery half of a shipment (`kind`).

    Load: a job's `delivery` is on board from the start of its route and its `pickup` until the
    end; a shipment's amount is the pickup half's `pickup` and the delivery half's `delivery`.
    `pickup` is () when nothing is picked up (a plain delivery job keeps every default but its
    delivery: routing.vrp.pyvrp_search relaxes only such jobs).
    """

    id: int
    place: Place
    service: int = 0
    setup: int = 0
    delivery: tuple[int, ...] = ()
    pickup: tuple[int, ...] = ()
    time_windows: tuple[Window, ...] = ()
    priority: int = 0
    skills: frozenset[int] = frozenset()
    preferred_vehicles: frozenset[int] = frozenset()
    preference_cost: int = 0
    locked: bool = False
    kind: str = JOB


@dataclass(frozen=True)
class Shipment:
    """A pickup and the delivery of what it picked up, by the same vehicle, in that order."""

    pickup: Job
    delivery: Job


@dataclass(frozen=True)
class Break:
    """A pause of `service` seconds starting inside one of its windows."""

    id: int
    time_windows: tuple[Window, ...]
    service: int = 0


@dataclass(frozen=True)
class Costs:
    """VROOM's vehicle `costs`: a route costs fixed + per_hour x travel h + per_km x km
    (+ per_task_hour x hours of setup and service)."""

    fixed: int = 0
    per_hour: int = 3600  # VROOM's default: a cost of 1 per second of travel
    per_km: int = 0
    per_task_hour: int = 0


DEFAULT_COSTS = Costs()


@dataclass(frozen=True)
class Vehicle:
    """A carrier's shift: where it starts and ends, what it carries, what it may do."""

    id: int
    start: Place | None
    end: Place | None
    profile: str = DEFAULT_PROFILE
    capacity: tuple[int, ...] = ()
    skills: frozenset[int] = frozenset()
    time_window: Window | None = None
    breaks: tuple[Break, ...] = ()
    max_tasks: int | None = None
    steps: tuple[int, ...] = ()  # job ids of the current route
    costs: Costs = DEFAULT_COSTS
    speed_factor: float = 1.0
    max_travel_time: int | None = None
    max_distance: int | None = None
    balance_cost: int = 0
    fixed_start: bool = False


@dataclass(frozen=True, eq=False)
class Matrices:
    """Durations (s), distances (m) and travel costs of one profile, int64, zero diagonal.

    Distances are None when the input gave durations only (then the answer has no `distance`,
    as VROOM's); costs are None unless given (then travel costs are the vehicles' `costs`).
    """

    durations: np.ndarray
    distances: np.ndarray | None = None
    costs: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated problem; `matrices` is None when they are to be built from coordinates."""

    jobs: tuple[Job, ...]
    vehicles: tuple[Vehicle, ...]
    amount_size: int
    matrices: Mapping[str, Matrices] | None
    # Distinct coordinates, in Place.index order, when the input gave no matrices.
    points: tuple[tuple[float, float], ...] = ()
    shipments: tuple[Shipment, ...] = ()

    @property
    def tasks(self) -> tuple[Job, ...]:
        """Every task: the jobs, then each shipment's pickup and delivery."""
        return self.jobs + tuple(half for s in self.shipments for half in (s.pickup, s.delivery))


def earliest(windows: tuple[Window, ...], t: int) -> int | None:
    """Return the earliest time >= t inside one of the sorted windows (t itself if none)."""
    if not windows:
        return t
    for window in windows:
        if t <= window.end:
            return max(t, window.start)
    return None


def leg(matrix: np.ndarray, a: Place | None, b: Place | None) -> int:
    """Travel between two places; a missing start or end is wherever the route begins/ends."""
    return 0 if a is None or b is None else int(matrix[a.index, b.index])


def picked(task: Job, size: int) -> tuple[int, ...]:
    """What the task picks up, as an amount of the problem's size."""
    return task.pickup or (0,) * size


def speed_scale(speed_factor: float) -> int:
    """VROOM's duration factor for a speed factor, in hundredths: round(100 / speed_factor)."""
    return round(100 / speed_factor)


def scaled(durations: np.ndarray | int, speed_factor: float) -> np.ndarray | int:
    """Durations at a vehicle's speed: whole seconds, each rounded half up."""
    if speed_factor == 1.0:
        return durations
    return (durations * speed_scale(speed_factor) + 50) // 100


def travel_time(durations: np.ndarray, vehicle: Vehicle, a: Place | None, b: Place | None) -> int:
    """A vehicle's travel time between two places, at its speed."""
    return int(scaled(leg(durations, a, b), vehicle.speed_factor))


def setup_time(task: Job, before: Place | None) -> int:
    """The task's setup when the vehicle comes from `before` (None: a route's missing start)."""
    return 0 if before is not None and before.index == task.place.index else task.setup

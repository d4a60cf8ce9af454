"""A VROOM-format routing problem once validated (see VROOM's docs/API.md), and its conventions.

Units as in VROOM: timings in seconds, distances in metres, coordinates [lon, lat], time windows
[start, end] with both ends inclusive.

Extensions beyond VROOM's format, for the dispatcher's plans:
- job `preferred_vehicles` (vehicle ids) with `preference_cost`: serving the job with any other
  vehicle adds that cost (in seconds of travel) to the plan, e.g. a carrier's home district;
- vehicle `steps` (VROOM's vehicle_step objects; `job` steps count): the vehicle's current route,
  the search's starting point when it is feasible;
- job `locked`: true keeps the job on the vehicle whose `steps` name it, in the order those
  steps give among the vehicle's locked jobs (other jobs may go in between). A locked job is
  dropped only when it cannot be served at all, before any other job.

Conventions beyond VROOM's text:
- a matrix diagonal is read as 0 (staying put takes no time), whatever the input says;
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


@dataclass(frozen=True)
class Job:
    """A stop to serve once."""

    id: int
    place: Place
    service: int = 0
    delivery: tuple[int, ...] = ()
    time_windows: tuple[Window, ...] = ()
    priority: int = 0
    skills: frozenset[int] = frozenset()
    preferred_vehicles: frozenset[int] = frozenset()
    preference_cost: int = 0
    locked: bool = False


@dataclass(frozen=True)
class Break:
    """A pause of `service` seconds starting inside one of its windows."""

    id: int
    time_windows: tuple[Window, ...]
    service: int = 0


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


@dataclass(frozen=True, eq=False)
class Matrices:
    """Durations (s) and distances (m) of one profile, int64, zero diagonal."""

    durations: np.ndarray
    distances: np.ndarray


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated problem; `matrices` is None when they are to be built from coordinates."""

    jobs: tuple[Job, ...]
    vehicles: tuple[Vehicle, ...]
    amount_size: int
    matrices: Mapping[str, Matrices] | None
    # Distinct coordinates, in Place.index order, when the input gave no matrices.
    points: tuple[tuple[float, float], ...] = ()


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

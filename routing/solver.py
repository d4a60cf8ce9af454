"""Vehicle routing with OR-Tools behind VROOM's problem and solution JSON (see VROOM's docs/API.md).

Units as in VROOM: timings in seconds, distances in metres, coordinates [lon, lat], time windows
[start, end] with both ends inclusive. Output `code`: 0 ok, 1 internal error, 2 input error,
3 routing error (the road-network matrix could not be fetched).

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

This is the only module of the project that imports ortools. Every solve builds one model;
`solve_isolated` runs it in a fresh process (OR-Tools #5076: a second model in one process can
crash it). The default search is OR-Tools' own iterated local search (SearchConfig).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from google.protobuf import text_format
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing.matrix import PROFILES, MatrixError, OsrmTable, matrices_from_points

logger = logging.getLogger(__name__)

DEFAULT_PROFILE = "car"
# A matrix of more cells is refused before it is read: 25M int64 cells are 200 MB per copy and
# OR-Tools holds several (reliability.md section 6: decompose instead).
MAX_MATRIX_CELLS = 25_000_000
MAX_NODES = math.isqrt(MAX_MATRIX_CELLS)
# Bounds that keep every sum OR-Tools forms (route costs, drop penalties, cumuls) inside int64.
MAX_TRAVEL = 2**30
MAX_INT = 2**40
MAX_ID = 2**63 - 1
# Keys of VROOM's format this solver does not model; refused rather than silently ignored.
UNSUPPORTED = {
    "problem": ("shipments", "matrix"),
    "job": ("pickup", "setup"),
    "vehicle": ("costs", "speed_factor", "max_travel_time", "max_distance"),
}

REASON_SKILLS = "no vehicle has the skills"
REASON_CAPACITY = "exceeds the capacity of every vehicle with the skills"
REASON_WINDOW = "no time window reachable"
REASON_GENERIC = "does not fit (time or capacity)"
REASON_LOCKED = "locked to a vehicle that cannot serve it"
STEP_TYPES = ("start", "job", "break", "end")
LOCKED_PRIORITY = 101

_STATUS = routing_enums_pb2.RoutingSearchStatus
_GREEDY_DESCENT = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
_NO_SOLUTION_LIMIT = pywrapcp.DefaultRoutingSearchParameters().solution_limit
BOOL_TRUE, BOOL_FALSE = optional_boolean_pb2.BOOL_TRUE, optional_boolean_pb2.BOOL_FALSE
# What each of the eight statuses of ortools 9.15 means for the answer: None = a plan exists.
STATUS_RESULTS: dict[int, tuple[int, str] | None] = {
    _STATUS.ROUTING_NOT_SOLVED: (1, "the solver did not run"),
    _STATUS.ROUTING_SUCCESS: None,
    # The time limit stopped the local search: the best plan found so far is returned.
    _STATUS.ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED: None,
    _STATUS.ROUTING_FAIL: (1, "no plan found"),
    _STATUS.ROUTING_FAIL_TIMEOUT: (1, "no plan found within the time limit"),
    _STATUS.ROUTING_INVALID: (1, "the routing model is invalid"),
    # Every job can be dropped, so only the vehicles (shifts, breaks) can make it infeasible.
    _STATUS.ROUTING_INFEASIBLE: (2, "vehicles: shifts and breaks admit no plan at all"),
    _STATUS.ROUTING_OPTIMAL: None,
}


class ProblemError(Exception):
    """The problem is malformed; `field` names the offending part, e.g. jobs[3].service."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


# --- The problem ---------------------------------------------------------------------------


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


# Local-search operators (RoutingSearchParameters.local_search_operators, without `use_`) that the
# default search leaves out: on the Solomon VRPTW benchmark (bench/routing_solomon.py, 10 s) they
# cost more time per guided-local-search step than they find (mean gap on 8 hard instances
# 6.7 % with them, 2.8 % without), and per descent of the iterated local search too (9 hard
# instances: 3.2 % with them, 1.5 % without). The operators that re-insert dropped jobs stay
# on: plans can have unassigned jobs.
LEAN_OPERATORS_OFF: tuple[str, ...] = (
    "cross",
    "lin_kernighan",
    "relocate_subtrip",
    "exchange_subtrip",
    "relocate_expensive_chain",
    "global_cheapest_insertion_path_lns",
    "local_cheapest_insertion_path_lns",
    "shortest_path_two_opt",
    "global_cheapest_insertion_visit_types_lns",
    "local_cheapest_insertion_visit_types_lns",
)


# SearchConfig.metaheuristic for OR-Tools' own iterated local search (no LocalSearchMetaheuristic).
ITERATED_LOCAL_SEARCH = "ITERATED_LOCAL_SEARCH"


@dataclass(frozen=True)
class SearchConfig:
    """How OR-Tools searches: the one place to tune (names of routing_enums_pb2 values).

    Tuned on the Solomon type-1 instances with bench/routing_solomon.py (one configuration for
    all instances; 10 s, one core: mean gap 0.96 % with the iterated local search, 1.97 % with
    the previous default, guided local search then a Python ruin and recreate, in the same
    session); see that script for the figures.
    """

    first_solution: str = "SAVINGS"
    # A LocalSearchMetaheuristic name, or ITERATED_LOCAL_SEARCH: OR-Tools' own iterated local
    # search (RoutingModel.SolveWithIteratedLocalSearch), which ruins and recreates the plan
    # (the ils_* settings) and brings each new plan to a local optimum with a greedy descent
    # (its improvement step), until the time limit. It starts from its own first solution
    # (`first_solution`), not from the vehicles' steps: see _Model.solve.
    metaheuristic: str = ITERATED_LOCAL_SEARCH
    guided_local_search_lambda: float = 0.1
    # SAVINGS stores the savings of all pairs: with OR-Tools' 6 GB allowance that took 1.8 GB
    # at 1,000 stops; capped, it keeps the nearest neighbours only (685 MB in all at 2,000).
    savings_max_memory_bytes: int = 200_000_000
    # Anything else of RoutingSearchParameters in protobuf text format, merged last, e.g.
    # "local_search_operators { use_path_lns: BOOL_TRUE } lns_time_limit { nanos: 50000000 }".
    parameters: str = ""
    log_search: bool = False
    # Operator names as in RoutingSearchParameters.local_search_operators, without `use_`.
    operators_off: tuple[str, ...] = LEAN_OPERATORS_OFF
    operators_on: tuple[str, ...] = ()
    # The iterated local search's ruin: SISR's string removal (Christiaens and Vanden Berghe,
    # 2020), `ils_removed` jobs on average per step (the paper's c-bar), strings of at most
    # `ils_max_string` jobs (L_max), `ils_bypass_factor` (alpha) for the split strings; the
    # paper's values (10, 10, 0.01). Then `ils_recreate` (a FirstSolutionStrategy name) puts
    # the removed jobs back. A new plan replaces the current one by simulated annealing, with
    # temperatures OR-Tools derives from the arc costs (automatic_temperatures).
    ils_removed: int = 10
    ils_max_string: int = 10
    ils_bypass_factor: float = 0.01
    ils_recreate: str = "LOCAL_CHEAPEST_INSERTION"

    def __post_init__(self) -> None:
        self.search_parameters(1.0)  # fail at construction, not inside a solve

    def search_parameters(self, time_limit_s: float) -> Any:
        """Return RoutingSearchParameters for this configuration and time limit."""
        params = pywrapcp.DefaultRoutingSearchParameters()
        ils = self.metaheuristic == ITERATED_LOCAL_SEARCH
        enums = routing_enums_pb2
        try:
            params.first_solution_strategy = enums.FirstSolutionStrategy.Value.Value(
                self.first_solution
            )
            params.local_search_metaheuristic = (
                _GREEDY_DESCENT
                if ils
                else enums.LocalSearchMetaheuristic.Value.Value(self.metaheuristic)
            )
            recreate = enums.FirstSolutionStrategy.Value.Value(self.ils_recreate)
            ruin_recreate = params.iterated_local_search_parameters.ruin_recreate_parameters
            sisr = ruin_recreate.ruin_strategies.add().sisr
            sisr.avg_num_removed_visits = self.ils_removed
            sisr.max_removed_sequence_size = self.ils_max_string
            sisr.bypass_factor = self.ils_bypass_factor
        except ValueError as exc:  # also a negative count for an unsigned field
            raise ValueError(f"SearchConfig: {exc}") from exc
        params.guided_local_search_lambda_coefficient = self.guided_local_search_lambda
        operators = params.local_search_operators
        for names, value in ((self.operators_off, False), (self.operators_on, True)):
            for name in names:
                if not hasattr(operators, f"use_{name}"):
                    raise ValueError(f"SearchConfig: no local search operator {name!r}")
                setattr(operators, f"use_{name}", BOOL_TRUE if value else BOOL_FALSE)
        params.savings_parameters.max_memory_usage_bytes = self.savings_max_memory_bytes
        params.use_iterated_local_search = ils
        ruin_recreate.recreate_strategy.heuristic = recreate
        acceptance = params.iterated_local_search_parameters.reference_solution_acceptance_strategy
        acceptance.simulated_annealing.automatic_temperatures = True
        params.log_search = self.log_search
        if self.parameters:
            text_format.Merge(self.parameters, params)
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
        error = pywrapcp.FindErrorInRoutingSearchParameters(params)
        if error:
            raise ValueError(f"SearchConfig: {error}")
        return params


# --- Parsing and validation -----------------------------------------------------------------


def _kind(value: object) -> str:
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)


def _int(value: object, path: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ProblemError(path, f"must be a finite integer, got {value}")
            raise ProblemError(path, f"must be an integer, got {value!r}")
        raise ProblemError(path, f"must be an integer, got {_kind(value)}")
    if value < minimum:
        raise ProblemError(path, f"must be >= {minimum}, got {value}")
    if value > maximum:
        raise ProblemError(path, f"must be <= {maximum}, got {value}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProblemError(path, f"must be true or false, got {_kind(value)}")
    return value


def _steps(value: object, path: str) -> tuple[int, ...]:
    """The job ids of a vehicle's `steps`, in order; other step types carry no order here."""
    ids = []
    for i, raw in enumerate(_list(value, path)):
        step = _object(raw, f"{path}[{i}]")
        kind = step.get("type")
        if kind not in STEP_TYPES:
            raise ProblemError(f"{path}[{i}].type", f"must be one of {', '.join(STEP_TYPES)}")
        if kind == "job":
            if "id" not in step:
                raise ProblemError(f"{path}[{i}].id", "required")
            ids.append(_int(step["id"], f"{path}[{i}].id", maximum=MAX_ID))
    return tuple(ids)


def _list(value: object, path: str) -> list:
    if not isinstance(value, list):
        raise ProblemError(path, f"must be a list, got {_kind(value)}")
    return value


def _object(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise ProblemError(path, f"must be an object, got {_kind(value)}")
    return value


def _ints(value: object, path: str) -> tuple[int, ...]:
    return tuple(_int(v, f"{path}[{i}]") for i, v in enumerate(_list(value, path)))


def _coords(value: object, path: str) -> tuple[float, float]:
    items = _list(value, path)
    if len(items) != 2:
        raise ProblemError(path, f"must be [lon, lat], got {len(items)} values")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ProblemError(path, f"must be [lon, lat] numbers, got {_kind(v)}")
        if not math.isfinite(v):
            raise ProblemError(path, f"must be finite, got {v}")
    lon, lat = float(items[0]), float(items[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ProblemError(path, f"[{lon}, {lat}] is not a [lon, lat] position")
    return lon, lat


def _window(value: object, path: str) -> Window:
    items = _list(value, path)
    if len(items) != 2:
        raise ProblemError(path, f"must be [start, end], got {len(items)} values")
    start, end = _int(items[0], f"{path}[0]"), _int(items[1], f"{path}[1]")
    if end < start:
        raise ProblemError(path, f"end {end} before start {start}")
    return Window(start, end)


def _windows(value: object, path: str) -> tuple[Window, ...]:
    """Parse a list of windows; the result is sorted, with touching or overlapping ones merged."""
    items = _list(value, path)
    if not items:
        raise ProblemError(path, "must not be empty (leave it out for no constraint)")
    merged: list[Window] = []
    for window in sorted(_window(w, f"{path}[{i}]") for i, w in enumerate(items)):
        if merged and window.start <= merged[-1].end + 1:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, window.end))
        else:
            merged.append(window)
    return tuple(merged)


def _reject_unsupported(obj: dict, kind: str, path: str) -> None:
    for key in UNSUPPORTED[kind]:
        if obj.get(key) not in (None, []):
            raise ProblemError(f"{path}.{key}" if path else key, "not supported by this solver")


class _Places:
    """Resolves locations to matrix indices: the input's indices, or deduplicated coordinates."""

    def __init__(self, indexed: bool) -> None:
        self.indexed = indexed
        self.points: dict[tuple[float, float], int] = {}
        self.largest: tuple[int, str] | None = None

    def place(self, obj: dict, coords_key: str, index_key: str, path: str) -> Place | None:
        coords = _coords(obj[coords_key], f"{path}.{coords_key}") if coords_key in obj else None
        raw_index = obj.get(index_key)
        if self.indexed:
            if raw_index is None:
                if coords is None:
                    return None
                raise ProblemError(f"{path}.{index_key}", "required when matrices are given")
            index = _int(raw_index, f"{path}.{index_key}", maximum=MAX_NODES)
            if self.largest is None or index > self.largest[0]:
                self.largest = (index, f"{path}.{index_key}")
            return Place(index, coords)
        if raw_index is not None:
            raise ProblemError(f"{path}.{index_key}", "given, but the problem has no matrices")
        if coords is None:
            return None
        return Place(self.points.setdefault(coords, len(self.points)), coords)


def _int_matrix(raw: object, path: str) -> np.ndarray:
    rows = _list(raw, path)
    n = len(rows)
    if n * n > MAX_MATRIX_CELLS:
        raise ProblemError(path, f"{n} x {n} is too big (at most {MAX_MATRIX_CELLS:,} cells)")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise ProblemError(f"{path}[{i}]", f"must be a row of {n} values (square), got {got}")
        # map(type) runs in C: the per-cell check stays cheap on 25M cells.
        if not set(map(type, row)) <= {int}:
            for j, v in enumerate(row):
                _int(v, f"{path}[{i}][{j}]", maximum=MAX_TRAVEL)
    try:
        matrix = np.array(rows, dtype=np.int64).reshape(n, n)
    except OverflowError:
        matrix = None
    if matrix is None or (n and (matrix.min() < 0 or matrix.max() > MAX_TRAVEL)):
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                _int(v, f"{path}[{i}][{j}]", maximum=MAX_TRAVEL)
    np.fill_diagonal(matrix, 0)
    return matrix


def _parse_matrices(raw: object) -> dict[str, Matrices]:
    profiles = _object(raw, "matrices")
    if not profiles:
        raise ProblemError("matrices", "must name at least one profile")
    out = {}
    for profile, entry in profiles.items():
        path = f"matrices.{profile}"
        entry = _object(entry, path)
        for key in ("durations", "distances"):
            if key not in entry:
                raise ProblemError(f"{path}.{key}", "required")
        durations = _int_matrix(entry["durations"], f"{path}.durations")
        distances = _int_matrix(entry["distances"], f"{path}.distances")
        if distances.shape != durations.shape:
            raise ProblemError(
                f"{path}.distances",
                f"is {len(distances)} x {len(distances)}, durations {len(durations)} x "
                f"{len(durations)}",
            )
        out[profile] = Matrices(durations, distances)
    return out


def _parse_job(raw: object, path: str, places: _Places) -> tuple[Job, tuple[int, ...] | None]:
    obj = _object(raw, path)
    _reject_unsupported(obj, "job", path)
    if "id" not in obj:
        raise ProblemError(f"{path}.id", "required")
    place = places.place(obj, "location", "location_index", path)
    if place is None:
        raise ProblemError(path, "needs a location or a location_index")
    delivery = _ints(obj["delivery"], f"{path}.delivery") if "delivery" in obj else None
    job = Job(
        id=_int(obj["id"], f"{path}.id", maximum=MAX_ID),
        place=place,
        service=_int(obj.get("service", 0), f"{path}.service"),
        time_windows=_windows(obj["time_windows"], f"{path}.time_windows")
        if "time_windows" in obj
        else (),
        priority=_int(obj.get("priority", 0), f"{path}.priority", maximum=100),
        skills=frozenset(_ints(obj.get("skills", []), f"{path}.skills")),
        preferred_vehicles=frozenset(
            _ints(obj.get("preferred_vehicles", []), f"{path}.preferred_vehicles")
        ),
        preference_cost=_int(obj.get("preference_cost", 0), f"{path}.preference_cost"),
        locked=_bool(obj.get("locked", False), f"{path}.locked"),
    )
    return job, delivery


def _parse_vehicle(raw: object, path: str, places: _Places) -> Vehicle:
    obj = _object(raw, path)
    _reject_unsupported(obj, "vehicle", path)
    if "id" not in obj:
        raise ProblemError(f"{path}.id", "required")
    start = places.place(obj, "start", "start_index", path)
    end = places.place(obj, "end", "end_index", path)
    if start is None and end is None:
        raise ProblemError(path, "needs a start or an end")
    profile = obj.get("profile", DEFAULT_PROFILE)
    if not isinstance(profile, str) or not profile:
        raise ProblemError(f"{path}.profile", f"must be a profile name, got {_kind(profile)}")
    breaks = []
    break_ids: set[int] = set()
    for i, raw_break in enumerate(_list(obj.get("breaks", []), f"{path}.breaks")):
        bpath = f"{path}.breaks[{i}]"
        bobj = _object(raw_break, bpath)
        if "id" not in bobj:
            raise ProblemError(f"{bpath}.id", "required")
        brk = Break(
            id=_int(bobj["id"], f"{bpath}.id", maximum=MAX_ID),
            time_windows=_windows(bobj["time_windows"], f"{bpath}.time_windows")
            if "time_windows" in bobj
            else (),
            service=_int(bobj.get("service", 0), f"{bpath}.service"),
        )
        if brk.id in break_ids:
            raise ProblemError(f"{bpath}.id", f"duplicate break id {brk.id} in this vehicle")
        break_ids.add(brk.id)
        breaks.append(brk)
    return Vehicle(
        id=_int(obj["id"], f"{path}.id", maximum=MAX_ID),
        start=start,
        end=end,
        profile=profile,
        capacity=_ints(obj["capacity"], f"{path}.capacity") if "capacity" in obj else (),
        skills=frozenset(_ints(obj.get("skills", []), f"{path}.skills")),
        time_window=_window(obj["time_window"], f"{path}.time_window")
        if "time_window" in obj
        else None,
        breaks=tuple(breaks),
        max_tasks=_int(obj["max_tasks"], f"{path}.max_tasks") if "max_tasks" in obj else None,
        steps=_steps(obj["steps"], f"{path}.steps") if "steps" in obj else (),
    )


def parse_problem(data: object, *, known_profiles: Sequence[str] | None = None) -> Problem:
    """Validate a VROOM-format problem; raise ProblemError naming the first bad field.

    Without matrices, vehicle profiles must be in `known_profiles` (None: any name, for a
    routing engine that defines its own).
    """
    obj = _object(data, "problem")
    _reject_unsupported(obj, "problem", "")
    indexed = obj.get("matrices") is not None
    matrices = _parse_matrices(obj["matrices"]) if indexed else None
    places = _Places(indexed)

    raw_vehicles = _list(obj.get("vehicles"), "vehicles") if "vehicles" in obj else []
    if not raw_vehicles:
        raise ProblemError("vehicles", "at least one vehicle is required")
    vehicles = tuple(
        _parse_vehicle(v, f"vehicles[{i}]", places) for i, v in enumerate(raw_vehicles)
    )
    raw_jobs = _list(obj.get("jobs", []), "jobs")
    if len(raw_jobs) + 2 * len(vehicles) > MAX_NODES:
        raise ProblemError("jobs", f"too many jobs and vehicles for one solve (max {MAX_NODES})")
    parsed = [_parse_job(j, f"jobs[{i}]", places) for i, j in enumerate(raw_jobs)]

    _check_unique([v.id for v in vehicles], "vehicles")
    _check_unique([job.id for job, _ in parsed], "jobs")
    _check_references([job for job, _ in parsed], vehicles)
    amount_size, jobs = _amounts(parsed, vehicles)

    for i, vehicle in enumerate(vehicles):
        where, name = f"vehicles[{i}].profile", vehicle.profile
        if matrices is not None and name not in matrices:
            raise ProblemError(where, f"no matrices for {name!r} (given: {', '.join(matrices)})")
        if matrices is None and known_profiles is not None and name not in known_profiles:
            known = ", ".join(sorted(known_profiles))
            raise ProblemError(where, f"unknown profile {name!r} (known: {known})")
    if matrices is not None and places.largest is not None:
        index, where = places.largest
        for profile in {v.profile for v in vehicles}:
            size = len(matrices[profile].durations)
            if index >= size:
                raise ProblemError(
                    f"matrices.{profile}.durations",
                    f"is {size} x {size}, too small for {where} = {index}",
                )
    return Problem(
        jobs=jobs,
        vehicles=vehicles,
        amount_size=amount_size,
        matrices=matrices,
        points=tuple(places.points),
    )


def _check_unique(ids: list[int], path: str) -> None:
    seen: dict[int, int] = {}
    for i, item_id in enumerate(ids):
        if item_id in seen:
            first = f"{path}[{seen[item_id]}]"
            raise ProblemError(f"{path}[{i}].id", f"duplicate id {item_id} (also {first})")
        seen[item_id] = i


def _check_references(jobs: list[Job], vehicles: tuple[Vehicle, ...]) -> None:
    """Steps name known jobs at most once; preferences name known vehicles; locks have steps."""
    job_ids = {job.id for job in jobs}
    vehicle_ids = {v.id for v in vehicles}
    routed: dict[int, str] = {}
    for i, vehicle in enumerate(vehicles):
        path = f"vehicles[{i}].steps"
        for job_id in vehicle.steps:
            if job_id not in job_ids:
                raise ProblemError(path, f"names job {job_id}, which is not in jobs")
            if job_id in routed:
                raise ProblemError(path, f"names job {job_id} again (also {routed[job_id]})")
            routed[job_id] = path
    for i, job in enumerate(jobs):
        unknown = sorted(job.preferred_vehicles - vehicle_ids)
        if unknown:
            raise ProblemError(f"jobs[{i}].preferred_vehicles", f"unknown vehicle {unknown[0]}")
        if job.locked and job.id not in routed:
            raise ProblemError(f"jobs[{i}].locked", "a locked job must be in a vehicle's steps")


def _amounts(
    parsed: list[tuple[Job, tuple[int, ...] | None]], vehicles: tuple[Vehicle, ...]
) -> tuple[int, tuple[Job, ...]]:
    """Check that every amount has one size; a job without `delivery` delivers zeros."""
    sized = [(len(d), f"jobs[{i}].delivery") for i, (_, d) in enumerate(parsed) if d is not None]
    sized += [(len(v.capacity), f"vehicles[{i}].capacity") for i, v in enumerate(vehicles)]
    size, reference = max(sized, key=lambda item: item[0])
    for n, path in sized:
        if n != size:
            raise ProblemError(path, f"has {n} values, {reference} has {size}")
    zero = (0,) * size
    return size, tuple(replace(job, delivery=zero if d is None else d) for job, d in parsed)


def _earliest(windows: tuple[Window, ...], t: int) -> int | None:
    """Return the earliest time >= t inside one of the sorted windows (t itself if none)."""
    if not windows:
        return t
    for window in windows:
        if t <= window.end:
            return max(t, window.start)
    return None


def _leg(matrix: np.ndarray, a: Place | None, b: Place | None) -> int:
    """Travel between two places; a missing start or end is wherever the route begins/ends."""
    return 0 if a is None or b is None else int(matrix[a.index, b.index])


def _screen(
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
    arrival = (shift.start if shift else 0) + _leg(durations, vehicle.start, job.place)
    begin = _earliest(job.time_windows, arrival)
    if begin is None:
        return False
    done = begin + job.service + _leg(durations, job.place, vehicle.end)
    return shift is None or done <= shift.end


def _check_vehicles(problem: Problem, mats: Mapping[str, Matrices]) -> None:
    """Refuse a shift that cannot hold its breaks and the trip home: OR-Tools would just fail."""
    for i, v in enumerate(problem.vehicles):
        shift = v.time_window
        if shift is None:
            continue
        for j, brk in enumerate(v.breaks):
            begin = _earliest(brk.time_windows, shift.start)
            if begin is None or begin + brk.service > shift.end:
                raise ProblemError(
                    f"vehicles[{i}].breaks[{j}].time_windows", "no window fits in the time_window"
                )
        # The empty route, breaks in window order, travelling while a window is not open yet.
        t, remaining = shift.start, _leg(mats[v.profile].durations, v.start, v.end)
        trip = remaining
        for brk in sorted(v.breaks, key=lambda b: b.time_windows[:1]):
            begin = _earliest(brk.time_windows, t)
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


def _penalties(priorities: list[int], base: int) -> list[int]:
    """Drop penalties: above any plan's cost (`base`), and lexicographic in priority.

    One priority point outweighs any number of dropped jobs, as VROOM ranks plans by priority
    served, then jobs served, then cost. If that would overflow int64, priority adds linearly.
    Locked jobs come as priority LOCKED_PRIORITY, above every input priority.
    """
    n = len(priorities)
    step = base * (n + 1)
    if (base + max(priorities, default=0) * step) * n >= 2**62:
        step = base
    return [base + p * step for p in priorities]


class _Model:
    """One OR-Tools routing model; holds every object the C++ side uses for the whole solve."""

    def __init__(
        self,
        problem: Problem,
        mats: Mapping[str, Matrices],
        candidates: list[tuple[Job, list[int]]],
    ) -> None:
        self.jobs = [job for job, _ in candidates]
        self.vehicles = problem.vehicles
        n_jobs, n_vehicles = len(self.jobs), len(self.vehicles)
        places = [job.place for job in self.jobs]
        places += [p for v in self.vehicles for p in (v.start, v.end)]
        rows = np.array([0 if p is None else p.index for p in places], dtype=np.intp)
        virtual = np.array([p is None for p in places], dtype=bool)
        self.service = np.array([j.service for j in self.jobs] + [0] * (2 * n_vehicles), np.int64)

        # The manager must outlive the model (reliability.md section 6): both are attributes.
        self.manager = pywrapcp.RoutingIndexManager(
            n_jobs + 2 * n_vehicles,
            n_vehicles,
            [n_jobs + 2 * k for k in range(n_vehicles)],
            [n_jobs + 2 * k + 1 for k in range(n_vehicles)],
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.assignment: Any = None

        travel: dict[str, np.ndarray] = {}
        for profile in sorted({v.profile for v in self.vehicles}):
            nodes = mats[profile].durations[np.ix_(rows, rows)]
            nodes[virtual, :] = 0
            nodes[:, virtual] = 0
            travel[profile] = nodes
        # Matrices go to C++ once (RegisterTransitMatrix), never a Python callback per arc.
        # The time transit folds the service of the from-node into the travel.
        transit = {
            p: self.routing.RegisterTransitMatrix((m + self.service[:, np.newaxis]).tolist())
            for p, m in travel.items()
        }
        cost = (
            {p: self.routing.RegisterTransitMatrix(m.tolist()) for p, m in travel.items()}
            if self.service.any()
            else transit
        )
        for k, v in enumerate(self.vehicles):
            self.routing.SetArcCostEvaluatorOfVehicle(cost[v.profile], k)

        horizon = self._horizon(travel)
        self.routing.AddDimensionWithVehicleTransits(
            [transit[v.profile] for v in self.vehicles], horizon, horizon, False, "time"
        )
        self.time = self.routing.GetDimensionOrDie("time")
        self._add_amounts(problem.amount_size)
        self._add_ranks()
        self._add_windows(candidates, horizon)
        self.breaks = self._add_breaks(horizon)
        preferences = self._add_preferences()

        # Dropping a job must cost more than any plan: all travel plus all preference costs.
        base = max(int(m.max(axis=1, initial=0).sum()) for m in travel.values()) + 1
        priorities = [LOCKED_PRIORITY if job.locked else job.priority for job in self.jobs]
        penalties = _penalties(priorities, base + preferences)
        for node, penalty in enumerate(penalties):
            self.routing.AddDisjunction([self.manager.NodeToIndex(node)], penalty)

    def _horizon(self, travel: Mapping[str, np.ndarray]) -> int:
        """An upper bound on every time of any plan: the latest input time plus all work."""
        times = [0]
        times += [w.end for job in self.jobs for w in job.time_windows]
        times += [v.time_window.end for v in self.vehicles if v.time_window]
        times += [w.end for v in self.vehicles for b in v.breaks for w in b.time_windows]
        breaks = sum(b.service for v in self.vehicles for b in v.breaks)
        longest = max(int(m.max(initial=0)) for m in travel.values())
        return max(times) + int(self.service.sum()) + breaks + (len(self.jobs) + 1) * longest

    def _add_amounts(self, size: int) -> None:
        n_vehicles = len(self.vehicles)
        for k in range(size):
            demand = [job.delivery[k] for job in self.jobs] + [0] * (2 * n_vehicles)
            index = self.routing.RegisterUnaryTransitVector(demand)
            capacities = [v.capacity[k] for v in self.vehicles]
            # Deliveries are loaded at the start (VROOM), so the load never exceeds the sum.
            self.routing.AddDimensionWithVehicleCapacity(index, 0, capacities, True, f"amount{k}")

    def _add_ranks(self) -> None:
        """Count the jobs along each route: for max_tasks, and to keep locked jobs in order."""
        locked = {job.id: node for node, job in enumerate(self.jobs) if job.locked}
        if not locked and all(v.max_tasks is None for v in self.vehicles):
            return
        ones = [1] * len(self.jobs) + [0] * (2 * len(self.vehicles))
        index = self.routing.RegisterUnaryTransitVector(ones)
        limits = [len(self.jobs) if v.max_tasks is None else v.max_tasks for v in self.vehicles]
        self.routing.AddDimensionWithVehicleCapacity(index, 0, limits, True, "tasks")
        ranks = self.routing.GetDimensionOrDie("tasks")
        solver, big = self.routing.solver(), len(self.jobs) + 1
        for vehicle in self.vehicles:
            chain = [self.manager.NodeToIndex(locked[i]) for i in vehicle.steps if i in locked]
            # Each served locked job comes after every served one before it in the chain: it
            # follows the largest rank so far (0 for dropped ones), so a dropped job in the
            # middle does not free its neighbours' order.
            before = None
            for index in chain:
                active, rank = self.routing.ActiveVar(index), ranks.CumulVar(index)
                if before is not None:
                    solver.Add(rank + big * (1 - active) >= before + 1)
                served = rank * active
                before = served if before is None else solver.Max(before, served)

    def _add_preferences(self) -> int:
        """Charge preference_cost when a vehicle outside a job's preferred_vehicles serves it.

        A dimension whose per-vehicle transit is that charge, costed by its span. Returns the
        largest total it can reach.
        """
        charged = [bool(job.preference_cost and job.preferred_vehicles) for job in self.jobs]
        if not any(charged):
            return 0
        tail = [0] * (2 * len(self.vehicles))
        transits = []
        for vehicle in self.vehicles:
            costs = [
                job.preference_cost if flag and vehicle.id not in job.preferred_vehicles else 0
                for job, flag in zip(self.jobs, charged, strict=True)
            ]
            transits.append(self.routing.RegisterUnaryTransitVector(costs + tail))
        total = sum(
            job.preference_cost for job, flag in zip(self.jobs, charged, strict=True) if flag
        )
        self.routing.AddDimensionWithVehicleTransits(transits, 0, total, True, "preference")
        self.routing.GetDimensionOrDie("preference").SetSpanCostCoefficientForAllVehicles(1)
        return total

    def _add_windows(self, candidates: list[tuple[Job, list[int]]], horizon: int) -> None:
        everyone = len(self.vehicles)
        for node, (job, allowed) in enumerate(candidates):
            index = self.manager.NodeToIndex(node)
            _restrict(self.time.CumulVar(index), job.time_windows)
            if len(allowed) < everyone:
                # -1 keeps the job droppable. (SetAllowedVehiclesForIndex's SWIG wrapper
                # refuses every Python sequence in 9.15: it wants an absl::Span.)
                self.routing.VehicleVar(index).SetValues([-1, *allowed])
        for k, v in enumerate(self.vehicles):
            shift = v.time_window or Window(0, horizon)
            self.time.CumulVar(self.routing.Start(k)).SetRange(shift.start, shift.end)
            self.time.CumulVar(self.routing.End(k)).SetRange(shift.start, shift.end)

    def _add_breaks(self, horizon: int) -> dict[int, list[tuple[Break, Any]]]:
        solver = self.routing.solver()
        visits = [
            int(self.service[self.manager.IndexToNode(i)]) for i in range(self.routing.Size())
        ]
        breaks: dict[int, list[tuple[Break, Any]]] = {}
        for k, v in enumerate(self.vehicles):
            if not v.breaks:
                continue
            start_cumul = self.time.CumulVar(self.routing.Start(k))
            end_cumul = self.time.CumulVar(self.routing.End(k))
            for brk in v.breaks:
                start = solver.IntVar(0, horizon, f"break {v.id}/{brk.id}")
                _restrict(start, brk.time_windows)
                interval = solver.FixedDurationIntervalVar(start, brk.service, f"break {brk.id}")
                # OR-Tools lets a break fall before the start or after the end of a route;
                # VROOM takes breaks on the route.
                solver.Add(start >= start_cumul)
                solver.Add(start + brk.service <= end_cumul)
                breaks.setdefault(k, []).append((brk, interval))
            intervals = [i for _, i in breaks[k]]
            if len(intervals) > 1:
                # The breaks constraint keeps breaks off visits, not off each other.
                solver.Add(solver.DisjunctiveConstraint(intervals, f"breaks of {v.id}"))
            self.time.SetBreakIntervalsOfVehicle(intervals, k, visits)
        return breaks

    def solve(self, config: SearchConfig, time_limit_s: float) -> int:
        """Search from the vehicles' steps when they are feasible, or from a first solution.

        The iterated local search cannot start from given routes: with steps, they are first
        brought to a local optimum by a descent, and that plan stays unless the iterated local
        search, from its own first solution in the time left, finds a better one.
        """
        deadline = time.monotonic() + time_limit_s
        params = config.search_parameters(time_limit_s)
        # A first-solution-only search (solution_limit) stops there, as asked.
        if params.solution_limit != _NO_SOLUTION_LIMIT:
            params.use_iterated_local_search = False
        initial = None
        if any(v.steps for v in self.vehicles):
            self.routing.CloseModelWithParameters(params)
            node_of = {job.id: node for node, job in enumerate(self.jobs)}
            routes = [
                [self.manager.NodeToIndex(node_of[i]) for i in v.steps if i in node_of]
                for v in self.vehicles
            ]
            # None when the steps break a constraint (e.g. a shift): then search from scratch.
            initial = self.routing.ReadAssignmentFromRoutes(routes, True)
        if not params.use_iterated_local_search:
            if initial is None:
                self.assignment = self.routing.SolveWithParameters(params)
            else:
                self.assignment = self.routing.SolveFromAssignmentWithParameters(initial, params)
            return self.routing.status()
        warm = None
        if initial is not None:
            descent = type(params)()
            descent.CopyFrom(params)
            descent.use_iterated_local_search = False
            warm = self.routing.SolveFromAssignmentWithParameters(initial, descent)
            status = self.routing.status()
            if STATUS_RESULTS.get(status, (1, "")) is not None:
                return status
            warm = self.routing.solver().Assignment(warm)  # the next solve reuses the original
        found = None
        if (left := deadline - time.monotonic()) > 0.001:
            params.time_limit.FromMilliseconds(max(1, int(left * 1000)))
            # The best plan, or None; this search sets no status of its own.
            found = self.routing.SolveWithIteratedLocalSearch(params)
        if found is not None and (warm is None or found.ObjectiveValue() < warm.ObjectiveValue()):
            self.assignment = found
            return _STATUS.ROUTING_SUCCESS
        self.assignment = warm
        return _STATUS.ROUTING_FAIL if warm is None else status

    def routes(self) -> list[tuple[Vehicle, list[Job], dict[int, list[Break]]]]:
        """Each used vehicle with its jobs in order and its breaks by gap (0 = before the first)."""
        solution, routing = self.assignment, self.routing
        out = []
        for k, vehicle in enumerate(self.vehicles):
            indices = []
            index = solution.Value(routing.NextVar(routing.Start(k)))
            while not routing.IsEnd(index):
                indices.append(index)
                index = solution.Value(routing.NextVar(index))
            if not indices:
                continue
            jobs = [self.jobs[self.manager.IndexToNode(i)] for i in indices]
            ready = [
                solution.Min(self.time.CumulVar(i)) + job.service
                for i, job in zip(indices, jobs, strict=True)
            ]
            gaps: dict[int, list[Break]] = {}
            timed = [(solution.StartMin(iv), brk) for brk, iv in self.breaks.get(k, [])]
            for start, brk in sorted(timed, key=lambda item: item[0]):
                # A break never overlaps a service, so it follows the jobs finished by its start.
                gaps.setdefault(bisect.bisect_right(ready, start), []).append(brk)
            out.append((vehicle, jobs, gaps))
        return out


def _restrict(var: Any, windows: tuple[Window, ...]) -> None:
    """Limit an OR-Tools variable to the union of sorted windows (hull, then holes)."""
    if not windows:
        return
    var.SetRange(windows[0].start, windows[-1].end)
    for before, after in itertools.pairwise(windows):
        var.RemoveInterval(before.end + 1, after.start - 1)


# --- Schedules and the answer ------------------------------------------------------------


@dataclass
class _Step:
    kind: str
    place: Place | None  # None: a break (possibly on the way), or a missing start/end
    item: Job | Break | None
    arrival: int
    travel: int  # travel time since the previous step
    waiting: int = 0
    service: int = 0
    windows: tuple[Window, ...] = ()
    late_by: int = 0  # seconds past the last window (or the shift's end); only in evaluate()


def _schedule(
    vehicle: Vehicle, jobs: list[Job], gaps: dict[int, list[Break]], durations: np.ndarray
) -> list[_Step]:
    """Time a route as early as possible, then start it as late as that allows.

    Breaks are taken as OR-Tools allows them: anywhere between two places, so the travel goes on
    while a break's window is not yet open. Earliest is best: any later choice only delays.
    """
    t = vehicle.time_window.start if vehicle.time_window else 0
    here = vehicle.start
    steps = [_Step("start", here, None, t, 0)]
    targets: list[tuple[Place | None, Job | None]] = [(job.place, job) for job in jobs]
    targets.append((vehicle.end, None))
    for gap, (place, job) in enumerate(targets):
        remaining = _leg(durations, here, place)
        for brk in gaps.get(gap, []):
            begin = _earliest(brk.time_windows, t)
            late_by = 0 if begin is not None else t - brk.time_windows[-1].end
            begin = t if begin is None else begin
            on_the_way = min(remaining, begin - t)
            remaining -= on_the_way
            t += on_the_way
            steps.append(
                _Step(
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
            steps.append(_Step("end", place, None, t, remaining, late_by=max(0, t - shift_end)))
            break
        begin = _earliest(job.time_windows, t)
        late_by = 0 if begin is not None else t - job.time_windows[-1].end
        begin = t if begin is None else begin
        steps.append(
            _Step(
                "job", place, job, t, remaining, begin - t, job.service, job.time_windows, late_by
            )
        )
        t = begin + job.service
        here = place
    _start_late(steps)
    return steps


def _break_gaps(vehicle: Vehicle, jobs: list[Job], durations: np.ndarray) -> dict[int, list[Break]]:
    """Where a fixed route takes its breaks: each at the first gap its window opens in.

    A break goes before the next stop when its window opens before the carrier would get
    there; one whose windows all passed goes where that became so (and shows as late).
    """
    pending = sorted(vehicle.breaks, key=lambda b: b.time_windows[:1])
    t = vehicle.time_window.start if vehicle.time_window else 0
    here, gaps = vehicle.start, {}
    targets = [job.place for job in jobs] + [vehicle.end]
    for gap, place in enumerate(targets):
        travel = _leg(durations, here, place)
        while pending:
            begin = _earliest(pending[0].time_windows, t)
            if begin is not None and begin > t + travel and gap < len(jobs):
                break
            brk = pending.pop(0)
            gaps.setdefault(gap, []).append(brk)
            t = (t if begin is None else begin) + brk.service
        t += travel
        if gap < len(jobs):
            begin = _earliest(jobs[gap].time_windows, t)
            t = (t if begin is None else begin) + jobs[gap].service
        here = place
    return gaps


def _start_late(steps: list[_Step]) -> None:
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


def _where(place: Place | None, indexed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if place is not None:
        if place.coords is not None:
            out["location"] = list(place.coords)
        if indexed:
            out["location_index"] = place.index
    return out


def _route_answer(
    vehicle: Vehicle, steps: list[_Step], mats: Matrices, amount_size: int, indexed: bool
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
        leg_distance = _leg(mats.distances, origin, step.place)
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


def _answer(
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
        steps = _schedule(vehicle, jobs, gaps, matrices.durations)
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


# --- Entry points --------------------------------------------------------------------------


def _build_matrices(problem: Problem, osrm_url: str | None) -> Mapping[str, Matrices]:
    if problem.matrices is not None:
        return problem.matrices
    out = {}
    for profile in sorted({v.profile for v in problem.vehicles}):
        if osrm_url:
            durations, distances = OsrmTable(osrm_url).matrices(problem.points, profile)
        else:
            durations, distances = matrices_from_points(problem.points, profile)
        np.fill_diagonal(durations, 0)
        np.fill_diagonal(distances, 0)
        out[profile] = Matrices(durations, distances)
    return out


def _check_time_limit(time_limit_s: float) -> None:
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError(f"time_limit_s must be positive and finite, got {time_limit_s}")


LOADING_TOOK_THE_LIMIT = "the time limit ran out while loading the problem"


def solve(
    problem: object,
    time_limit_s: float,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
) -> dict[str, Any]:
    """Solve a VROOM-format problem in this process; answer in VROOM's solution format.

    Without matrices in the problem, they come from `osrm_url` (an OSRM /table service) or,
    without one, from great-circle distances and routing.matrix.PROFILES.
    """
    _check_time_limit(time_limit_s)
    config = config or SearchConfig()
    began = time.perf_counter()
    try:
        parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
        mats = _build_matrices(parsed, osrm_url)
        _check_vehicles(parsed, mats)
        candidates, unassigned = _screen(parsed, mats)
        model = _Model(parsed, mats, candidates)
        loaded = time.perf_counter()
        remaining = time_limit_s - (loaded - began)
        if remaining <= 0:
            return {"code": 1, "error": LOADING_TOOK_THE_LIMIT}
        status = model.solve(config, remaining)
        solved = time.perf_counter()
        failure = STATUS_RESULTS.get(status, (1, f"unexpected solver status {status}"))
        if failure is not None:
            return {"code": failure[0], "error": failure[1]}
        routes = model.routes()
        served = {job.id for _, jobs, _ in routes for job in jobs}
        unassigned += [(job, REASON_GENERIC) for job in model.jobs if job.id not in served]
        return _answer(
            parsed,
            mats,
            routes,
            unassigned,
            loading_ms=round((loaded - began) * 1000),
            solving_ms=round((solved - loaded) * 1000),
        )
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    except MatrixError as exc:
        return {"code": 3, "error": str(exc)}
    except MemoryError:
        logger.exception("routing solve ran out of memory")
        return {"code": 1, "error": "out of memory"}
    except Exception:
        logger.exception("routing solve failed")
        return {"code": 1, "error": "internal error"}


REASON_NOT_ROUTED = "not in any vehicle's steps"


def evaluate(problem: object, osrm_url: str | None = None) -> dict[str, Any]:
    """Time the routes given as the vehicles' `steps`, without searching (VROOM's plan mode).

    Breaks are taken at the first gap their window opens in. Nothing is refused for being
    late: a job, break or end past its window carries `violations` [{"cause": "delay",
    "duration": seconds}]; jobs in no steps are unassigned. Answers like solve().
    """
    began = time.perf_counter()
    try:
        parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
        mats = _build_matrices(parsed, osrm_url)
        by_id = {job.id: job for job in parsed.jobs}
        routes = []
        for vehicle in parsed.vehicles:
            jobs = [by_id[job_id] for job_id in vehicle.steps]
            if jobs:
                gaps = _break_gaps(vehicle, jobs, mats[vehicle.profile].durations)
                routes.append((vehicle, jobs, gaps))
        routed = {job_id for v in parsed.vehicles for job_id in v.steps}
        unassigned = [(job, REASON_NOT_ROUTED) for job in parsed.jobs if job.id not in routed]
        elapsed = round((time.perf_counter() - began) * 1000)
        return _answer(parsed, mats, routes, unassigned, loading_ms=elapsed, solving_ms=0)
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    except MatrixError as exc:
        return {"code": 3, "error": str(exc)}


def _solve_in_child(
    conn: Any,
    problem: object,
    time_limit_s: float,
    config: SearchConfig | None,
    osrm_url: str | None,
) -> None:
    """Entry point of the solver process: send solve()'s answer back through the pipe."""
    try:
        result = solve(problem, time_limit_s, config, osrm_url)
    except Exception:
        logger.exception("routing solve failed")
        result = {"code": 1, "error": "internal error"}
    conn.send(result)
    conn.close()


@functools.cache
def _solver_processes() -> multiprocessing.context.BaseContext:
    """Where solver processes come from: forked from a server that has loaded OR-Tools.

    Every solve still gets a process of its own (OR-Tools #5076: a second routing model in one
    process can crash it), but a fork of a server that imported this module and never built a
    model starts in milliseconds, where a spawned interpreter re-imports OR-Tools each time
    (0.2-1 s; a decomposed plan starts dozens of sub-solves).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def solve_isolated(
    problem: object,
    time_limit_s: float,
    grace_s: float = 5.0,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
    *,
    target: Callable[..., None] = _solve_in_child,
) -> dict[str, Any]:
    """Run solve() in a fresh process, killed after time_limit_s + grace_s; always answers.

    `target` is the function run in that process (tests substitute one that crashes or hangs).
    """
    _check_time_limit(time_limit_s)
    context = _solver_processes()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=target,
        args=(sender, problem, time_limit_s, config, osrm_url),
        name="routing-solver",
        daemon=True,
    )
    try:
        process.start()
        sender.close()
        if not receiver.poll(time_limit_s + grace_s):
            logger.error("routing solver process overran %.1f s; killed", time_limit_s + grace_s)
            return {"code": 1, "error": "solver did not finish in time"}
        try:
            return receiver.recv()
        except EOFError:
            process.join(grace_s)
            logger.error("routing solver process died (exit code %s)", process.exitcode)
            return {"code": 1, "error": f"solver process crashed (exit code {process.exitcode})"}
    finally:
        if process.is_alive():
            process.kill()
        if process.pid is not None:
            process.join()
        receiver.close()

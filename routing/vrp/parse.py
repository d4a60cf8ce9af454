"""Reading a VROOM-format problem: every field checked, the first bad one named (ProblemError).

See VROOM's docs/API.md for the format and routing.vrp.problem for the extensions read here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from routing.vrp.problem import (
    DEFAULT_COSTS,
    DEFAULT_PROFILE,
    DELIVERY,
    JOB,
    PICKUP,
    Break,
    Costs,
    Job,
    Matrices,
    Place,
    Problem,
    ProblemError,
    Shipment,
    Vehicle,
    Window,
)

# A matrix of more cells is refused before it is read: 25M int64 cells are 200 MB per copy and
# OR-Tools holds several (its maintainers' advice for big matrices, OR-Tools #1700: decompose).
MAX_MATRIX_CELLS = 25_000_000
MAX_NODES = math.isqrt(MAX_MATRIX_CELLS)
# Bounds that keep every sum OR-Tools forms (route costs, drop penalties, cumuls) inside int64.
MAX_TRAVEL = 2**30
MAX_INT = 2**40
# Vehicle costs (fixed, per hour, per km, per task hour): times 36 in the model (per km), then
# times a matrix cell (at most MAX_TRAVEL), they stay far inside int64.
MAX_COST = 2**20
MAX_ID = 2**63 - 1
# A vehicle's balance_cost per second of work outside its fair share (routing.vrp.balance).
MAX_BALANCE_COST = 100_000
# VROOM's bound on speed_factor: (0, 5].
MAX_SPEED_FACTOR = 5.0
# Keys of VROOM's format this solver does not model; refused rather than silently ignored.
# (`matrix` and a job's `amount` are VROOM's deprecated forms of `matrices` and `delivery`.)
UNSUPPORTED = {
    "problem": ("matrix",),
    "job": ("amount", "setup_per_type", "service_per_type"),
    "shipment_step": ("setup_per_type", "service_per_type"),
    "break": ("max_load",),
    "vehicle": (),
}
MATRIX_KEYS = ("durations", "distances", "costs")
STEP_TYPES = ("start", "job", "break", "end")


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
    """Each profile's durations (required), and distances and costs when given (VROOM)."""
    profiles = _object(raw, "matrices")
    if not profiles:
        raise ProblemError("matrices", "must name at least one profile")
    out = {}
    for profile, entry in profiles.items():
        path = f"matrices.{profile}"
        entry = _object(entry, path)
        if "durations" not in entry:
            raise ProblemError(f"{path}.durations", "required")
        read = {
            key: _int_matrix(entry[key], f"{path}.{key}") for key in MATRIX_KEYS if key in entry
        }
        size = len(read["durations"])
        for key, matrix in read.items():
            if len(matrix) != size:
                raise ProblemError(
                    f"{path}.{key}", f"is {len(matrix)} x {len(matrix)}, durations {size} x {size}"
                )
        out[profile] = Matrices(**read)
    return out


# An object's amounts by key (delivery, pickup, amount) as given, each with its field path.
_Amounts = dict[str, tuple[tuple[int, ...], str]]


def _task(obj: dict, path: str, places: _Places, kind: str) -> Job:
    """The fields a job and a shipment's step share: id, place, setup, service, windows."""
    if "id" not in obj:
        raise ProblemError(f"{path}.id", "required")
    place = places.place(obj, "location", "location_index", path)
    if place is None:
        raise ProblemError(path, "needs a location or a location_index")
    return Job(
        id=_int(obj["id"], f"{path}.id", maximum=MAX_ID),
        place=place,
        service=_int(obj.get("service", 0), f"{path}.service"),
        setup=_int(obj.get("setup", 0), f"{path}.setup"),
        time_windows=_windows(obj["time_windows"], f"{path}.time_windows")
        if "time_windows" in obj
        else (),
        kind=kind,
    )


def _given_amounts(obj: dict, path: str, keys: tuple[str, ...]) -> _Amounts:
    return {key: (_ints(obj[key], f"{path}.{key}"), f"{path}.{key}") for key in keys if key in obj}


def _parse_job(raw: object, path: str, places: _Places) -> tuple[Job, _Amounts]:
    obj = _object(raw, path)
    _reject_unsupported(obj, "job", path)
    job = replace(
        _task(obj, path, places, JOB),
        priority=_int(obj.get("priority", 0), f"{path}.priority", maximum=100),
        skills=frozenset(_ints(obj.get("skills", []), f"{path}.skills")),
        preferred_vehicles=frozenset(
            _ints(obj.get("preferred_vehicles", []), f"{path}.preferred_vehicles")
        ),
        preference_cost=_int(obj.get("preference_cost", 0), f"{path}.preference_cost"),
        locked=_bool(obj.get("locked", False), f"{path}.locked"),
    )
    return job, _given_amounts(obj, path, ("delivery", "pickup"))


def _parse_shipment(raw: object, path: str, places: _Places) -> tuple[Shipment, _Amounts]:
    """A shipment: its two steps share its skills, priority and amount."""
    obj = _object(raw, path)
    shared = {
        "priority": _int(obj.get("priority", 0), f"{path}.priority", maximum=100),
        "skills": frozenset(_ints(obj.get("skills", []), f"{path}.skills")),
    }
    halves = []
    for kind in (PICKUP, DELIVERY):
        if kind not in obj:
            raise ProblemError(f"{path}.{kind}", "required")
        step = _object(obj[kind], f"{path}.{kind}")
        _reject_unsupported(step, "shipment_step", f"{path}.{kind}")
        halves.append(replace(_task(step, f"{path}.{kind}", places, kind), **shared))
    return Shipment(*halves), _given_amounts(obj, path, ("amount",))


def _parse_costs(raw: object, path: str) -> Costs:
    obj = _object(raw, path)
    given = {
        key: _int(obj[key], f"{path}.{key}", maximum=MAX_COST)
        for key in ("fixed", "per_hour", "per_km", "per_task_hour")
        if key in obj
    }
    return replace(DEFAULT_COSTS, **given)


def _speed_factor(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProblemError(path, f"must be a number, got {_kind(value)}")
    if not 0 < value <= MAX_SPEED_FACTOR:
        raise ProblemError(path, f"must be in (0, {MAX_SPEED_FACTOR:g}], got {value}")
    return float(value)


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
        _reject_unsupported(bobj, "break", bpath)
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
        costs=_parse_costs(obj["costs"], f"{path}.costs") if "costs" in obj else DEFAULT_COSTS,
        speed_factor=_speed_factor(obj["speed_factor"], f"{path}.speed_factor")
        if "speed_factor" in obj
        else 1.0,
        max_travel_time=_int(obj["max_travel_time"], f"{path}.max_travel_time")
        if "max_travel_time" in obj
        else None,
        max_distance=_int(obj["max_distance"], f"{path}.max_distance")
        if "max_distance" in obj
        else None,
        **_postal_keys(obj, path),
    )


def _postal_keys(obj: dict, path: str) -> dict[str, int | bool]:
    """A vehicle's `balance_cost` and `fixed_start` (extensions: see routing.vrp.problem)."""
    fixed_start = _bool(obj.get("fixed_start", False), f"{path}.fixed_start")
    if fixed_start and "time_window" not in obj:
        raise ProblemError(f"{path}.fixed_start", "needs the vehicle's time_window")
    cost = obj.get("balance_cost", 0)
    return {
        "balance_cost": _int(cost, f"{path}.balance_cost", maximum=MAX_BALANCE_COST),
        "fixed_start": fixed_start,
    }


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
    raw_shipments = _list(obj.get("shipments", []), "shipments")
    if len(raw_jobs) + 2 * len(raw_shipments) + 2 * len(vehicles) > MAX_NODES:
        raise ProblemError("jobs", f"too many jobs and vehicles for one solve (max {MAX_NODES})")
    parsed = [_parse_job(j, f"jobs[{i}]", places) for i, j in enumerate(raw_jobs)]
    shipped = [_parse_shipment(s, f"shipments[{i}]", places) for i, s in enumerate(raw_shipments)]

    _check_unique([v.id for v in vehicles], "vehicles")
    _check_unique([job.id for job, _ in parsed], "jobs")
    for kind in (PICKUP, DELIVERY):
        ids = [getattr(shipment, kind).id for shipment, _ in shipped]
        _check_unique(ids, "shipments", f".{kind}")
    _check_references([job for job, _ in parsed], vehicles)
    amount_size, jobs, shipments = _amounts(parsed, shipped, vehicles)

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
    if matrices is not None:
        _check_vehicle_matrices(vehicles, matrices)
    return Problem(
        jobs=jobs,
        vehicles=vehicles,
        amount_size=amount_size,
        matrices=matrices,
        points=tuple(places.points),
        shipments=shipments,
    )


def _check_vehicle_matrices(vehicles: tuple[Vehicle, ...], matrices: dict[str, Matrices]) -> None:
    """Distances for what needs them; no per_hour beside a costs matrix (VROOM refuses it too)."""
    for i, v in enumerate(vehicles):
        mats = matrices[v.profile]
        if mats.distances is None:
            # VROOM would ask a routing engine for the distances; with matrices there is none.
            if v.costs.per_km:
                raise ProblemError(
                    f"vehicles[{i}].costs.per_km", f"needs matrices.{v.profile}.distances"
                )
            if v.max_distance is not None:
                raise ProblemError(
                    f"vehicles[{i}].max_distance", f"needs matrices.{v.profile}.distances"
                )
        if mats.costs is not None and v.costs.per_hour != DEFAULT_COSTS.per_hour:
            raise ProblemError(
                f"vehicles[{i}].costs.per_hour",
                f"cannot be used with matrices.{v.profile}.costs (as in VROOM)",
            )


def _check_unique(ids: list[int], path: str, suffix: str = "") -> None:
    seen: dict[int, int] = {}
    for i, item_id in enumerate(ids):
        if item_id in seen:
            first = f"{path}[{seen[item_id]}]{suffix}"
            raise ProblemError(f"{path}[{i}]{suffix}.id", f"duplicate id {item_id} (also {first})")
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
    parsed: list[tuple[Job, _Amounts]],
    shipped: list[tuple[Shipment, _Amounts]],
    vehicles: tuple[Vehicle, ...],
) -> tuple[int, tuple[Job, ...], tuple[Shipment, ...]]:
    """Check that every amount has one size; an amount not given is zeros (a pickup: ())."""
    sized = [(len(a), path) for _, given in parsed + shipped for a, path in given.values()]
    sized += [(len(v.capacity), f"vehicles[{i}].capacity") for i, v in enumerate(vehicles)]
    size, reference = max(sized, key=lambda item: item[0])
    for n, path in sized:
        if n != size:
            raise ProblemError(path, f"has {n} values, {reference} has {size}")
    zero = (0,) * size

    def amount(given: _Amounts, key: str) -> tuple[int, ...]:
        return given[key][0] if key in given else zero

    def pickup(given: _Amounts, key: str) -> tuple[int, ...]:
        return given[key][0] if key in given and any(given[key][0]) else ()

    jobs = tuple(
        replace(job, delivery=amount(given, "delivery"), pickup=pickup(given, "pickup"))
        for job, given in parsed
    )
    shipments = tuple(
        Shipment(
            replace(s.pickup, pickup=pickup(given, "amount"), delivery=zero),
            replace(s.delivery, delivery=amount(given, "amount")),
        )
        for s, given in shipped
    )
    return size, jobs, shipments

"""Solomon VRPTW instances: read the classic text files, convert to VROOM's format, score plans.

Convention (the one the published best-known Solomon results use): travel time = distance =
Euclidean distance at full precision. The solver works in integers, so times are scaled by SCALE;
travel times are rounded up, which keeps every plan feasible with integers feasible at full
precision too; distances are rounded. Gaps are measured on the routes re-evaluated at full
precision.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCALE = 100
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True)
class Customer:
    """One row of an instance; number 0 is the depot."""

    number: int
    x: float
    y: float
    demand: int
    ready: int
    due: int
    service: int


@dataclass(frozen=True)
class Instance:
    """A Solomon instance: a fleet of identical vehicles, a depot and its customers."""

    name: str
    vehicles: int
    capacity: int
    depot: Customer
    customers: tuple[Customer, ...]


def read_instance(path: Path) -> Instance:
    """Parse a Solomon text file (name, VEHICLE number/capacity, CUSTOMER rows)."""
    lines = [line.split() for line in path.read_text().splitlines()]
    rows = [cells for cells in lines if cells]
    name = rows[0][0]
    vehicle_at = next(i for i, cells in enumerate(rows) if cells[0] == "VEHICLE")
    vehicles, capacity = (int(v) for v in rows[vehicle_at + 2])
    numeric = [cells for cells in rows if len(cells) == 7 and cells[0].isdigit()]
    table = [
        Customer(int(c[0]), *map(float, c[1:3]), *map(int, map(float, c[3:]))) for c in numeric
    ]
    return Instance(name, vehicles, capacity, table[0], tuple(table[1:]))


def euclidean(instance: Instance) -> np.ndarray:
    """Full-precision distances between the depot (row 0) and the customers."""
    points = np.array([(c.x, c.y) for c in (instance.depot, *instance.customers)])
    return np.hypot(*(points[:, np.newaxis, :] - points[np.newaxis, :, :]).transpose(2, 0, 1))


def to_vroom(instance: Instance, scale: int = SCALE) -> dict[str, Any]:
    """The instance as a VROOM problem with custom matrices (location 0 = depot)."""
    exact = euclidean(instance) * scale
    depot = instance.depot
    return {
        "vehicles": [
            {
                "id": k + 1,
                "start_index": 0,
                "end_index": 0,
                "capacity": [instance.capacity],
                "time_window": [depot.ready * scale, depot.due * scale],
            }
            for k in range(instance.vehicles)
        ],
        "jobs": [
            {
                "id": c.number,
                "location_index": i + 1,
                "service": c.service * scale,
                "delivery": [c.demand],
                "time_windows": [[c.ready * scale, c.due * scale]],
            }
            for i, c in enumerate(instance.customers)
        ],
        "matrices": {
            "car": {
                # 1e-9 absorbs float noise on distances that are whole numbers once scaled.
                "durations": np.ceil(exact - 1e-9).astype(int).tolist(),
                "distances": np.rint(exact).astype(int).tolist(),
            }
        },
    }


def route_distance(instance: Instance, solution: Mapping[str, Any]) -> float:
    """Total distance of the solution's routes at full precision (original units)."""
    exact = euclidean(instance)
    total = 0.0
    for route in solution["routes"]:
        stops = [s.get("location_index", 0) for s in route["steps"] if s["type"] != "break"]
        total += float(sum(exact[a, b] for a, b in zip(stops, stops[1:], strict=False)))
    return total


def read_bks(path: Path, kind: str = "distance_only") -> dict[str, float]:
    """Best-known distances per instance name from solomon_bks.csv, for one `kind` of row."""
    with path.open(newline="") as handle:
        return {
            row["instance"]: float(row["distance"])
            for row in csv.DictReader(handle)
            if row["kind"] == kind
        }


def gap(distance: float, best: float) -> float:
    """Relative gap to the best known, in percent."""
    return 100.0 * (distance - best) / best if best else math.inf


# Peers get the cores ours gets: VROOM two threads, PyVRP the better of two seeds at once.
PEER_CORES = 2


def best_of_seeds(solve_seed, time_limit: float) -> Any:
    """The better (lower first item) of solve_seed(time_limit, seed) for PEER_CORES seeds at once.

    solve_seed must be a picklable module-level function; each seed runs in its own process.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(PEER_CORES, mp_context=context) as pool:
        futures = [pool.submit(solve_seed, time_limit, seed) for seed in range(PEER_CORES)]
        return min((f.result() for f in futures), key=lambda found: found[0])


def pyvrp_seed(data: Any, time_limit: float, seed: int) -> tuple[float, list[list[int]]]:
    """PyVRP's default search on ProblemData for time_limit s: its cost and client routes.

    The limit is wall time from the call, as ours: pyvrp.stop.MaxRuntime's clock would start
    only after PyVRP's first descent (7 s at 4,000 stops).
    """
    import time

    from pyvrp import solve

    deadline = time.monotonic() + time_limit
    result = solve(data, stop=lambda _: time.monotonic() >= deadline, seed=seed, display=False)
    routes = [[a.idx for a in route if a.is_client()] for route in result.best.routes()]
    return result.cost(), routes


def solve_with_vroom(problem: dict, time_limit: float):
    """VROOM (pyvroom, exploration 5, PEER_CORES threads) on a VROOM-format problem."""
    import json
    import os
    import tempfile
    from datetime import timedelta

    import vroom

    # pyvroom reads VROOM's JSON from a file only, so the problem goes through a temporary one.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(problem, handle)
    try:
        model = vroom.Input.from_json(handle.name)
    finally:
        os.unlink(handle.name)
    return model.solve(
        exploration_level=5, nb_threads=PEER_CORES, timeout=timedelta(seconds=time_limit)
    )

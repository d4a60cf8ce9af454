"""Iterated ruin-and-recreate around OR-Tools' local search, on one routing model.

Each step removes a few strings of nearby jobs from the current plan (SISR's ruin: Christiaens
and Vanden Berghe, 2020), re-inserts them in Python by cheapest feasible insertion (time windows
and amounts), and lets OR-Tools check the plan and bring it to a local optimum with a greedy
descent; a record-to-record rule decides whether the next step starts from it. Constraints the
insertion does not model (breaks, max_tasks, locked order, window holes) are left to OR-Tools:
a plan that breaks one is refused by its restore and the step is skipped; jobs with no feasible
place stay unperformed (droppable disjunctions) for the descent to insert.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

# SISR's longest removed string (L_max in the paper).
MAX_STRING = 10
# Statuses after which the returned assignment is a plan (ortools 9.15 RoutingSearchStatus).
_SOLVED = (1, 2, 7)
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class Insertion:
    """The model's times, amounts, vehicles and costs by routing index, for re-insertion."""

    node: np.ndarray  # routing index -> node (row of the travel matrices)
    service: np.ndarray  # service time at each index
    lo: np.ndarray  # earliest service start at each index (hull of its windows)
    hi: np.ndarray  # latest service start
    demand: np.ndarray  # index x amount
    capacity: np.ndarray  # vehicle x amount
    allowed: np.ndarray  # index x vehicle: whether the vehicle may serve the index
    profile_of: list[int]  # vehicle -> position in travel
    kind_of: list[int]  # vehicle -> its class: empty vehicles of one class are interchangeable
    # Node x node travel per profile: the arc cost; plus the service at the origin, the time.
    travel: list[np.ndarray]


@dataclass(frozen=True)
class RuinRecreate:
    """Settings of the loop (measured values in SearchConfig)."""

    mean_removed: float
    threshold: float
    seed: int = 0


def _routes(routing: Any, assignment: Any) -> list[list[int]]:
    """The routing indices of each vehicle's jobs, in order."""
    out = []
    for k in range(routing.vehicles()):
        index, route = assignment.Value(routing.NextVar(routing.Start(k))), []
        while not routing.IsEnd(index):
            route.append(index)
            index = assignment.Value(routing.NextVar(index))
        out.append(route)
    return out


def _ruin(
    data: Insertion, routes: list[list[int]], rng: random.Random, mean_removed: float
) -> set[int]:
    """SISR's string removal: strings around the jobs nearest a random seed, one per route."""
    served = [i for route in routes for i in route]
    if not served:
        return set()
    route_of = {i: k for k, route in enumerate(routes) for i in route}
    lengths = [len(route) for route in routes if route]
    max_string = min(MAX_STRING, sum(lengths) / len(lengths))
    n_routes = int(rng.uniform(1, 4 * mean_removed / (1 + max_string)))
    seed = rng.choice(served)
    travel = data.travel[data.profile_of[route_of[seed]]]
    candidates = np.array(served)
    near = candidates[np.argsort(travel[data.node[seed], data.node[candidates]], kind="stable")]
    removed: set[int] = set()
    ruined: set[int] = set()
    for index in near.tolist():
        if len(ruined) >= n_routes:
            break
        k = route_of[index]
        if index in removed or k in ruined:
            continue
        route = routes[k]
        length = int(rng.uniform(1, min(len(route), max_string) + 1))
        at = route.index(index)
        first = rng.randint(max(0, at - length + 1), min(at, len(route) - length))
        removed.update(route[first : first + length])
        ruined.add(k)
    return removed


class _Route:
    """One vehicle's path with its earliest and latest service starts, for insertion checks."""

    def __init__(self, routing: Any, data: Insertion, k: int, jobs: list[int]) -> None:
        self.k = k
        self.path = np.array([routing.Start(k), *jobs, routing.End(k)], dtype=np.intp)
        self.travel = data.travel[data.profile_of[k]]
        self.load = data.demand[self.path].sum(axis=0)
        self._time(data)

    def _time(self, data: Insertion) -> None:
        path, nodes = self.path, data.node[self.path]
        legs = (self.travel[nodes[:-1], nodes[1:]] + data.service[path[:-1]]).tolist()
        lo, hi = data.lo[path].tolist(), data.hi[path].tolist()
        earliest, latest = list(lo), list(hi)
        for j in range(1, len(path)):
            earliest[j] = max(earliest[j - 1] + legs[j - 1], lo[j])
        for j in range(len(path) - 2, -1, -1):
            latest[j] = min(hi[j], latest[j + 1] - legs[j])
        self.earliest, self.latest = np.array(earliest), np.array(latest)

    def cheapest(self, data: Insertion, u: int) -> tuple[int, int]:
        """The cheapest feasible place for u: (added cost, gap after which), gap -1 if none."""
        if not data.allowed[u, self.k] or np.any(
            self.load + data.demand[u] > data.capacity[self.k]
        ):
            return _NEVER, -1
        nodes, v = data.node[self.path], data.node[u]
        a, b = nodes[:-1], nodes[1:]
        to_u, from_u = self.travel[a, v], self.travel[v, b]
        begin = np.maximum(self.earliest[:-1] + to_u + data.service[self.path[:-1]], data.lo[u])
        fits = (begin <= data.hi[u]) & (begin + data.service[u] + from_u <= self.latest[1:])
        if not fits.any():
            return _NEVER, -1
        added = np.where(fits, to_u + from_u - self.travel[a, b], _NEVER)
        gap = int(added.argmin())
        return int(added[gap]), gap

    def insert(self, data: Insertion, u: int, gap: int) -> None:
        self.path = np.insert(self.path, gap + 1, u)
        self.load = self.load + data.demand[u]
        self._time(data)


def _recreate(
    routing: Any,
    data: Insertion,
    routes: list[list[int]],
    removed: list[int],
    rng: random.Random,
) -> list[list[int]]:
    """Insert the removed jobs one by one, in random order, each at its cheapest place."""
    paths = [_Route(routing, data, k, jobs) for k, jobs in enumerate(routes)]
    # Empty vehicles of one class offer the same places: try one of each class.
    classes: set[int] = set()
    open_paths = []
    for path in paths:
        if len(path.path) > 2 or data.kind_of[path.k] not in classes:
            classes.add(data.kind_of[path.k])
            open_paths.append(path)
    rng.shuffle(removed)
    for u in removed:
        best: tuple[int, _Route | None, int] = (_NEVER, None, -1)
        for path in open_paths:
            added, gap = path.cheapest(data, u)
            if gap >= 0 and added < best[0]:
                best = (added, path, gap)
        if best[1] is not None:
            best[1].insert(data, u, best[2])
    return [path.path[1:-1].tolist() for path in paths]


def improve(
    routing: Any, start: Any, params: Any, deadline: float, data: Insertion, cfg: RuinRecreate
) -> Any:
    """Ruin and recreate from `start` (a plan) until `deadline`; return the best plan found.

    `params`: RoutingSearchParameters of the descent run after each re-insertion.
    """
    solver = routing.solver()
    rng = random.Random(cfg.seed)
    best = current = solver.Assignment(start)
    best_cost = current_cost = best.ObjectiveValue()
    began = time.monotonic()
    span = max(deadline - began, 1e-9)
    while (left := deadline - time.monotonic()) > 0.005:
        routes = _routes(routing, current)
        removed = _ruin(data, routes, rng, cfg.mean_removed)
        kept = [[i for i in route if i not in removed] for route in routes]
        rebuilt = solver.Assignment(current)
        if not routing.RoutesToAssignment(
            _recreate(routing, data, kept, sorted(removed), rng), True, True, rebuilt
        ):
            continue
        params.time_limit.FromMilliseconds(max(1, int(left * 1000)))
        found = routing.SolveFromAssignmentWithParameters(rebuilt, params)
        if found is None or routing.status() not in _SOLVED:
            continue
        cost = found.ObjectiveValue()
        if cost < best_cost:
            best, best_cost = solver.Assignment(found), cost
        # Record-to-record travel: go on from any plan within a margin of the best, a margin
        # that shrinks to zero by the deadline.
        margin = cfg.threshold * (1 - (time.monotonic() - began) / span)
        if cost < current_cost or cost <= best_cost * (1 + margin):
            current, current_cost = solver.Assignment(found), cost
    return best

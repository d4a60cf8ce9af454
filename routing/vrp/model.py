"""The OR-Tools routing model of a screened problem, and how it searches (SearchConfig).

This is the only module of the project that imports ortools. Every solve builds one model;
routing.vrp.solve.solve_isolated runs it in a fresh process (OR-Tools #5076: a second model in
one process can crash it). The default search is OR-Tools' own iterated local search.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import text_format
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing.vrp.balance import fair_bounds
from routing.vrp.problem import (
    JOB,
    PICKUP,
    Break,
    Job,
    Matrices,
    Place,
    Problem,
    ProblemError,
    Vehicle,
    Window,
    picked,
    scaled,
)
from routing.vrp.stopping import StallWatch
from routing.vrp.whole_problem import reach_estimate

# Locked jobs' priority in the drop penalties: above every input priority (at most 100).
LOCKED_PRIORITY = 101

_STATUS = routing_enums_pb2.RoutingSearchStatus
_GREEDY_DESCENT = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
_GUIDED_LOCAL_SEARCH = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
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
    # (`first_solution`), not from the vehicles' steps: see Model.solve.
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


# Internal cost units per unit of VROOM's cost: per_hour x s / 3600 and per_km x m / 1000 are
# whole numbers of 1/36,000 (10 x per_hour x s, 36 x per_km x m); the model divides all its
# costs by their greatest common divisor, so default costs stay one unit per second of travel.
COST_UNITS = 36_000
# Penalties are built above the largest plan cost: past this, int64 sums could overflow.
MAX_COST_BASE = 2**50


class Model:
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
        self.rows = np.array([0 if p is None else p.index for p in places], dtype=np.intp)
        self.virtual = np.array([p is None for p in places], dtype=bool)
        self.mats = mats
        self.service = np.array([j.service for j in self.jobs] + [0] * (2 * n_vehicles), np.int64)
        setup = np.array([j.setup for j in self.jobs] + [0] * (2 * n_vehicles), np.int64)
        # A task's setup when coming from each node: none from the same place (VROOM); a missing
        # start is no place, so the first task sets up.
        self.setup = None
        if setup.any():
            where = np.where(self.virtual, -1 - np.arange(len(places)), self.rows)
            self.setup = setup[np.newaxis, :] * (where[:, np.newaxis] != where[np.newaxis, :])

        # The manager must outlive the model (OR-Tools #228, #270: what the C++ side uses must stay
        # referenced for the whole solve): both are attributes.
        self.manager = pywrapcp.RoutingIndexManager(
            n_jobs + 2 * n_vehicles,
            n_vehicles,
            [n_jobs + 2 * k for k in range(n_vehicles)],
            [n_jobs + 2 * k + 1 for k in range(n_vehicles)],
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.assignment: Any = None
        self.watch = StallWatch(0.0)
        self._callback: Any = None
        self._on_stall: Callable[[], None] | None = None
        self._best: Any = None

        # Vehicles of one profile and speed share travel times (scaled by the speed factor).
        travel = {key: self._nodes(mats[key[0]].durations, key[1]) for key in self._speeds()}
        # Matrices go to C++ once (RegisterTransitMatrix), never a Python callback per arc.
        # The time transit folds the service of the from-node and the setup of the to-node in.
        transit = {
            key: self.routing.RegisterTransitMatrix(self._task_time(m).tolist())
            for key, m in travel.items()
        }
        self.cost_unit, arc_costs = self._arc_costs(travel, transit)
        for k, v in enumerate(self.vehicles):
            self.routing.SetArcCostEvaluatorOfVehicle(arc_costs[k], k)
            self.routing.SetFixedCostOfVehicle(v.costs.fixed * COST_UNITS // self.cost_unit, k)

        horizon = self._horizon(travel)
        self.routing.AddDimensionWithVehicleTransits(
            [transit[_speed(v)] for v in self.vehicles], horizon, horizon, False, "time"
        )
        self.time = self.routing.GetDimensionOrDie("time")
        self._add_amounts(problem.amount_size)
        self._add_ranges(travel)
        self._add_ranks()
        self._add_windows(candidates, horizon)
        self._add_shipments()
        self.breaks = self._add_breaks(horizon)
        preferences = self._add_preferences() * (COST_UNITS // self.cost_unit)
        preferences += self._add_balance(travel)  # and the fair shares'

        # Dropping a job must cost more than any plan: all travel, fixed and preference costs.
        base = self._largest_cost + sum(v.costs.fixed for v in self.vehicles) * (
            COST_UNITS // self.cost_unit
        )
        base += preferences + 1
        if base > MAX_COST_BASE:
            raise ProblemError("vehicles", "costs too large for this solver")
        priorities = [LOCKED_PRIORITY if job.locked else job.priority for job in self.jobs]
        penalties = _penalties(priorities, base)
        for node, penalty in enumerate(penalties):
            self.routing.AddDisjunction([self.manager.NodeToIndex(node)], penalty)

    def _places(self) -> Iterator[Place | None]:
        """The places a task can be reached from: tasks and vehicle starts."""
        yield from (job.place for job in self.jobs)
        yield from (v.start for v in self.vehicles)

    def _speeds(self) -> list[tuple[str, float]]:
        return sorted({_speed(v) for v in self.vehicles})

    def _nodes(self, matrix: np.ndarray, speed_factor: float = 1.0) -> np.ndarray:
        """A places matrix by node (zero to and from a missing start or end), at a speed."""
        nodes = scaled(matrix[np.ix_(self.rows, self.rows)], speed_factor)
        nodes[self.virtual, :] = 0
        nodes[:, self.virtual] = 0
        return nodes

    def _task_time(self, travel: np.ndarray) -> np.ndarray:
        """Travel plus the service before and the setup after each arc."""
        out = travel + self.service[:, np.newaxis]
        return out if self.setup is None else out + self.setup

    def _arc_costs(
        self, travel: Mapping[tuple[str, float], np.ndarray], transit: Mapping[tuple, int]
    ) -> tuple[int, list[int]]:
        """Each vehicle's arc cost evaluator, in units of 1/COST_UNITS divided by their gcd.

        Where the cost is the time transit itself (travel only, no service nor setup), that
        matrix is reused rather than registered twice.
        """
        keys = [(*_speed(v), _cost_terms(v, self.mats[v.profile])) for v in self.vehicles]
        coefficients = [c for key in keys for c, _ in key[2]]
        coefficients += [COST_UNITS] if any(v.costs.fixed for v in self.vehicles) else []
        coefficients += [COST_UNITS] if any(j.preference_cost for j in self.jobs) else []
        coefficients += [COST_UNITS] if any(v.balance_cost for v in self.vehicles) else []
        unit = math.gcd(*coefficients) or 1
        evaluators: dict[tuple, int] = {}
        self._largest_cost = 0
        for key, vehicle in zip(keys, self.vehicles, strict=True):
            if key in evaluators:
                continue
            if key[2] == ((unit, "travel"),) and not self.service.any() and self.setup is None:
                largest = int(travel[key[:2]].max(axis=1, initial=0).sum())
                self._largest_cost = max(self._largest_cost, largest)
                evaluators[key] = transit[key[:2]]
                continue
            matrix = np.zeros((len(self.rows), len(self.rows)), np.int64)
            for coefficient, name in key[2]:
                matrix += coefficient // unit * self._term(name, vehicle, travel)
            # Summed as Python ints: a sum past int64 must show, not wrap (MAX_COST_BASE).
            largest = sum(map(int, matrix.max(axis=1, initial=0)))
            self._largest_cost = max(self._largest_cost, largest)
            evaluators[key] = self.routing.RegisterTransitMatrix(matrix.tolist())
        return unit, [evaluators[key] for key in keys]

    def _term(
        self, name: str, vehicle: Vehicle, travel: Mapping[tuple[str, float], np.ndarray]
    ) -> np.ndarray:
        """A matrix by node that a cost term multiplies (see _cost_terms)."""
        if name == "travel":
            return travel[_speed(vehicle)]
        if name == "tasks":
            return self._task_durations()
        return self._nodes(getattr(self.mats[vehicle.profile], name))

    def _task_durations(self) -> np.ndarray:
        """Setup and service of each arc's to-node: the task time per_task_hour charges."""
        out = np.broadcast_to(self.service[np.newaxis, :], (len(self.rows),) * 2).copy()
        return out if self.setup is None else out + self.setup

    def _horizon(self, travel: Mapping[tuple[str, float], np.ndarray]) -> int:
        """An upper bound on every time of any plan: the latest input time plus all work."""
        times = [0]
        times += [w.end for job in self.jobs for w in job.time_windows]
        times += [v.time_window.end for v in self.vehicles if v.time_window]
        times += [w.end for v in self.vehicles for b in v.breaks for w in b.time_windows]
        breaks = sum(b.service for v in self.vehicles for b in v.breaks)
        longest = max(int(m.max(initial=0)) for m in travel.values())
        work = int(self.service.sum()) + sum(job.setup for job in self.jobs)
        return max(times) + work + breaks + (len(self.jobs) + 1) * longest

    def _add_amounts(self, size: int) -> None:
        """Capacity at every step: jobs' deliveries on board from the start, pickups on the way.

        Without pickups the load only falls, so the sum of the deliveries is what must fit.
        With pickups a load dimension follows each change; it starts at the route's job
        deliveries (a second dimension adds them up to its end: the two are made equal).
        """
        tail = [0] * (2 * len(self.vehicles))
        solver = self.routing.solver()
        for k in range(size):
            capacities = [v.capacity[k] for v in self.vehicles]
            loaded = [job.delivery[k] if job.kind == JOB else 0 for job in self.jobs]
            delivered = None
            if any(loaded):
                index = self.routing.RegisterUnaryTransitVector(loaded + tail)
                self.routing.AddDimensionWithVehicleCapacity(
                    index, 0, capacities, True, f"amount{k}"
                )
                delivered = self.routing.GetDimensionOrDie(f"amount{k}")
            if not any(job.pickup and job.pickup[k] for job in self.jobs):
                continue
            changes = [picked(job, size)[k] - job.delivery[k] for job in self.jobs]
            index = self.routing.RegisterUnaryTransitVector(changes + tail)
            self.routing.AddDimensionWithVehicleCapacity(
                index, 0, capacities, delivered is None, f"load{k}"
            )
            if delivered is not None:
                load = self.routing.GetDimensionOrDie(f"load{k}")
                for v in range(len(self.vehicles)):
                    start, end = self.routing.Start(v), self.routing.End(v)
                    solver.Add(load.CumulVar(start) == delivered.CumulVar(end))

    def _add_ranges(self, travel: Mapping[tuple[str, float], np.ndarray]) -> None:
        """Each vehicle's max_travel_time (travel at its speed) and max_distance."""
        if any(v.max_travel_time is not None for v in self.vehicles):
            transit = {
                key: self.routing.RegisterTransitMatrix(m.tolist()) for key, m in travel.items()
            }
            bound = max(int(m.max(axis=1, initial=0).sum()) for m in travel.values())
            limits = [
                bound if v.max_travel_time is None else v.max_travel_time for v in self.vehicles
            ]
            self.routing.AddDimensionWithVehicleTransitAndCapacity(
                [transit[_speed(v)] for v in self.vehicles], 0, limits, True, "travel"
            )
        if any(v.max_distance is not None for v in self.vehicles):
            profiles = sorted({v.profile for v in self.vehicles})
            distances = {p: self._nodes(self.mats[p].distances) for p in profiles}
            transit = {
                p: self.routing.RegisterTransitMatrix(m.tolist()) for p, m in distances.items()
            }
            bound = max(int(m.max(axis=1, initial=0).sum()) for m in distances.values())
            limits = [bound if v.max_distance is None else v.max_distance for v in self.vehicles]
            self.routing.AddDimensionWithVehicleTransitAndCapacity(
                [transit[v.profile] for v in self.vehicles], 0, limits, True, "distance"
            )

    def _add_shipments(self) -> None:
        """A shipment's pickup and delivery: both or neither, one vehicle, pickup first."""
        solver = self.routing.solver()
        for node, job in enumerate(self.jobs):
            if job.kind != PICKUP:
                continue
            # screen_jobs puts each delivery right after its pickup.
            pickup, delivery = self.manager.NodeToIndex(node), self.manager.NodeToIndex(node + 1)
            self.routing.AddPickupAndDelivery(pickup, delivery)
            solver.Add(self.routing.ActiveVar(pickup) == self.routing.ActiveVar(delivery))
            # The pair puts the pickup first on its route (measured with OR-Tools 9.15); a
            # time precedence would bind a dropped pair's windows too.
            solver.Add(self.routing.VehicleVar(pickup) == self.routing.VehicleVar(delivery))

    def _add_ranks(self) -> None:
        """Count the tasks along each route: for max_tasks, and to keep locked jobs in order."""
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
        self.routing.GetDimensionOrDie("preference").SetSpanCostCoefficientForAllVehicles(
            COST_UNITS // self.cost_unit
        )
        return total

    def _add_balance(self, travel: Mapping[tuple[str, float], np.ndarray]) -> int:
        """Charge work outside each vehicle's fair share (routing.vrp.balance), per second.

        A dimension whose transit is the from-node's work (service and a travel estimate: the
        jobs a route serves, not their order), with soft bounds at each fair share's ends on
        the route's end. Returns the largest total it can reach, in cost units.
        """
        if not any(v.balance_cost for v in self.vehicles):
            return 0
        n_jobs, scale = len(self.jobs), COST_UNITS // self.cost_unit
        nodes = travel[_speed(self.vehicles[0])]
        reach = reach_estimate(nodes, np.arange(n_jobs))
        work = np.round(self.service[:n_jobs] + reach).astype(np.int64)
        total = int(work.sum())
        transit = self.routing.RegisterUnaryTransitVector(
            work.tolist() + [0] * (2 * len(self.vehicles))
        )
        self.routing.AddDimensionWithVehicleCapacity(
            transit, 0, [total] * len(self.vehicles), True, "work"
        )
        dimension = self.routing.GetDimensionOrDie("work")
        for k, bounds in enumerate(fair_bounds(self.vehicles, total)):
            if bounds is not None:
                cost, end = self.vehicles[k].balance_cost * scale, self.routing.End(k)
                # An empty route's costs count too: an idle vehicle is as short as can be.
                self.routing.SetVehicleUsedWhenEmpty(True, k)
                dimension.SetCumulVarSoftLowerBound(end, bounds[0], cost)
                dimension.SetCumulVarSoftUpperBound(end, bounds[1], cost)
        return sum(v.balance_cost for v in self.vehicles) * total * scale

    def _add_windows(self, candidates: list[tuple[Job, list[int]]], horizon: int) -> None:
        """Windows on each task's time, skills as allowed vehicles, shifts on starts and ends.

        A task's time is when its service starts, after its setup: its windows (for the
        setup's start) move by the setup. Where the setup may be skipped (another task or a
        vehicle start at the same place), the time must fit both ways.
        """
        everyone = len(self.vehicles)
        shared = Counter(p.index for p in self._places() if p is not None)
        for node, (job, allowed) in enumerate(candidates):
            index = self.manager.NodeToIndex(node)
            windows = _shifted(job.time_windows, job.setup)
            if job.setup and shared[job.place.index] > 1:
                windows = _intersection(job.time_windows, windows)
            if job.time_windows and not windows:
                # Windows shorter than the setup, at a shared place: left out (dropped).
                self.routing.VehicleVar(index).SetValues([-1])
                continue
            _restrict(self.time.CumulVar(index), windows)
            if len(allowed) < everyone:
                # -1 keeps the job droppable. (SetAllowedVehiclesForIndex's SWIG wrapper
                # refuses every Python sequence in 9.15: it wants an absl::Span.)
                self.routing.VehicleVar(index).SetValues([-1, *allowed])
        for k, v in enumerate(self.vehicles):
            shift = v.time_window or Window(0, horizon)
            leaves = shift.start if v.fixed_start else shift.end  # as routing.vrp.schedule
            self.time.CumulVar(self.routing.Start(k)).SetRange(shift.start, leaves)
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

    def solve(
        self,
        config: SearchConfig,
        time_limit_s: float,
        stall_s: float,
        on_stall: Callable[[], None] | None = None,
    ) -> int:
        """Search from the vehicles' steps when they are feasible, or from a first solution.

        The iterated local search cannot start from given routes: with steps, they are first
        brought to a local optimum by a descent, and that plan stays unless the iterated local
        search, from its own first solution in the time left, finds a better one. A search
        stops after stall_s seconds without a better plan (self.watch); the iterated local
        search cannot be stopped, so when it stalls, self.assignment becomes the best plan so
        far and on_stall is called (without on_stall, it runs to its limit).
        """
        deadline = time.monotonic() + time_limit_s
        params = config.search_parameters(time_limit_s)
        if any(v.balance_cost for v in self.vehicles):
            params.first_solution_strategy = _share_aware(params.first_solution_strategy)
        # A first-solution-only search (solution_limit) stops there, as asked.
        if params.solution_limit != _NO_SOLUTION_LIMIT:
            params.use_iterated_local_search = False
        # OR-Tools 9.15's iterated local search ignores every way to stop it early that Python
        # has (a CustomLimit that is reached, FinishCurrentSearch, UpdateTimeLimit, an
        # improvement_limit_parameters: measured, it runs on to its time limit). With no more
        # jobs than one ruin removes, each of its steps rebuilds the whole plan: guided local
        # search, which stops, does as well there.
        if params.use_iterated_local_search and len(self.jobs) <= config.ils_removed:
            params.use_iterated_local_search = False
            params.local_search_metaheuristic = _GUIDED_LOCAL_SEARCH
        self.watch = StallWatch(stall_s)
        self._on_stall = on_stall if params.use_iterated_local_search else None
        steps = any(v.steps for v in self.vehicles)
        if self._on_stall is not None or steps:
            # Once only (a second close logs a warning); the cost variable exists from here.
            self.routing.CloseModelWithParameters(params)
        if self._on_stall is not None:
            self._best = self._snapshot()
        if self._on_stall is not None or not params.use_iterated_local_search:
            # At every solution (hundreds a second, negligible beside the search, where a
            # CustomLimit polled from C++ cost a sixth of the solutions on Solomon R101). The
            # bound method is kept: the C++ side holds the callback for the whole solve.
            self._callback = self._seen
            self.routing.AddAtSolutionCallback(self._callback)
        initial = None
        if steps:
            node_of = {job.id: node for node, job in enumerate(self.jobs) if job.kind == JOB}
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

    def _snapshot(self) -> Any:
        """An assignment of every variable routes() reads, to store the best plan in."""
        snapshot = self.routing.solver().Assignment()
        indices = range(self.routing.Size())
        snapshot.Add([self.routing.NextVar(i) for i in indices])
        snapshot.Add([self.time.CumulVar(i) for i in indices])
        for interval in (iv for breaks in self.breaks.values() for _, iv in breaks):
            snapshot.Add(interval)
        snapshot.AddObjective(self.routing.CostVar())
        return snapshot

    def _seen(self) -> None:
        """At each solution: stop the search, or hand on the best plan, once it has stalled."""
        best = self.watch.best
        stalled = self.watch.seen(self.routing.CostVar().Value())
        if self._on_stall is None:
            if stalled:
                self.routing.solver().FinishCurrentSearch()
        elif not stalled:
            if self.watch.best != best:
                self._best.Store()
        elif self.assignment is not self._best:
            self.assignment = self._best
            self._on_stall()

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


def _cost_terms(vehicle: Vehicle, mats: Matrices) -> tuple[tuple[int, str], ...]:
    """A vehicle's arc cost as (coefficient in 1/COST_UNITS, matrix) terms, as VROOM costs it.

    A costs matrix replaces the per_hour and per_km travel costs (VROOM); "tasks" is the setup
    and service of the arc's destination, for per_task_hour.
    """
    costs = vehicle.costs
    if mats.costs is not None:
        terms = [(COST_UNITS, "costs")]
    else:
        terms = [(10 * costs.per_hour, "travel")]
        if mats.distances is not None:
            terms.append((36 * costs.per_km, "distances"))
    terms.append((10 * costs.per_task_hour, "tasks"))
    return tuple((c, name) for c, name in terms if c)


def _speed(vehicle: Vehicle) -> tuple[str, float]:
    """What a vehicle's travel times depend on: its profile and speed factor."""
    return vehicle.profile, vehicle.speed_factor


def _shifted(windows: tuple[Window, ...], by: int) -> tuple[Window, ...]:
    return tuple(Window(w.start + by, w.end + by) for w in windows)


def _intersection(a: tuple[Window, ...], b: tuple[Window, ...]) -> tuple[Window, ...]:
    """The times inside both unions of sorted windows, as sorted windows."""
    out = []
    for x, y in itertools.product(a, b):
        if max(x.start, y.start) <= min(x.end, y.end):
            out.append(Window(max(x.start, y.start), min(x.end, y.end)))
    return tuple(sorted(out))


# First solutions that weigh each insertion's full cost, fair shares included.
_INSERTIONS = {
    routing_enums_pb2.FirstSolutionStrategy.Value.Value(name)
    for name in (
        "PARALLEL_CHEAPEST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
    )
}


def _share_aware(strategy: int) -> int:
    """A first solution for vehicles with fair shares (balance_cost): cheapest insertion.

    Route-by-route strategies (path cheapest arc, savings) go by travel alone: on the demo
    day's largest cluster (252 jobs, 4 vehicles, 4 s) path cheapest arc left one route with
    11,675 s of work and another with 1,473, which single moves had not evened out by the
    limit; from local cheapest insertion, every route was within its fair share.
    """
    if strategy in _INSERTIONS:
        return strategy
    return routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION


def _restrict(var: Any, windows: tuple[Window, ...]) -> None:
    """Limit an OR-Tools variable to the union of sorted windows (hull, then holes)."""
    if not windows:
        return
    var.SetRange(windows[0].start, windows[-1].end)
    for before, after in itertools.pairwise(windows):
        var.RemoveInterval(before.end + 1, after.start - 1)

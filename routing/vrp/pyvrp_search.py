"""A problem relaxed to what PyVRP 0.14 expresses, PyVRP's search on it, and its routes back.

PyVRP's iterated local search plans office days 5-15 % better than OR-Tools in the same time
(bench/routing_postal.py), so it gives the OR-Tools model a warm start; OR-Tools keeps every
constraint and makes the final plan. The relaxation:
- breaks: PyVRP has none, so a shift ends earlier by its breaks' length, and a job window that
  closes after the earliest break could start ends earlier by as much (room for the break
  before the visit, as the benchmark's PyVRP peer plans);
- priorities: prizes, so that serving a job always pays, a higher priority more.
A problem with anything else PyVRP cannot express (several windows per job, skills not every
vehicle has, preferred vehicles, locks, max_tasks, vehicles' current steps, a route without a
start or end, and any feature this module does not know) is not relaxable: OR-Tools alone plans
it. Preferences are left to OR-Tools because PyVRP's plan would scatter a carrier's district
(on a 300-stop day with 20 stops preferring one carrier, 8 s: 4 of them still elsewhere).

routes_kept() then makes PyVRP's routes feasible with the breaks: each takes its breaks where
they fit, else loses its first late stop until it does (OR-Tools inserts those again).
pyvrp is imported only inside the functions that use it: in the solver's processes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.vrp.problem import Break, Job, Matrices, Problem, Vehicle
from routing.vrp.schedule import break_gaps, schedule
from routing.vrp.stopping import StallWatch

# What each dataclass may carry for the relaxation to hold; any other field (a feature added
# later) must be at its default.
_JOB_FIELDS = frozenset(
    {"id", "place", "service", "delivery", "time_windows", "priority", "skills", "locked"}
)
_VEHICLE_FIELDS = frozenset(
    {"id", "start", "end", "profile", "capacity", "skills", "time_window", "breaks"}
    | {"max_tasks", "steps"}
)
_PROBLEM_FIELDS = frozenset({"jobs", "vehicles", "amount_size", "matrices", "points"})
_MATRICES_FIELDS = frozenset({"durations", "distances"})
# Without a window: a time that never binds, with room left for PyVRP's sums of times.
_NO_END = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Found:
    """PyVRP's best plan: job positions in order per vehicle position, and its objective."""

    routes: dict[int, list[int]]
    cost: float


def _at_defaults(item: object, known: frozenset[str]) -> bool:
    """Whether every field of a dataclass instance outside `known` has its default value."""
    for f in dataclasses.fields(item):  # type: ignore[arg-type]
        if f.name in known:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            return False
        if getattr(item, f.name) != default:
            return False
    return True


def relaxable(problem: Problem) -> bool:
    """Whether PyVRP can plan a relaxation of the problem (see the module docstring)."""
    vehicles, jobs = problem.vehicles, problem.jobs
    if not vehicles or not jobs or not _at_defaults(problem, _PROBLEM_FIELDS):
        return False
    if problem.matrices is not None and not all(
        _at_defaults(m, _MATRICES_FIELDS) for m in problem.matrices.values()
    ):
        return False
    common_skills = frozenset.intersection(*(v.skills for v in vehicles))
    for v in vehicles:
        if v.start is None or v.end is None or v.max_tasks is not None or v.steps:
            return False
        if not _at_defaults(v, _VEHICLE_FIELDS):
            return False
    for job in jobs:
        if job.locked or len(job.time_windows) > 1 or not job.skills <= common_skills:
            return False
        if not _at_defaults(job, _JOB_FIELDS):
            return False
    return True


def _break_time(vehicle: Vehicle) -> int:
    return sum(b.service for b in vehicle.breaks)


def problem_data(
    problem: Problem, durations: Mapping[str, np.ndarray]
) -> tuple[Any, list[list[int]]]:
    """PyVRP's ProblemData for a relaxable problem, and the vehicle positions of each type.

    Travel time is the cost, as in the OR-Tools model; durations are one matrix per profile.
    """
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType

    profiles = sorted(durations)
    size = len(next(iter(durations.values())))
    vehicles = problem.vehicles
    opens = [w.start for v in vehicles for b in v.breaks for w in b.time_windows]
    first_break = min(opens, default=None)
    pause = max((_break_time(v) for v in vehicles), default=0)
    longest = max(int(m.max(initial=0)) for m in durations.values())
    # Serving a job saves its prize; above any detour (two legs), so every servable job pays.
    base = 2 * longest + 1
    clients = []
    for job in problem.jobs:
        early, late = 0, _NO_END
        if job.time_windows:
            early, late = job.time_windows[0].start, job.time_windows[0].end
            if first_break is not None and late > first_break:
                late = max(early, late - pause)
        clients.append(
            Client(
                location=job.place.index,
                delivery=list(job.delivery),
                service_duration=job.service,
                tw_early=early,
                tw_late=late,
                prize=base * (1 + job.priority),
                required=False,
            )
        )
    places = sorted({p.index for v in vehicles for p in (v.start, v.end) if p is not None})
    depot_of = {p: d for d, p in enumerate(places)}
    types: dict[tuple, list[int]] = {}
    for k, v in enumerate(vehicles):
        start, end = depot_of[v.start.index], depot_of[v.end.index]  # type: ignore[union-attr]
        key = (start, end, v.capacity, v.time_window, _break_time(v), v.profile)
        types.setdefault(key, []).append(k)
    vehicle_types = []
    for (start, end, capacity, window, pause_s, profile), members in types.items():
        early, late = (window.start, window.end) if window else (0, _NO_END)
        vehicle_types.append(
            VehicleType(
                num_available=len(members),
                capacity=list(capacity),
                start_depot=start,
                end_depot=end,
                tw_early=early,
                tw_late=max(early, late - pause_s),
                profile=profiles.index(profile),
            )
        )
    matrices = [np.ascontiguousarray(durations[p], dtype=np.int64) for p in profiles]
    data = ProblemData(
        locations=[Location(0, 0) for _ in range(size)],
        clients=clients,
        depots=[Depot(p) for p in places],
        vehicle_types=vehicle_types,
        distance_matrices=matrices,
        duration_matrices=matrices,
    )
    return data, list(types.values())


def routes_of(solution: Any, members: list[list[int]]) -> dict[int, list[int]]:
    """PyVRP's routes as job positions per vehicle position (a type's vehicles in order)."""
    free = [list(m) for m in members]
    out = {}
    for route in solution.routes():
        visits = [a.idx for a in route if a.is_client()]
        if visits:
            out[free[route.vehicle_type()].pop(0)] = visits
    return out


def search(
    problem: Problem,
    durations: Mapping[str, np.ndarray],
    deadline: float,
    seed: int,
    stall_s: float = math.inf,
) -> Found | None:
    """PyVRP's best plan of the relaxation found by `deadline` (time.monotonic), or once none
    better came for stall_s seconds (routing.vrp.stopping); None if it found no plan."""
    from pyvrp import solve

    data, members = problem_data(problem, durations)
    watch = StallWatch(stall_s)

    def stop(best_cost: float) -> bool:
        # A deadline, not pyvrp.stop.MaxRuntime: that clock starts after PyVRP's first descent
        # from a random plan, which takes 7 s of 37 at 4,000 stops.
        return watch.seen(best_cost) or time.monotonic() >= deadline

    result = solve(data, stop=stop, seed=seed, collect_stats=False, display=False)
    if not result.is_feasible():
        return None
    return Found(routes_of(result.best, members), float(result.cost()))


def _late(
    vehicle: Vehicle, jobs: list[Job], gaps: dict[int, list[Break]], durations: np.ndarray
) -> Job | None:
    """The job to take out of a late route, None when nothing is late.

    The first late job; for a late break, the job before it (which ran past the break's
    window); for a late end, the last job.
    """
    steps = schedule(vehicle, jobs, gaps, durations)
    late = next((k for k, s in enumerate(steps) if s.late_by > 0), None)
    if late is None:
        return None
    before = [s.item for s in steps[: late + 1] if isinstance(s.item, Job)]
    return before[-1] if before else jobs[0]


def feasible_route(
    vehicle: Vehicle, jobs: list[Job], durations: np.ndarray
) -> tuple[list[Job], dict[int, list[Break]], list[Job]]:
    """A route made feasible with its breaks: (jobs kept, breaks by gap, jobs taken out).

    Breaks go where their windows open (routing.vrp.schedule.break_gaps), else all at the first
    gap where the route keeps every window; if there is none, the first late job (or the job
    before a late break, or the last job when the end is late) is taken out, and again.
    """
    kept, out = list(jobs), []
    while kept:
        gaps = break_gaps(vehicle, kept, durations)
        late = _late(vehicle, kept, gaps, durations)
        if late is None:
            return kept, gaps, out
        if vehicle.breaks:
            for gap in range(len(kept) + 1):
                together = {gap: list(vehicle.breaks)}
                if _late(vehicle, kept, together, durations) is None:
                    return kept, together, out
        kept.remove(late)
        out.append(late)
    return [], {}, out


def routes_kept(
    problem: Problem, mats: Mapping[str, Matrices], routes: dict[int, list[int]]
) -> tuple[list[tuple[Vehicle, list[Job], dict[int, list[Break]]]], list[Job]]:
    """PyVRP's routes made feasible with the problem's breaks (feasible_route).

    Returns the routes as routing.vrp.answers.build_answer takes them, and the jobs left out.
    """
    kept, out = [], []
    for k in sorted(routes):
        vehicle = problem.vehicles[k]
        jobs = [problem.jobs[j] for j in routes[k]]
        route, gaps, dropped = feasible_route(vehicle, jobs, mats[vehicle.profile].durations)
        out += dropped
        if route:
            kept.append((vehicle, route, gaps))
    return kept, out

"""Large routing problems by decomposition: OR-Tools models kept at the size where they are strong.

A monolithic OR-Tools model is competitive up to a few hundred stops and falls apart beyond a
thousand (on bench/routing_postal.py's office days at 30 s, 16 % above PyVRP at 1,000 stops and
55 % at 2,000). `solve_large` answers like routing.vrp.solve.solve, in VROOM's solution format.

A problem of PYVRP_MIN_JOBS jobs or more that PyVRP can plan relaxed (routing.vrp.pyvrp_search:
no breaks, preferences, locks, several windows...) starts from PyVRP's plan: its searches run on
every worker for PYVRP_SHARE of the time (two seeds of the whole, or from PYVRP_SPLIT_JOBS jobs
on one sector each), its routes are made feasible with the breaks, and the improvement phase
(5. below) re-solves them with every constraint in the rest of the time. Without a plan from
PyVRP (other problems, or PyVRP failed), OR-Tools plans alone; it:

1. solves a small problem whole: with two workers, by two searches at once (one per core) from
   different first solutions, keeping the better plan;
2. otherwise splits the jobs into clusters of about one route's work, each with the vehicles
   its work needs and one more (routing.vrp.partition);
3. solves every cluster as its own VROOM sub-problem (routing.vrp.subproblem), each in its
   own process (OR-Tools #5076), `workers` at a time;
4. gives jobs left unassigned a second chance in the nearest other cluster that can serve them;
5. re-solves groups of four or five neighbouring routes (with the unassigned jobs nearest
   them, and then a spare vehicle) warm-started from their current routes (vehicle `steps`),
   and keeps a group's new routes when they are better: more priority served, then more jobs
   served, then less travel plus preference cost; until the time limit, until no group was
   kept for routing.vrp.stopping.stall_seconds of the whole problem, or until every group was
   tried in vain.

The time limit bounds the whole call: every sub-solve is given what is left of it, less the cost
of starting its process; PyVRP's searches stop at their share's deadline (killed GRACE_S after).

With PyVRP's start (bench/routing_postal.py --compare, seed 7, peers on two cores as ours: PyVRP
best of two seeds at once, VROOM two threads; one run each, machine loaded by other work, load
average 2-4), ours / PyVRP: 300 stops at 30 s 17,926 / 17,919; 1,000 at 30 s 40,306 / 40,109
(+0.5 %); 2,000 at 30 s 66,943 / 66,508 (+0.7 %); 4,000 at 60 s 100,124 / 103,912 (-3.6 %);
seed 11: 300 stops 18,963 / 19,469, 1,000 stops 41,446 / 42,094. Solomon type-1 at 10 s
(bench/routing_solomon.py, 10 instances): mean gap 0.67 % against PyVRP's 0.64 %.

Without PyVRP, measured on bench/routing_postal.py (office days, 2 workers): one model at 300
stops and 30 s plans 20,480 s of travel, decomposed 18,578 (PyVRP 18,495); 2,000 stops at 60 s:
105,855 whole, about 68,000 decomposed. Sectors of one route each beat sectors of two (71,000)
and k-medoids blobs (+10 % at 1,000 stops): on a cluster of 250 stops OR-Tools stays 5-10 %
above PyVRP whatever the search settings, while the decomposition itself costs little.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from routing.vrp.answers import (
    REASON_CAPACITY,
    REASON_GENERIC,
    REASON_LOCKED,
    REASON_SKILLS,
    build_answer,
)
from routing.vrp.matrix import PROFILES, MatrixError
from routing.vrp.merged_plan import MergedPlan, SubResult, unassigned_entry
from routing.vrp.model import SearchConfig
from routing.vrp.parse import parse_problem
from routing.vrp.partition import CLUSTER_ROUTES, Cluster, partition
from routing.vrp.problem import Break, Job, Matrices, Problem, ProblemError, Vehicle
from routing.vrp.pyvrp_runs import best_of_seeds, by_parts
from routing.vrp.pyvrp_search import relaxable, routes_kept
from routing.vrp.solve import build_matrices, check_time_limit, solve_isolated, with_stop
from routing.vrp.stopping import EXHAUSTED, NO_IMPROVEMENT, TIME_LIMIT, stall_seconds
from routing.vrp.subproblem import restore_indices, subproblem, whole_path
from routing.vrp.whole_problem import WholeProblem, symmetric, whole_problem_of

logger = logging.getLogger(__name__)

# From this many jobs on, decomposing wins (150 stops at 10 s: 12,932 against 14,073 whole);
# the 100-customer Solomon instances stay whole.
SMALL_JOBS = 150
# Routes' work per cluster of a first plan (partition's `routes`): bigger clusters, so fewer
# processes to start, and first solutions are quick.
FIRST_CLUSTER_ROUTES = 3
# Routes per improvement group, and how many of the routes nearest a seed route may join it
# (4,000 stops, 120 s: groups of 4-5 routes 102,964, of 3-4 104,215, of 2-3 106,367, of 5-6
# 104,279).
GROUP_ROUTES = (4, 5)
NEAREST_ROUTES = 6
# Seconds of search per improvement group (4,000 stops, groups of 4-5: 1.5 s 102,964, 2 s
# 103,565; more groups beat longer ones).
GROUP_S = 1.5
# ... for a group of up to GROUP_JOBS jobs (4-5 routes of an office day); a bigger group gets
# proportionally more: PyVRP's routes at 4,000 stops hold ~120 stops each, and groups of 500
# jobs found no plan in 1.5 s on a loaded machine.
GROUP_JOBS = 300
# Shortest search worth starting a process for, and what starting one costs (a fork of the
# solver's process server and pickling both ways: tens of milliseconds; more on a loaded machine).
MIN_SOLVE_S = 0.3
SPAWN_S = 0.2
# Kill a sub-solve this long after its limit; what is left for merging the answer at the end.
GRACE_S = 2.0
FINISH_S = 0.3
# Share of the time after loading that goes to the clusters' solves; the rest improves. A
# cluster's search gets at least CLUSTER_S, or the clusters are made bigger (2,000 stops in
# 30 s as 18 clusters of half a second each: 80,660; in 60 s, 2.7 s each: about 68,000).
# Improving pays more than longer cluster solves (4,000 stops, 120 s: a share of 0.3 105,032,
# 0.5 106,148, 0.2 105,732, with groups of 2-3 routes).
CLUSTER_SHARE = 0.3
CLUSTER_S = 2.5
# Route-building and search for the sub-problems, tuned on bench/routing_postal.py: at 150-300
# stops all local-search operators pay for themselves (the lean set of the default SearchConfig
# is tuned on 100-customer Solomon instances), and path-cheapest-arc starts better than savings
# (300 stops, 10 s: 19,172 against 20,958 with the default). Guided local search, not the
# default's iterated local search (300 / 1,000 stops, 30 s: 18,485 / 43,419 against 18,683 /
# 43,951 with all operators, 20,203 / 48,139 with the lean set). On top, OR-Tools' close-nodes
# LNS (remove a few stops near each other, put them back by cheapest insertion), off by default:
# it moves stops between the routes of a group where single moves find nothing better (1,000 /
# 2,000 / 4,000 stops at 30 / 60 / 120 s: 45,302 / 66,822 / 103,866 without, 44,651 / 65,827 /
# 101,754 with it; in the improvement phase only: 43,743 / 65,420 / 103,282).
CLOSE_NODES_LNS = (
    "local_cheapest_insertion_close_nodes_lns",
    "global_cheapest_insertion_close_nodes_lns",
)
SUBPROBLEM_CONFIG = SearchConfig(
    first_solution="PATH_CHEAPEST_ARC",
    metaheuristic="GUIDED_LOCAL_SEARCH",
    operators_off=(),
    operators_on=CLOSE_NODES_LNS,
)

# A small problem's second search (on the second worker) starts from another first solution:
# the iterated local search's outcome varies with its start, and the better of two is steadier
# (Solomon type-1, 10 s, same session: 0.81 % mean gap with both, 1.18 % with the first alone).
ALT_FIRST_SOLUTION = "PARALLEL_CHEAPEST_INSERTION"

# PyVRP's search starts the plan of a problem this big that it can plan relaxed
# (routing.vrp.pyvrp_search), for this share of the time after loading; OR-Tools completes and
# improves its routes in the rest (routing.vrp.decompose's improvement phase). Fewer jobs: the
# plan is found in a second or two, where starting PyVRP's processes would cost more.
PYVRP_MIN_JOBS = 40
# PyVRP gains more per second than the polish, which mostly puts in what the breaks displaced
# and evens out routes' borders (office days at 30 s, ours with 0.85 / 0.7: seed 7, 1,000 stops
# 41,454 / 41,687, 2,000 stops 69,273 / 68,867; seed 11, 1,000 stops 41,808 / 41,738, 2,000
# stops 64,561 / 65,257; Solomon type-1 at 10 s, 8 instances, with 0.7: 0.87 % mean gap, PyVRP
# alone 0.77 %; one run each on a loaded machine).
PYVRP_SHARE = 0.85
# From this many jobs on, the two cores' searches plan a sector each (routing.vrp.partition)
# rather than the whole with two seeds: PyVRP's iterations slow down with the size (its first
# descent alone takes 7 s at 4,000 stops). PyVRP's own cost after 40 s at 4,000 stops: 103,759
# by sectors, 108,573 best of two seeds; at 2,000 and 1,000 stops after 20 s: 67,831 and 41,575
# by sectors, 66,995 and 41,093 by seeds (one run each, loaded machine).
PYVRP_SPLIT_JOBS = 3000

# Reasons that no other cluster can change: the jobs are not given a second chance.
FINAL_REASONS = frozenset({REASON_SKILLS, REASON_CAPACITY, REASON_LOCKED})


class _NoStart(Exception):
    """PyVRP gave no starting plan (no feasible plan of the relaxation, or a failure)."""


class _Failure(Exception):
    """A sub-solve's code 2 or 3 error, which is the whole problem's error too."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["error"])
        self.answer = answer


@dataclass
class _Decomposition:
    """One solve_large call past validation."""

    whole: WholeProblem
    config: SearchConfig
    osrm_url: str | None
    workers: int
    deadline: float
    first_only: bool
    stall_s: float
    # The whole problem's matrices, for timing routes given from outside (run_from).
    mats: Mapping[str, Matrices] | None = None
    plan: MergedPlan = field(init=False)
    stopped: str = EXHAUSTED
    stale: set[tuple[tuple[int, int], ...]] = field(default_factory=set)
    tried: int = 0
    taken: int = 0

    def __post_init__(self) -> None:
        self.plan = MergedPlan(self.whole)

    def left(self) -> float:
        """Seconds until the deadline."""
        return self.deadline - time.monotonic()

    def solve(
        self, jobs: list[int], vehicles: list[int], seconds: float, warm: bool
    ) -> SubResult | None:
        """Solve one sub-problem in its own process; None when it found no plan."""
        routes = {v: self.plan.jobs_of(v) for v in vehicles} if warm else None
        problem, places = subproblem(self.whole, jobs, vehicles, routes)
        limit = min(seconds, self.left() - SPAWN_S - FINISH_S)
        if limit < MIN_SOLVE_S:
            return None
        answer = solve_isolated(problem, limit, GRACE_S, config=self.config, osrm_url=self.osrm_url)
        if answer["code"] in (2, 3):
            raise _Failure({**answer, "error": whole_path(answer["error"], jobs, vehicles)})
        if answer["code"] != 0:
            logger.warning("sub-problem of %d jobs: %s", len(jobs), answer.get("error"))
            return None
        for route in answer["routes"]:
            restore_indices(route["steps"], places)
        restore_indices(answer["unassigned"], places)
        return SubResult(
            routes={self.whole.vehicle_of[r["vehicle"]]: r for r in answer["routes"]},
            unassigned={self.whole.job_of[u["id"]]: u for u in answer["unassigned"]},
        )

    def check_vehicles(self, pool: ThreadPoolExecutor) -> Future[SubResult | None]:
        """Every vehicle alone, no jobs: the solver's checks of shifts and breaks, with the
        whole problem's field paths, for vehicles that no sub-problem may get."""
        vehicles = list(range(len(self.whole.parsed.vehicles)))
        return pool.submit(self.solve, [], vehicles, MIN_SOLVE_S, False)

    def run_from(self, routes: list[tuple[Vehicle, list[Job], dict[int, list[Break]]]]) -> None:
        """Start from feasible routes (the other jobs unassigned), improve until the limit."""
        whole = self.whole
        answer = build_answer(whole.parsed, self.mats, routes, [], 0, 0)
        self.plan.routes = {whole.vehicle_of[r["vehicle"]]: r for r in answer["routes"]}
        served = {whole.job_of[job.id] for _, jobs, _ in routes for job in jobs}
        self.plan.unassigned = {
            j: unassigned_entry(whole, j, REASON_GENERIC)
            for j in range(len(whole.parsed.jobs))
            if j not in served
        }
        with ThreadPoolExecutor(self.workers) as pool:
            checked = self.check_vehicles(pool)
            self.improve(pool)
            checked.result()

    def run(self, clusters: list[Cluster]) -> None:
        """Solve the clusters, give unassigned jobs a second chance, improve until the limit."""
        with ThreadPoolExecutor(self.workers) as pool:
            checked = self.check_vehicles(pool)
            waves = math.ceil(len(clusters) / self.workers)
            budget = self.left() - FINISH_S
            share = 1.0 if self.first_only else CLUSTER_SHARE
            seconds = max(MIN_SOLVE_S, share * budget / waves - SPAWN_S)
            # The biggest first, so that the last wave is the shortest.
            clusters = sorted(clusters, key=lambda c: -len(c.jobs))
            futures = [
                pool.submit(self.solve, c.jobs, c.vehicles, seconds, False) for c in clusters
            ]
            checked.result()
            for cluster, future in zip(clusters, futures, strict=True):
                result = future.result()
                if result is None:
                    result = SubResult(
                        {},
                        {j: unassigned_entry(self.whole, j, REASON_GENERIC) for j in cluster.jobs},
                    )
                self.plan.routes.update(result.routes)
                self.plan.unassigned.update(result.unassigned)
            logger.debug(
                "clusters solved: %s", self.plan.score(self.plan.routes, self.plan.unassigned)
            )
            self.second_chance(pool, clusters, seconds)
            if not self.first_only:
                self.improve(pool)
            logger.debug(
                "improved: %s, %d groups tried, %d taken",
                self.plan.score(self.plan.routes, self.plan.unassigned),
                self.tried,
                self.taken,
            )

    def second_chance(
        self, pool: ThreadPoolExecutor, clusters: list[Cluster], seconds: float
    ) -> None:
        """Offer the jobs a cluster left unassigned to the nearest other cluster able to serve."""
        waiting = self.movable_unassigned()
        if not waiting:
            return
        cluster_of = {j: c for c, cluster in enumerate(clusters) for j in cluster.jobs}
        extra: dict[int, list[int]] = {}
        for j in waiting:
            options = [
                c
                for c, cluster in enumerate(clusters)
                if c != cluster_of[j] and self.whole.servable[j, cluster.vehicles].any()
            ]
            if options:
                extra.setdefault(
                    min(options, key=lambda c: self.distance(j, clusters[c])), []
                ).append(j)
        spares = [v for v in range(len(self.whole.parsed.vehicles)) if v not in self.plan.routes]
        tasks = []
        for c, jobs in extra.items():
            # With a spare vehicle when there is one: the cluster's own may all be full.
            vehicles = clusters[c].vehicles + [
                v for v in spares[:1] if v not in clusters[c].vehicles
            ]
            spares = [v for v in spares if v not in vehicles]
            group = [j for v in vehicles for j in self.plan.jobs_of(v)] + jobs
            # A first plan starts from scratch: from the current routes it would be the first.
            warm = not self.first_only
            tasks.append((group, vehicles, pool.submit(self.solve, group, vehicles, seconds, warm)))
        for group, vehicles, future in tasks:
            result = future.result()
            if result is not None:
                self.plan.adopt(vehicles, group, result)

    def distance(self, j: int, cluster: Cluster) -> float:
        """Travel between a job and the nearest job routed in a cluster (or its vehicles' start)."""
        routed = [i for v in cluster.vehicles for i in self.plan.jobs_of(v)] or cluster.jobs
        return float(
            symmetric(
                self.whole.travel, self.whole.job_place[[j]], self.whole.job_place[routed]
            ).min()
        )

    def movable_unassigned(self) -> list[int]:
        """Unassigned jobs that another group of vehicles might still serve."""
        return [
            j
            for j, entry in self.plan.unassigned.items()
            if entry["reason"] not in FINAL_REASONS and not self.whole.parsed.jobs[j].locked
        ]

    def improve(self, pool: ThreadPoolExecutor) -> None:
        """Re-solve groups of neighbouring routes from their current routes until the limit."""
        running: dict[Future[SubResult | None], tuple[list[int], list[int]]] = {}
        busy: set[int] = set()
        seeded: Counter[int] = Counter()
        improved_at = time.monotonic()
        while True:
            room = self.left() - SPAWN_S - FINISH_S - MIN_SOLVE_S
            stalled = time.monotonic() - improved_at >= self.stall_s
            if room > 0 and not stalled and len(running) < self.workers:
                group = self.next_group(busy, seeded)
                if group is not None:
                    vehicles, jobs = group
                    busy.update(vehicles)
                    seconds = GROUP_S * max(1.0, len(jobs) / GROUP_JOBS)
                    future = pool.submit(self.solve, jobs, vehicles, seconds, True)
                    running[future] = (vehicles, jobs)
                    continue
            if not running:
                self.stopped = NO_IMPROVEMENT if stalled else TIME_LIMIT if room <= 0 else EXHAUSTED
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                vehicles, jobs = running.pop(future)
                busy.difference_update(vehicles)
                result = future.result()
                key = self.key(vehicles)
                self.tried += 1
                if result is None or not self.plan.adopt(vehicles, jobs, result):
                    self.stale.add(key)
                else:
                    self.taken += 1
                    improved_at = time.monotonic()

    def key(self, vehicles: list[int]) -> tuple[tuple[int, int], ...]:
        """A group's vehicles with their change counters: a group tried in vain is skipped."""
        return tuple(sorted((v, self.plan.version[v]) for v in vehicles))

    def next_group(
        self, busy: set[int], seeded: Counter[int]
    ) -> tuple[list[int], list[int]] | None:
        """The next group to re-solve: a seed route, its nearest routes, jobs and a spare."""
        routed = [v for v in self.plan.routes if v not in busy]
        if not routed:
            return None
        for seed in sorted(routed, key=lambda v: (seeded[v], v)):
            near = [v for v in self.nearest_routes(seed) if v not in busy][:NEAREST_ROUTES]
            # With fewer routes about than a group's size, the group is all of them.
            for size in sorted({min(size, len(near) + 1) for size in GROUP_ROUTES}):
                for partners in itertools.combinations(near, size - 1):
                    vehicles = [seed, *partners]
                    if self.key(vehicles) in self.stale:
                        continue
                    seeded[seed] += 1
                    return self.with_extras(vehicles, busy)
        return None

    def nearest_routes(self, seed: int) -> list[int]:
        """Other routes by the mean distance from the seed's jobs to their nearest job."""
        whole = self.whole
        mine = whole.job_place[self.plan.jobs_of(seed)]
        others = [v for v in self.plan.routes if v != seed]
        if not others or not len(mine):
            return []
        jobs = [self.plan.jobs_of(v) for v in others]
        cols = whole.job_place[np.concatenate(jobs)]
        legs = symmetric(whole.travel, mine, cols)
        bounds = np.cumsum([0] + [len(j) for j in jobs])[:-1]
        closeness = np.minimum.reduceat(legs, bounds, axis=1).mean(axis=0)
        return [others[i] for i in np.argsort(closeness, kind="stable")]

    def with_extras(self, vehicles: list[int], busy: set[int]) -> tuple[list[int], list[int]]:
        """A group's vehicles and jobs, with the unassigned jobs nearest it (and then a spare)."""
        jobs = [j for v in vehicles for j in self.plan.jobs_of(v)]
        extra = [j for j in self.movable_unassigned() if self.whole.servable[j, vehicles].any()]
        if not extra:
            return vehicles, jobs
        owner = {j: v for v in self.plan.routes for j in self.plan.jobs_of(v)}
        routed = list(owner)
        legs = symmetric(
            self.whole.travel, self.whole.job_place[extra], self.whole.job_place[routed]
        )
        nearest = [owner[routed[i]] for i in np.argmin(legs, axis=1)]
        extra = [j for j, v in zip(extra, nearest, strict=True) if v in vehicles]
        spare = next(
            (
                v
                for v in range(len(self.whole.parsed.vehicles))
                if v not in self.plan.routes and v not in busy
            ),
            None,
        )
        if extra and spare is not None:
            vehicles = [*vehicles, spare]
        return vehicles, jobs + extra


def _first_only(config: SearchConfig) -> bool:
    """Whether the configuration stops at the first solution (a quick plan is asked for)."""
    default = SearchConfig().search_parameters(1.0).solution_limit
    return config.search_parameters(1.0).solution_limit < default


def _solve_whole(
    problem: object,
    parsed: Problem,
    time_limit_s: float,
    config: SearchConfig,
    osrm_url: str | None,
    workers: int,
) -> dict[str, Any]:
    """Solve a problem as one model; with two workers, two searches at once, the better wins."""
    began = time.monotonic()
    alternative = replace(config, first_solution=ALT_FIRST_SOLUTION)
    if workers < 2 or _first_only(config) or alternative == config:
        return solve_isolated(problem, time_limit_s, config=config, osrm_url=osrm_url)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda c: solve_isolated(problem, time_limit_s, config=c, osrm_url=osrm_url),
                (config, alternative),
            )
        )
    plan = MergedPlan(whole_problem_of(problem, parsed))
    shipped = {(t.kind, t.id): t.priority for s in parsed.shipments for t in (s.pickup, s.delivery)}

    def rank(answer: dict[str, Any]) -> tuple:
        # A plan first, then as the improvement phase ranks plans (preference costs included).
        if answer.get("code") != 0:
            return (1,)
        whole = plan.whole
        routes = {whole.vehicle_of[r["vehicle"]]: r for r in answer["routes"]}
        left = answer["unassigned"]
        jobs = [whole.job_of[u["id"]] for u in left if u.get("type", "job") == "job"]
        priority, count, cost = plan.score(routes, jobs)
        # Shipments' steps (ids of their own) count as tasks too, as VROOM ranks plans.
        steps = [shipped[u["type"], u["id"]] for u in left if u.get("type", "job") != "job"]
        return (0, priority + sum(steps), count + len(steps), cost)

    best = min(answers, key=rank)
    if best.get("code") == 0:
        # The call took as long as the longer search: it stopped for the latest reason.
        stops = {a["summary"].get("stopped", TIME_LIMIT) for a in answers if a.get("code") == 0}
        stopped = next(r for r in (TIME_LIMIT, NO_IMPROVEMENT, EXHAUSTED) if r in stops)
        with_stop(best, stopped, time.monotonic() - began)
    return best


def _pyvrp_start(
    whole: WholeProblem, osrm_url: str | None, seconds: float, workers: int, stall_s: float
) -> tuple[list[tuple[Vehicle, list[Job], dict[int, list[Break]]]], Mapping[str, Matrices]]:
    """PyVRP's routes made feasible, and their matrices: its best plan over one search per
    worker, or from PYVRP_SPLIT_JOBS jobs on, its plans of one sector per worker.

    Raises _NoStart when PyVRP found no plan (or failed): OR-Tools then plans alone.
    """
    parsed = whole.parsed
    try:
        mats = build_matrices(parsed, osrm_url)
    except MatrixError as exc:
        raise _NoStart(str(exc)) from exc
    durations = {profile: m.durations for profile, m in mats.items()}
    if workers > 1 and len(parsed.jobs) >= PYVRP_SPLIT_JOBS:
        parts = [(c.jobs, c.vehicles) for c in partition(whole, CLUSTER_ROUTES, workers)]
        found = by_parts(parsed, parts, durations, seconds, GRACE_S, stall_s)
    else:
        found = best_of_seeds(parsed, durations, seconds, workers, GRACE_S, stall_s)
    if found is None:
        raise _NoStart("PyVRP found no plan")
    routes, out = routes_kept(parsed, mats, found.routes)
    logger.debug("PyVRP's plan: cost %.0f, %d jobs taken out for the breaks", found.cost, len(out))
    return routes, mats


def solve_large(
    problem: object,
    time_limit_s: float,
    *,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Solve a VROOM-format problem of any size within time_limit_s; answer like solve.solve.

    Sub-problems use `config` (default SUBPROBLEM_CONFIG); a config that stops at the first
    solution gets the first complete plan: each cluster stops at its first, nothing improves.
    A problem of PYVRP_MIN_JOBS jobs or more that PyVRP can plan relaxed starts from PyVRP's
    plan (routing.vrp.pyvrp_search), which OR-Tools completes and improves.
    """
    check_time_limit(time_limit_s)
    began = time.monotonic()
    deadline = began + time_limit_s
    try:
        parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    loaded = time.monotonic()
    workers = max(1, workers)
    first_only = _first_only(config or SearchConfig())
    stall_s = stall_seconds(len(parsed.jobs), time_limit_s)
    start = None
    if not first_only and len(parsed.jobs) >= PYVRP_MIN_JOBS and relaxable(parsed):
        try:
            whole = whole_problem_of(problem, parsed)
            # What is left keeps room for one sub-solve: the vehicles' checks (run_from).
            seconds = PYVRP_SHARE * (deadline - time.monotonic() - SPAWN_S - MIN_SOLVE_S - FINISH_S)
            # PyVRP's search stops when it stalls on small problems only: on bigger ones it
            # finds better plans after long plateaus (1,000 stops, 30 s: stopped after 12 s
            # without a better plan, ours 40,573 against PyVRP alone 39,922).
            pyvrp_stall_s = stall_s if len(parsed.jobs) < SMALL_JOBS else math.inf
            start = (whole, *_pyvrp_start(whole, osrm_url, seconds, workers, pyvrp_stall_s))
        except _NoStart as exc:
            logger.warning("no PyVRP start (%s): OR-Tools plans alone", exc)
        except Exception:
            logger.exception("PyVRP start failed: OR-Tools plans alone")
    left = max(MIN_SOLVE_S, deadline - time.monotonic())
    # A shipment's two steps must stay in one sub-problem: problems with shipments stay whole.
    whole_only = len(parsed.jobs) < SMALL_JOBS or len(parsed.vehicles) < 2 or parsed.shipments
    if start is None and whole_only:
        return _solve_whole(problem, parsed, left, config or SearchConfig(), osrm_url, workers)
    config = config or SUBPROBLEM_CONFIG
    try:
        if start is not None:
            whole, routes, mats = start
            run = _Decomposition(
                whole, config, osrm_url, workers, deadline, first_only, stall_s, mats
            )
            run.run_from(routes)
        else:
            whole = whole_problem_of(problem, parsed)
            # Fewer, bigger clusters when the time is short: each deserves a few seconds.
            most = math.floor(workers * CLUSTER_SHARE * left / (CLUSTER_S + SPAWN_S))
            routes_each = FIRST_CLUSTER_ROUTES if first_only else CLUSTER_ROUTES
            clusters = partition(whole, routes_each, None if first_only else max(1, most))
            loaded = time.monotonic()
            run = _Decomposition(whole, config, osrm_url, workers, deadline, first_only, stall_s)
            run.run(clusters)
        ended = time.monotonic()
        answer = run.plan.answer(
            loading_ms=round((loaded - began) * 1000), solving_ms=round((ended - loaded) * 1000)
        )
        return with_stop(answer, run.stopped, ended - began)
    except _Failure as failure:
        return failure.answer
    except MemoryError:
        logger.exception("decomposed routing solve ran out of memory")
        return {"code": 1, "error": "out of memory"}
    except Exception:
        logger.exception("decomposed routing solve failed")
        return {"code": 1, "error": "internal error"}

"""Large routing problems by decomposition: OR-Tools models kept at the size where they are strong.

A monolithic OR-Tools model is competitive up to a few hundred stops and falls apart beyond a
thousand (../shared/reference/routing.md, "A synthetic delivery-office day"). `solve_large`
answers like `solver.solve`, in VROOM's solution format, and:

1. solves a small problem whole: with two workers, by two searches at once (one per core) from
   different first solutions, keeping the better plan;
2. otherwise splits the jobs into clusters of about one route's work: sectors around the post
   office when most vehicles start there (routes from one depot are petals), else balanced
   k-medoids on the travel times. A cluster gets the vehicles its work needs and one more; a job
   named in a vehicle's `steps` goes with that vehicle, a job with `preferred_vehicles` goes
   where one of them is, and every job goes where some vehicle can serve it (skills, capacity);
3. solves every cluster as its own VROOM sub-problem (matrices sliced, indices remapped), each in
   its own process (OR-Tools #5076), `workers` at a time;
4. gives jobs left unassigned a second chance in the nearest other cluster that can serve them;
5. until the time limit, re-solves groups of four or five neighbouring routes (with the
   unassigned jobs nearest them, and then a spare vehicle) warm-started from their current
   routes (vehicle `steps`), and keeps a group's new routes when they are better: more priority
   served, then more jobs served, then less travel plus preference cost.

The time limit bounds the whole call: every sub-solve is given what is left of it, less the cost
of starting its process.

Measured on bench/routing_postal.py (office days, 2 workers): one model at 300 stops and 30 s
plans 20,480 s of travel, decomposed 18,578 (PyVRP 18,495); 2,000 stops at 60 s: 105,855 whole,
about 68,000 decomposed. Sectors of one route each beat sectors of two (71,000) and k-medoids
blobs (+10 % at 1,000 stops): on a cluster of 250 stops OR-Tools stays 5-10 % above PyVRP
whatever the search settings, while the decomposition itself costs little.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from routing import solver
from routing.matrix import PROFILES, haversine_matrix
from routing.solver import ProblemError, SearchConfig

logger = logging.getLogger(__name__)

# From this many jobs on, decomposing wins (150 stops at 10 s: 12,932 against 14,073 whole);
# the 100-customer Solomon instances stay whole.
SMALL_JOBS = 150
# Routes' work per cluster (estimated by the shifts), or jobs per cluster without shifts; a
# cluster of a first plan is bigger: fewer processes to start, and first solutions are quick.
CLUSTER_ROUTES = 1
FIRST_CLUSTER_ROUTES = 3
CLUSTER_JOBS = 120
MAX_CLUSTER_JOBS = 300
# Share of a shift that estimated work (service + nearest legs) fills: the rest goes to
# waiting for windows and detours (PyVRP's office-day routes: 0.8; 0.7 plans better).
FILL = 0.7
# Vehicles a cluster gets beyond the routes its work needs: OR-Tools spreads the work over
# every vehicle it is given, and each route costs its trips to and from the office.
SPARE_VEHICLES = 1
# Landmarks for placing stops in a plane from a matrix alone.
LANDMARKS = 48
# Routes per improvement group, and how many of the routes nearest a seed route may join it
# (4,000 stops, 120 s: groups of 4-5 routes 102,964, of 3-4 104,215, of 2-3 106,367, of 5-6
# 104,279).
GROUP_ROUTES = (4, 5)
NEAREST_ROUTES = 6
# Seconds of search per improvement group (4,000 stops, groups of 4-5: 1.5 s 102,964, 2 s
# 103,565; more groups beat longer ones).
GROUP_S = 1.5
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
# How much more than its share of the work a k-medoids cluster may take.
BALANCE = 1.1
MEDOID_ROUNDS = 10
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

# Reasons that no other cluster can change: the jobs are not given a second chance.
FINAL_REASONS = frozenset({solver.REASON_SKILLS, solver.REASON_CAPACITY, solver.REASON_LOCKED})
_PATH = re.compile(r"^(jobs|vehicles)\[(\d+)\]")


# --- The office: what the decomposition knows about the whole problem --------------------------


@dataclass(frozen=True, eq=False)
class Office:
    """The whole problem as the decomposition sees it: places, work and who may serve what."""

    raw: dict[str, Any]
    parsed: solver.Problem
    # Travel seconds between places (the matrix rows of the input, or deduplicated coordinates)
    # for the most common profile: for clustering and for finding neighbouring routes.
    travel: np.ndarray
    job_place: np.ndarray
    vehicle_start: np.ndarray  # place index, -1 without a start
    vehicle_end: np.ndarray  # place index, -1 without an end
    # Where most vehicles start (a post office), if at least half of them do.
    depot: int | None
    # Per job: service plus an estimate of the travel to reach it (half its two nearest legs).
    work: np.ndarray
    # Mean working time of a shift (its window less its breaks), None when some have no window.
    shift: float | None
    servable: np.ndarray  # jobs x vehicles: skills and capacity allow it
    owner: dict[int, int]  # job -> the vehicle whose steps name it
    preferred: dict[int, list[int]]  # job -> its preferred vehicles
    job_of: dict[int, int]  # job id -> position
    vehicle_of: dict[int, int]  # vehicle id -> position

    @property
    def indexed(self) -> bool:
        """Whether the problem came with matrices (else coordinates only)."""
        return self.parsed.matrices is not None


def office_of(raw: dict[str, Any], parsed: solver.Problem) -> Office:
    """Gather what clustering needs from a problem and its parsed form."""
    jobs, vehicles = parsed.jobs, parsed.vehicles
    profile = Counter(v.profile for v in vehicles).most_common(1)[0][0]
    if parsed.matrices is not None:
        travel = parsed.matrices[profile].durations
    else:
        # Great-circle estimates are enough to group stops, even when a routing engine will
        # time the sub-problems' legs.
        speed = PROFILES.get(profile, PROFILES[solver.DEFAULT_PROFILE])
        travel = haversine_matrix(parsed.points) * (speed.circuity / speed.speed_m_s)
    job_place = np.array([job.place.index for job in jobs], dtype=np.intp)
    vehicle_of = {v.id: k for k, v in enumerate(vehicles)}
    job_of = {job.id: i for i, job in enumerate(jobs)}
    servable = np.array(
        [
            [
                job.skills <= v.skills
                and all(d <= c for d, c in zip(job.delivery, v.capacity, strict=True))
                for v in vehicles
            ]
            for job in jobs
        ],
        dtype=bool,
    ).reshape(len(jobs), len(vehicles))
    service = np.array([job.service for job in jobs], dtype=float)
    starts = Counter(v.start.index for v in vehicles if v.start is not None).most_common(1)
    shifts = [
        v.time_window.end - v.time_window.start - sum(b.service for b in v.breaks)
        for v in vehicles
        if v.time_window is not None
    ]
    return Office(
        raw=raw,
        parsed=parsed,
        travel=travel,
        job_place=job_place,
        vehicle_start=np.array([-1 if v.start is None else v.start.index for v in vehicles]),
        vehicle_end=np.array([-1 if v.end is None else v.end.index for v in vehicles]),
        depot=starts[0][0] if starts and 2 * starts[0][1] >= len(vehicles) else None,
        work=service + _reach_estimate(travel, job_place),
        shift=float(np.mean(shifts)) if len(shifts) == len(vehicles) else None,
        servable=servable,
        owner={job_of[j]: k for k, v in enumerate(vehicles) for j in v.steps},
        preferred={
            i: sorted(vehicle_of[v] for v in job.preferred_vehicles)
            for i, job in enumerate(jobs)
            if job.preferred_vehicles
        },
        job_of=job_of,
        vehicle_of=vehicle_of,
    )


def _symmetric(travel: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean of both directions between two sets of places, as floats (rows x cols)."""
    return (travel[np.ix_(rows, cols)] + travel[np.ix_(cols, rows)].T) / 2.0


def _reach_estimate(travel: np.ndarray, places: np.ndarray, block: int = 512) -> np.ndarray:
    """Per place: the mean of its two shortest legs to the other places (a route's share)."""
    n = len(places)
    if n < 3:
        return np.zeros(n)
    out = np.empty(n)
    for start in range(0, n, block):
        rows = places[start : start + block]
        legs = _symmetric(travel, rows, places)
        legs[np.arange(len(rows)), np.arange(start, start + len(rows))] = np.inf
        out[start : start + len(rows)] = np.partition(legs, 1, axis=1)[:, :2].mean(axis=1)
    return out


def _plane(office: Office, places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of places in a plane (n x 2): from coordinates, or fitted to the travel times.

    Without coordinates, landmark MDS (de Silva and Tenenbaum 2004): classical MDS of a few
    dozen landmarks, every place then placed from its travel times to them.
    """
    if not office.indexed:
        lon, lat = np.radians(np.asarray(office.parsed.points, dtype=float)[places]).T
        return np.column_stack([lon * np.cos(lat.mean()), lat])
    marks = places[rng.choice(len(places), size=min(LANDMARKS, len(places)), replace=False)]
    squared = _symmetric(office.travel, marks, marks) ** 2
    centred = squared - squared.mean(axis=0) - squared.mean(axis=1)[:, np.newaxis]
    values, vectors = np.linalg.eigh(-0.5 * (centred + squared.mean()))
    top = np.argsort(values)[::-1][:2]
    scale = vectors[:, top] / np.sqrt(np.maximum(values[top], 1e-9))
    to_marks = _symmetric(office.travel, marks, places) ** 2
    return -0.5 * (to_marks - squared.mean(axis=1)[:, np.newaxis]).T @ scale


# --- Clustering ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Jobs and vehicles (positions in the problem's lists) solved together."""

    jobs: list[int]
    vehicles: list[int]


def partition(
    office: Office, routes: float = CLUSTER_ROUTES, most: int | None = None, seed: int = 0
) -> list[Cluster]:
    """Split the jobs into clusters of about `routes` routes' work (at most `most` clusters).

    Around a post office the clusters are sectors (routes from one depot are petals), else
    compact groups. Jobs in a vehicle's steps go with that vehicle; a job goes to a cluster
    where some vehicle can serve it (if any can) and, if one can serve it there, where a
    preferred vehicle is.
    """
    n_jobs, n_vehicles = office.servable.shape
    rng = np.random.default_rng(seed)
    if office.shift:
        k = round(office.work.sum() / (FILL * office.shift * routes))
    else:
        k = round(n_jobs * routes / (CLUSTER_ROUTES * CLUSTER_JOBS))
    k = max(k, math.ceil(n_jobs / MAX_CLUSTER_JOBS))
    k = max(1, min(k, most or k, n_jobs, n_vehicles))
    if office.depot is not None:
        labels = _sweep(office, k, office.depot, rng)
    else:
        labels = _k_medoids(office, k, rng)
    centres = _medoids(office, labels, k)
    members = _allocate_vehicles(office, labels, centres)
    vehicles_in = [set(vs) for vs in members]
    cluster_of_vehicle = {v: c for c, vs in enumerate(members) for v in vs}
    for j in range(n_jobs):
        home = labels[j]
        if j in office.owner:
            labels[j] = cluster_of_vehicle[office.owner[j]]
            continue
        able = [v for v in np.flatnonzero(office.servable[j]) if v in cluster_of_vehicle]
        if not able and office.servable[j].any():
            # Only vehicles no cluster got can serve it: one of them joins its cluster.
            spare = int(np.flatnonzero(office.servable[j])[0])
            members[home].append(spare)
            vehicles_in[home].add(spare)
            cluster_of_vehicle[spare] = home
            continue
        wanted = [v for v in office.preferred.get(j, []) if v in able]
        for choice in (wanted, able):
            if not choice or any(v in vehicles_in[home] for v in choice):
                break
            options = sorted({cluster_of_vehicle[v] for v in choice})
            closest = _symmetric(office.travel, office.job_place[[j]], centres[options])
            labels[j] = options[int(np.argmin(closest))]
            break
    clusters = [Cluster(list(np.flatnonzero(labels == c)), sorted(members[c])) for c in range(k)]
    return _merge_unstaffed(office, clusters, centres)


def _sweep(office: Office, k: int, depot: int, rng: np.random.Generator) -> np.ndarray:
    """Sectors of equal work around the depot, the first starting after the widest gap."""
    xy = _plane(office, np.append(office.job_place, depot), rng)
    around = xy[:-1] - xy[-1]
    angle = np.arctan2(around[:, 1], around[:, 0])
    order = np.argsort(angle, kind="stable")
    gaps = np.diff(angle[order], append=angle[order[0]] + 2 * np.pi)
    order = np.roll(order, -(int(np.argmax(gaps)) + 1))
    work = office.work[order]
    middle = np.cumsum(work) - work / 2
    labels = np.empty(len(order), dtype=np.intp)
    labels[order] = np.minimum(k - 1, (middle * k / work.sum()).astype(np.intp))
    return labels


def _k_medoids(office: Office, k: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced k-medoids on symmetric travel: a cluster label per job."""
    places, work = office.job_place, office.work
    n = len(places)
    # k-means++ seeding: each next medoid far from the chosen ones, at random in proportion.
    medoids = [int(rng.integers(n))]
    nearest = _symmetric(office.travel, places[medoids], places)[0]
    for _ in range(1, k):
        weights = nearest**2
        total = weights.sum()
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        medoids.append(pick)
        nearest = np.minimum(nearest, _symmetric(office.travel, places[[pick]], places)[0])
    centres = places[medoids]
    capacity = work.sum() / k * BALANCE
    labels = np.zeros(n, dtype=np.intp)
    for _ in range(MEDOID_ROUNDS):
        labels = _balanced_assignment(_symmetric(office.travel, centres, places), work, capacity)
        updated = _medoids(office, labels, k)
        if np.array_equal(updated, centres):
            break
        centres = updated
    return labels


def _medoids(office: Office, labels: np.ndarray, k: int) -> np.ndarray:
    """Per cluster, the place of the job nearest (weighted by work) to the others."""
    out = np.empty(k, dtype=np.intp)
    for c in range(k):
        member = np.flatnonzero(labels == c)
        if not len(member):
            out[c] = office.job_place[0]
            continue
        inner = _symmetric(office.travel, office.job_place[member], office.job_place[member])
        out[c] = office.job_place[member[int(np.argmin(inner @ office.work[member]))]]
    return out


def _balanced_assignment(distance: np.ndarray, work: np.ndarray, capacity: float) -> np.ndarray:
    """Each job to its nearest cluster with room, the jobs with most to lose choosing first."""
    k, n = distance.shape
    ranked = np.argsort(distance, axis=0)
    if k > 1:
        best, second = ranked[0], ranked[1]
        regret = distance[second, np.arange(n)] - distance[best, np.arange(n)]
    else:
        regret = np.zeros(n)
    load = np.zeros(k)
    labels = np.empty(n, dtype=np.intp)
    for j in np.argsort(-regret, kind="stable"):
        choice = next((c for c in ranked[:, j] if load[c] + work[j] <= capacity), None)
        if choice is None:
            choice = int(np.argmin(load))
        labels[j] = choice
        load[choice] += work[j]
    return labels


def _allocate_vehicles(office: Office, labels: np.ndarray, centres: np.ndarray) -> list[list[int]]:
    """Vehicles per cluster for its work, each to the nearest cluster still needing one.

    With shifts, a cluster gets the routes its work needs and SPARE_VEHICLES more (OR-Tools
    spreads work over every vehicle it is given); the rest wait for the improvement phase.
    A vehicle whose steps or preferring jobs mostly lie in one cluster goes there first.
    """
    k = len(centres)
    n_jobs, n_vehicles = office.servable.shape
    work = np.bincount(labels, weights=office.work, minlength=k)
    share = n_vehicles * work / work.sum() if work.sum() > 0 else np.full(k, n_vehicles / k)
    counts = np.maximum(1, np.floor(share)).astype(int)
    for c in np.argsort(-(share - np.floor(share)), kind="stable"):
        if counts.sum() >= n_vehicles:
            break
        counts[c] += 1
    if office.shift:
        counts = np.minimum(
            counts, np.ceil(work / (FILL * office.shift)).astype(int) + SPARE_VEHICLES
        )
    members: list[list[int]] = [[] for _ in range(k)]
    votes: dict[int, Counter[int]] = {}
    for j, v in office.owner.items():
        votes.setdefault(v, Counter())[labels[j]] += n_jobs  # steps outweigh preferences
    for j, wanted in office.preferred.items():
        for v in wanted:
            votes.setdefault(v, Counter())[labels[j]] += 1
    for v, ballot in sorted(votes.items()):
        members[ballot.most_common(1)[0][0]].append(v)
    free = [v for v in range(n_vehicles) if v not in votes]
    pairs = []
    for v in free:
        cost = np.zeros(k)
        if office.vehicle_start[v] >= 0:
            cost = cost + office.travel[office.vehicle_start[v], centres]
        if office.vehicle_end[v] >= 0:
            cost = cost + office.travel[centres, office.vehicle_end[v]]
        pairs += [(float(cost[c]), v, c) for c in range(k)]
    taken: set[int] = set()
    for _, v, c in sorted(pairs):
        if v not in taken and len(members[c]) < counts[c]:
            members[c].append(v)
            taken.add(v)
    return members


def _merge_unstaffed(office: Office, clusters: list[Cluster], centres: np.ndarray) -> list[Cluster]:
    """Give the jobs of a cluster without vehicles to the nearest cluster with some."""
    staffed = [c for c, cluster in enumerate(clusters) if cluster.vehicles]
    for c, cluster in enumerate(clusters):
        if cluster.vehicles or not cluster.jobs:
            continue
        closest = _symmetric(office.travel, centres[[c]], centres[staffed])[0]
        clusters[staffed[int(np.argmin(closest))]].jobs.extend(cluster.jobs)
        cluster.jobs = []
    return [c for c in clusters if c.vehicles and c.jobs]


# --- Sub-problems -------------------------------------------------------------------------------


def subproblem(
    office: Office, jobs: Iterable[int], vehicles: Iterable[int], warm: dict[int, list[int]] | None
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The VROOM problem of some jobs and vehicles, and its places' rows in the whole matrix.

    Job and vehicle objects are the input's, with indices into the sliced matrices and
    `preferred_vehicles` cut to the vehicles present (the solver refuses unknown ones: the
    others all pay the same preference cost here), and `steps` cut to the jobs present. With
    `warm`, vehicles get those routes (job positions) as `steps`, the search's starting point.
    """
    jobs, vehicles = list(jobs), list(vehicles)
    present = {office.parsed.vehicles[v].id for v in vehicles}
    job_dicts = []
    for j in jobs:
        job = office.raw["jobs"][j]
        if "preferred_vehicles" in job:
            job = {
                **job,
                "preferred_vehicles": [v for v in job["preferred_vehicles"] if v in present],
            }
        job_dicts.append(job)
    vehicle_dicts = [office.raw["vehicles"][v] for v in vehicles]
    ids = [job.id for job in office.parsed.jobs]
    if warm is not None:
        vehicle_dicts = [
            {**d, "steps": [{"type": "job", "id": ids[j]} for j in warm.get(v, [])]}
            for d, v in zip(vehicle_dicts, vehicles, strict=True)
        ]
    else:
        # Steps may name jobs another sub-problem has (one a cluster dropped, offered to
        # another): the solver refuses steps naming unknown jobs.
        here = {ids[j] for j in jobs}
        vehicle_dicts = [
            {**d, "steps": [s for s in d["steps"] if s.get("type") != "job" or s["id"] in here]}
            if "steps" in d
            else d
            for d in vehicle_dicts
        ]
    sub = {k: v for k, v in office.raw.items() if k not in ("jobs", "vehicles", "matrices")}
    if not office.indexed:
        return {**sub, "jobs": job_dicts, "vehicles": vehicle_dicts}, None
    ends = np.concatenate([office.vehicle_start[vehicles], office.vehicle_end[vehicles]])
    places = np.unique(np.concatenate([office.job_place[jobs], ends[ends >= 0]]))
    row = {int(p): i for i, p in enumerate(places)}
    job_dicts = [{**d, "location_index": row[int(d["location_index"])]} for d in job_dicts]
    for i, d in enumerate(vehicle_dicts):
        vehicle_dicts[i] = {
            **d,
            **{key: row[int(d[key])] for key in ("start_index", "end_index") if key in d},
        }
    matrices = {}
    for profile in sorted({office.parsed.vehicles[v].profile for v in vehicles}):
        mats = office.parsed.matrices[profile]
        cut = np.ix_(places, places)
        matrices[profile] = {
            "durations": mats.durations[cut].tolist(),
            "distances": mats.distances[cut].tolist(),
        }
    return {**sub, "jobs": job_dicts, "vehicles": vehicle_dicts, "matrices": matrices}, places


def _restore_indices(items: Iterable[dict[str, Any]], places: np.ndarray | None) -> None:
    """Map a sub-answer's location_index back to the whole problem's rows, in place."""
    if places is None:
        return
    for item in items:
        if "location_index" in item:
            item["location_index"] = int(places[item["location_index"]])


def _whole_path(error: str, jobs: list[int], vehicles: list[int]) -> str:
    """A sub-problem's field path (jobs[3].x) in terms of the whole problem."""

    def whole(match: re.Match[str]) -> str:
        positions = jobs if match[1] == "jobs" else vehicles
        return f"{match[1]}[{positions[int(match[2])]}]"

    return _PATH.sub(whole, error)


# --- The plan being improved --------------------------------------------------------------------


@dataclass
class _Result:
    """A sub-solve's routes and unassigned jobs, in terms of the whole problem."""

    routes: dict[int, dict[str, Any]]  # vehicle -> route in VROOM's shape
    unassigned: dict[int, dict[str, Any]]  # job -> VROOM's unassigned entry


@dataclass
class _Plan:
    """The current routes and unassigned jobs, with a change counter per vehicle."""

    office: Office
    routes: dict[int, dict[str, Any]] = field(default_factory=dict)
    unassigned: dict[int, dict[str, Any]] = field(default_factory=dict)
    version: Counter[int] = field(default_factory=Counter)

    def jobs_of(self, vehicle: int) -> list[int]:
        """The vehicle's route as job positions in order."""
        route = self.routes.get(vehicle)
        if route is None:
            return []
        return [self.office.job_of[s["id"]] for s in route["steps"] if s["type"] == "job"]

    def score(self, routes: dict[int, dict[str, Any]], unassigned: Iterable[int]) -> tuple:
        """What VROOM ranks plans by: priority dropped, jobs dropped, then cost (+ preferences)."""
        jobs = self.office.parsed.jobs
        dropped = list(unassigned)
        cost = 0
        for v, route in routes.items():
            vehicle_id = self.office.parsed.vehicles[v].id
            cost += route["cost"]
            for step in route["steps"]:
                if step["type"] == "job":
                    job = jobs[self.office.job_of[step["id"]]]
                    if job.preferred_vehicles and vehicle_id not in job.preferred_vehicles:
                        cost += job.preference_cost
        return sum(jobs[j].priority for j in dropped), len(dropped), cost

    def adopt(self, vehicles: list[int], jobs: list[int], result: _Result) -> bool:
        """Take a group's new routes if they beat its current ones; say whether they did."""
        before = self.score(
            {v: self.routes[v] for v in vehicles if v in self.routes},
            (j for j in jobs if j in self.unassigned),
        )
        if self.score(result.routes, result.unassigned) >= before:
            return False
        for v in vehicles:
            self.routes.pop(v, None)
            self.version[v] += 1
        self.routes.update(result.routes)
        for j in jobs:
            self.unassigned.pop(j, None)
        self.unassigned.update(result.unassigned)
        return True

    def answer(self, loading_ms: int, solving_ms: int) -> dict[str, Any]:
        """The plan in VROOM's solution shape."""
        routes = [self.routes[v] for v in sorted(self.routes)]
        size = self.office.parsed.amount_size
        delivery = [sum(r["delivery"][i] for r in routes) for i in range(size)]
        return {
            "code": 0,
            "summary": {
                "cost": sum(r["cost"] for r in routes),
                "routes": len(routes),
                "unassigned": len(self.unassigned),
                "delivery": delivery,
                "service": sum(r["service"] for r in routes),
                "duration": sum(r["duration"] for r in routes),
                "waiting_time": sum(r["waiting_time"] for r in routes),
                "distance": sum(r["distance"] for r in routes),
                "computing_times": {"loading": loading_ms, "solving": solving_ms},
            },
            "unassigned": [self.unassigned[j] for j in sorted(self.unassigned)],
            "routes": routes,
        }


def _unassigned_entry(office: Office, j: int, reason: str) -> dict[str, Any]:
    """VROOM's unassigned entry for a job that no sub-solve reported on."""
    job = office.parsed.jobs[j]
    entry: dict[str, Any] = {"id": job.id, "type": "job"}
    if job.place.coords is not None:
        entry["location"] = list(job.place.coords)
    if office.indexed:
        entry["location_index"] = job.place.index
    return {**entry, "reason": reason}


# --- Solving ------------------------------------------------------------------------------------


class _Failure(Exception):
    """A sub-solve's code 2 or 3 error, which is the whole problem's error too."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["error"])
        self.answer = answer


@dataclass
class _Decomposition:
    """One solve_large call past validation."""

    office: Office
    config: SearchConfig
    osrm_url: str | None
    workers: int
    deadline: float
    first_only: bool
    plan: _Plan = field(init=False)
    stale: set[tuple[tuple[int, int], ...]] = field(default_factory=set)
    tried: int = 0
    taken: int = 0

    def __post_init__(self) -> None:
        self.plan = _Plan(self.office)

    def left(self) -> float:
        """Seconds until the deadline."""
        return self.deadline - time.monotonic()

    def solve(
        self, jobs: list[int], vehicles: list[int], seconds: float, warm: bool
    ) -> _Result | None:
        """Solve one sub-problem in its own process; None when it found no plan."""
        routes = {v: self.plan.jobs_of(v) for v in vehicles} if warm else None
        problem, places = subproblem(self.office, jobs, vehicles, routes)
        limit = min(seconds, self.left() - SPAWN_S - FINISH_S)
        if limit < MIN_SOLVE_S:
            return None
        answer = solver.solve_isolated(
            problem, limit, GRACE_S, config=self.config, osrm_url=self.osrm_url
        )
        if answer["code"] in (2, 3):
            raise _Failure({**answer, "error": _whole_path(answer["error"], jobs, vehicles)})
        if answer["code"] != 0:
            logger.warning("sub-problem of %d jobs: %s", len(jobs), answer.get("error"))
            return None
        for route in answer["routes"]:
            _restore_indices(route["steps"], places)
        _restore_indices(answer["unassigned"], places)
        return _Result(
            routes={self.office.vehicle_of[r["vehicle"]]: r for r in answer["routes"]},
            unassigned={self.office.job_of[u["id"]]: u for u in answer["unassigned"]},
        )

    def run(self, clusters: list[Cluster]) -> None:
        """Solve the clusters, give unassigned jobs a second chance, improve until the limit."""
        with ThreadPoolExecutor(self.workers) as pool:
            # Every vehicle alone, no jobs: the solver's checks of shifts and breaks, with the
            # whole problem's field paths, for vehicles that no cluster may get.
            vehicles = list(range(len(self.office.parsed.vehicles)))
            checked = pool.submit(self.solve, [], vehicles, MIN_SOLVE_S, False)
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
                    result = _Result(
                        {},
                        {
                            j: _unassigned_entry(self.office, j, solver.REASON_GENERIC)
                            for j in cluster.jobs
                        },
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
                if c != cluster_of[j] and self.office.servable[j, cluster.vehicles].any()
            ]
            if options:
                extra.setdefault(
                    min(options, key=lambda c: self.distance(j, clusters[c])), []
                ).append(j)
        spares = [v for v in range(len(self.office.parsed.vehicles)) if v not in self.plan.routes]
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
            _symmetric(
                self.office.travel, self.office.job_place[[j]], self.office.job_place[routed]
            ).min()
        )

    def movable_unassigned(self) -> list[int]:
        """Unassigned jobs that another group of vehicles might still serve."""
        return [
            j
            for j, entry in self.plan.unassigned.items()
            if entry["reason"] not in FINAL_REASONS and not self.office.parsed.jobs[j].locked
        ]

    def improve(self, pool: ThreadPoolExecutor) -> None:
        """Re-solve groups of neighbouring routes from their current routes until the limit."""
        running: dict[Future[_Result | None], tuple[list[int], list[int]]] = {}
        busy: set[int] = set()
        seeded: Counter[int] = Counter()
        while True:
            room = self.left() - SPAWN_S - FINISH_S - MIN_SOLVE_S
            if room > 0 and len(running) < self.workers:
                group = self.next_group(busy, seeded)
                if group is not None:
                    vehicles, jobs = group
                    busy.update(vehicles)
                    future = pool.submit(self.solve, jobs, vehicles, GROUP_S, True)
                    running[future] = (vehicles, jobs)
                    continue
            if not running:
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
        office = self.office
        mine = office.job_place[self.plan.jobs_of(seed)]
        others = [v for v in self.plan.routes if v != seed]
        if not others or not len(mine):
            return []
        jobs = [self.plan.jobs_of(v) for v in others]
        cols = office.job_place[np.concatenate(jobs)]
        legs = _symmetric(office.travel, mine, cols)
        bounds = np.cumsum([0] + [len(j) for j in jobs])[:-1]
        closeness = np.minimum.reduceat(legs, bounds, axis=1).mean(axis=0)
        return [others[i] for i in np.argsort(closeness, kind="stable")]

    def with_extras(self, vehicles: list[int], busy: set[int]) -> tuple[list[int], list[int]]:
        """A group's vehicles and jobs, with the unassigned jobs nearest it (and then a spare)."""
        jobs = [j for v in vehicles for j in self.plan.jobs_of(v)]
        extra = [j for j in self.movable_unassigned() if self.office.servable[j, vehicles].any()]
        if not extra:
            return vehicles, jobs
        owner = {j: v for v in self.plan.routes for j in self.plan.jobs_of(v)}
        routed = list(owner)
        legs = _symmetric(
            self.office.travel, self.office.job_place[extra], self.office.job_place[routed]
        )
        nearest = [owner[routed[i]] for i in np.argmin(legs, axis=1)]
        extra = [j for j, v in zip(extra, nearest, strict=True) if v in vehicles]
        spare = next(
            (
                v
                for v in range(len(self.office.parsed.vehicles))
                if v not in self.plan.routes and v not in busy
            ),
            None,
        )
        if extra and spare is not None:
            vehicles = [*vehicles, spare]
        return vehicles, jobs + extra


# --- Entry point --------------------------------------------------------------------------------


def _first_only(config: SearchConfig) -> bool:
    """Whether the configuration stops at the first solution (a quick plan is asked for)."""
    default = SearchConfig().search_parameters(1.0).solution_limit
    return config.search_parameters(1.0).solution_limit < default


def _solve_whole(
    problem: object,
    parsed: solver.Problem,
    time_limit_s: float,
    config: SearchConfig,
    osrm_url: str | None,
    workers: int,
) -> dict[str, Any]:
    """Solve a problem as one model; with two workers, two searches at once, the better wins."""
    alternative = replace(config, first_solution=ALT_FIRST_SOLUTION)
    if workers < 2 or _first_only(config) or alternative == config:
        return solver.solve_isolated(problem, time_limit_s, config=config, osrm_url=osrm_url)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda c: solver.solve_isolated(problem, time_limit_s, config=c, osrm_url=osrm_url),
                (config, alternative),
            )
        )
    plan = _Plan(office_of(problem, parsed))

    def rank(answer: dict[str, Any]) -> tuple:
        # A plan first, then as the improvement phase ranks plans (preference costs included).
        if answer.get("code") != 0:
            return (1,)
        office = plan.office
        routes = {office.vehicle_of[r["vehicle"]]: r for r in answer["routes"]}
        return (0, *plan.score(routes, (office.job_of[u["id"]] for u in answer["unassigned"])))

    return min(answers, key=rank)


def solve_large(
    problem: object,
    time_limit_s: float,
    *,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Solve a VROOM-format problem of any size within time_limit_s; answer like solver.solve.

    Sub-problems use `config` (default SUBPROBLEM_CONFIG); a config that stops at the first
    solution gets the first complete plan: each cluster stops at its first, nothing improves.
    """
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError(f"time_limit_s must be positive and finite, got {time_limit_s}")
    began = time.monotonic()
    try:
        parsed = solver.parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    if len(parsed.jobs) < SMALL_JOBS or len(parsed.vehicles) < 2:
        return _solve_whole(
            problem, parsed, time_limit_s, config or SearchConfig(), osrm_url, workers
        )
    config = config or SUBPROBLEM_CONFIG
    try:
        office = office_of(problem, parsed)
        first_only = _first_only(config)
        workers = max(1, workers)
        # Fewer, bigger clusters when the time is short: each deserves a few seconds of search.
        left = time_limit_s - (time.monotonic() - began)
        most = math.floor(workers * CLUSTER_SHARE * left / (CLUSTER_S + SPAWN_S))
        routes = FIRST_CLUSTER_ROUTES if first_only else CLUSTER_ROUTES
        clusters = partition(office, routes, None if first_only else max(1, most))
        loaded = time.monotonic()
        run = _Decomposition(office, config, osrm_url, workers, began + time_limit_s, first_only)
        run.run(clusters)
        ended = time.monotonic()
        return run.plan.answer(
            loading_ms=round((loaded - began) * 1000), solving_ms=round((ended - loaded) * 1000)
        )
    except _Failure as failure:
        return failure.answer
    except MemoryError:
        logger.exception("decomposed routing solve ran out of memory")
        return {"code": 1, "error": "out of memory"}
    except Exception:
        logger.exception("decomposed routing solve failed")
        return {"code": 1, "error": "internal error"}

"""Splitting a large problem's jobs into clusters of about one route's work, with their vehicles.

Sectors around the post office when most vehicles start there (routes from one depot are
petals), else balanced k-medoids on the travel times. A cluster gets the vehicles its work
needs and one more; a job named in a vehicle's `steps` goes with that vehicle, a job with
`preferred_vehicles` goes where one of them is, and every job goes where some vehicle can serve
it (skills, capacity).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from routing.vrp.whole_problem import WholeProblem, symmetric

# Routes' work per cluster (estimated by the shifts), or jobs per cluster without shifts.
CLUSTER_ROUTES = 1
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
# How much more than its share of the work a k-medoids cluster may take.
BALANCE = 1.1
MEDOID_ROUNDS = 10


@dataclass
class Cluster:
    """Jobs and vehicles (positions in the problem's lists) solved together."""

    jobs: list[int]
    vehicles: list[int]


def partition(
    whole: WholeProblem, routes: float = CLUSTER_ROUTES, most: int | None = None, seed: int = 0
) -> list[Cluster]:
    """Split the jobs into clusters of about `routes` routes' work (at most `most` clusters).

    Around a post office the clusters are sectors (routes from one depot are petals), else
    compact groups. Jobs in a vehicle's steps go with that vehicle; a job goes to a cluster
    where some vehicle can serve it (if any can) and, if one can serve it there, where a
    preferred vehicle is.
    """
    n_jobs, n_vehicles = whole.servable.shape
    rng = np.random.default_rng(seed)
    if whole.shift:
        k = round(whole.work.sum() / (FILL * whole.shift * routes))
    else:
        k = round(n_jobs * routes / (CLUSTER_ROUTES * CLUSTER_JOBS))
    k = max(k, math.ceil(n_jobs / MAX_CLUSTER_JOBS))
    k = max(1, min(k, most or k, n_jobs, n_vehicles))
    if whole.depot is not None:
        labels = _sweep(whole, k, whole.depot, rng)
    else:
        labels = _k_medoids(whole, k, rng)
    centres = _medoids(whole, labels, k)
    members = _allocate_vehicles(whole, labels, centres)
    vehicles_in = [set(vs) for vs in members]
    cluster_of_vehicle = {v: c for c, vs in enumerate(members) for v in vs}
    for j in range(n_jobs):
        home = labels[j]
        if j in whole.owner:
            labels[j] = cluster_of_vehicle[whole.owner[j]]
            continue
        able = [v for v in np.flatnonzero(whole.servable[j]) if v in cluster_of_vehicle]
        if not able and whole.servable[j].any():
            # Only vehicles no cluster got can serve it: one of them joins its cluster.
            spare = int(np.flatnonzero(whole.servable[j])[0])
            members[home].append(spare)
            vehicles_in[home].add(spare)
            cluster_of_vehicle[spare] = home
            continue
        wanted = [v for v in whole.preferred.get(j, []) if v in able]
        for choice in (wanted, able):
            if not choice or any(v in vehicles_in[home] for v in choice):
                break
            options = sorted({cluster_of_vehicle[v] for v in choice})
            closest = symmetric(whole.travel, whole.job_place[[j]], centres[options])
            labels[j] = options[int(np.argmin(closest))]
            break
    clusters = [Cluster(list(np.flatnonzero(labels == c)), sorted(members[c])) for c in range(k)]
    return _merge_unstaffed(whole, clusters, centres)


def _sweep(whole: WholeProblem, k: int, depot: int, rng: np.random.Generator) -> np.ndarray:
    """Sectors of equal work around the depot, the first starting after the widest gap.

    With fair shares (balance_cost), sectors of work in proportion to the vehicles each will
    get (the vehicles split as evenly as can be), so that a vehicle's share is the same in every
    sector: equal sectors of 1,000 stops for 17 vehicles gave some 50 % more work per vehicle
    than others.
    """
    xy = _plane(whole, np.append(whole.job_place, depot), rng)
    around = xy[:-1] - xy[-1]
    angle = np.arctan2(around[:, 1], around[:, 0])
    order = np.argsort(angle, kind="stable")
    gaps = np.diff(angle[order], append=angle[order[0]] + 2 * np.pi)
    order = np.roll(order, -(int(np.argmax(gaps)) + 1))
    work = whole.work[order]
    middle = np.cumsum(work) - work / 2
    labels = np.empty(len(order), dtype=np.intp)
    sizes = np.ones(k)
    if any(v.balance_cost for v in whole.parsed.vehicles):
        n_vehicles = len(whole.parsed.vehicles)
        sizes = n_vehicles // k + (np.arange(k) < n_vehicles % k)
    edges = np.cumsum(sizes)[:-1] / sizes.sum()
    labels[order] = np.searchsorted(edges, middle / work.sum(), side="right")
    return labels


def _k_medoids(whole: WholeProblem, k: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced k-medoids on symmetric travel: a cluster label per job."""
    places, work = whole.job_place, whole.work
    n = len(places)
    # k-means++ seeding: each next medoid far from the chosen ones, at random in proportion.
    medoids = [int(rng.integers(n))]
    nearest = symmetric(whole.travel, places[medoids], places)[0]
    for _ in range(1, k):
        weights = nearest**2
        total = weights.sum()
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        medoids.append(pick)
        nearest = np.minimum(nearest, symmetric(whole.travel, places[[pick]], places)[0])
    centres = places[medoids]
    capacity = work.sum() / k * BALANCE
    labels = np.zeros(n, dtype=np.intp)
    for _ in range(MEDOID_ROUNDS):
        labels = _balanced_assignment(symmetric(whole.travel, centres, places), work, capacity)
        updated = _medoids(whole, labels, k)
        if np.array_equal(updated, centres):
            break
        centres = updated
    return labels


def _medoids(whole: WholeProblem, labels: np.ndarray, k: int) -> np.ndarray:
    """Per cluster, the place of the job nearest (weighted by work) to the others."""
    out = np.empty(k, dtype=np.intp)
    for c in range(k):
        member = np.flatnonzero(labels == c)
        if not len(member):
            out[c] = whole.job_place[0]
            continue
        inner = symmetric(whole.travel, whole.job_place[member], whole.job_place[member])
        out[c] = whole.job_place[member[int(np.argmin(inner @ whole.work[member]))]]
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


def _allocate_vehicles(
    whole: WholeProblem, labels: np.ndarray, centres: np.ndarray
) -> list[list[int]]:
    """Vehicles per cluster for its work, each to the nearest cluster still needing one.

    With shifts, a cluster gets the routes its work needs and SPARE_VEHICLES more (OR-Tools
    spreads work over every vehicle it is given); the rest wait for the improvement phase.
    Vehicles with a balance_cost are shared out among the clusters, all of them.
    A vehicle whose steps or preferring jobs mostly lie in one cluster goes there first.
    """
    k = len(centres)
    n_jobs, n_vehicles = whole.servable.shape
    work = np.bincount(labels, weights=whole.work, minlength=k)
    share = n_vehicles * work / work.sum() if work.sum() > 0 else np.full(k, n_vehicles / k)
    counts = np.maximum(1, np.floor(share)).astype(int)
    for c in np.argsort(-(share - np.floor(share)), kind="stable"):
        if counts.sum() >= n_vehicles:
            break
        counts[c] += 1
    # Vehicles with fair shares (balance_cost) all get work: each goes to some cluster.
    if whole.shift and not any(v.balance_cost for v in whole.parsed.vehicles):
        counts = np.minimum(
            counts, np.ceil(work / (FILL * whole.shift)).astype(int) + SPARE_VEHICLES
        )
    members: list[list[int]] = [[] for _ in range(k)]
    votes: dict[int, Counter[int]] = {}
    for j, v in whole.owner.items():
        votes.setdefault(v, Counter())[labels[j]] += n_jobs  # steps outweigh preferences
    for j, wanted in whole.preferred.items():
        for v in wanted:
            votes.setdefault(v, Counter())[labels[j]] += 1
    for v, ballot in sorted(votes.items()):
        members[ballot.most_common(1)[0][0]].append(v)
    free = [v for v in range(n_vehicles) if v not in votes]
    pairs = []
    for v in free:
        cost = np.zeros(k)
        if whole.vehicle_start[v] >= 0:
            cost = cost + whole.travel[whole.vehicle_start[v], centres]
        if whole.vehicle_end[v] >= 0:
            cost = cost + whole.travel[centres, whole.vehicle_end[v]]
        pairs += [(float(cost[c]), v, c) for c in range(k)]
    taken: set[int] = set()
    for _, v, c in sorted(pairs):
        if v not in taken and len(members[c]) < counts[c]:
            members[c].append(v)
            taken.add(v)
    return members


def _merge_unstaffed(
    whole: WholeProblem, clusters: list[Cluster], centres: np.ndarray
) -> list[Cluster]:
    """Give the jobs of a cluster without vehicles to the nearest cluster with some."""
    staffed = [c for c, cluster in enumerate(clusters) if cluster.vehicles]
    for c, cluster in enumerate(clusters):
        if cluster.vehicles or not cluster.jobs:
            continue
        closest = symmetric(whole.travel, centres[[c]], centres[staffed])[0]
        clusters[staffed[int(np.argmin(closest))]].jobs.extend(cluster.jobs)
        cluster.jobs = []
    return [c for c in clusters if c.vehicles and c.jobs]


def _plane(whole: WholeProblem, places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of places in a plane (n x 2): from coordinates, or fitted to the travel times.

    Without coordinates, landmark MDS (de Silva and Tenenbaum 2004): classical MDS of a few
    dozen landmarks, every place then placed from its travel times to them.
    """
    if not whole.indexed:
        lon, lat = np.radians(np.asarray(whole.parsed.points, dtype=float)[places]).T
        return np.column_stack([lon * np.cos(lat.mean()), lat])
    marks = places[rng.choice(len(places), size=min(LANDMARKS, len(places)), replace=False)]
    squared = symmetric(whole.travel, marks, marks) ** 2
    centred = squared - squared.mean(axis=0) - squared.mean(axis=1)[:, np.newaxis]
    values, vectors = np.linalg.eigh(-0.5 * (centred + squared.mean()))
    top = np.argsort(values)[::-1][:2]
    scale = vectors[:, top] / np.sqrt(np.maximum(values[top], 1e-9))
    to_marks = symmetric(whole.travel, marks, places) ** 2
    return -0.5 * (to_marks - squared.mean(axis=1)[:, np.newaxis]).T @ scale

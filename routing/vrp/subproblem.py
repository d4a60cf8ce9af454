"""A sub-problem cut out of the whole (a VROOM problem of its own), and its answer mapped back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from routing.vrp.whole_problem import WholeProblem

_PATH = re.compile(r"^(jobs|vehicles)\[(\d+)\]")


def subproblem(
    whole: WholeProblem,
    jobs: Iterable[int],
    vehicles: Iterable[int],
    warm: dict[int, list[int]] | None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The VROOM problem of some jobs and vehicles, and its places' rows in the whole matrix.

    Job and vehicle objects are the input's, with indices into the sliced matrices and
    `preferred_vehicles` cut to the vehicles present (the solver refuses unknown ones: the
    others all pay the same preference cost here), and `steps` cut to the jobs present. With
    `warm`, vehicles get those routes (job positions) as `steps`, the search's starting point.
    """
    jobs, vehicles = list(jobs), list(vehicles)
    present = {whole.parsed.vehicles[v].id for v in vehicles}
    job_dicts = []
    for j in jobs:
        job = whole.raw["jobs"][j]
        if "preferred_vehicles" in job:
            job = {
                **job,
                "preferred_vehicles": [v for v in job["preferred_vehicles"] if v in present],
            }
        job_dicts.append(job)
    vehicle_dicts = [whole.raw["vehicles"][v] for v in vehicles]
    ids = [job.id for job in whole.parsed.jobs]
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
    sub = {k: v for k, v in whole.raw.items() if k not in ("jobs", "vehicles", "matrices")}
    if not whole.indexed:
        return {**sub, "jobs": job_dicts, "vehicles": vehicle_dicts}, None
    ends = np.concatenate([whole.vehicle_start[vehicles], whole.vehicle_end[vehicles]])
    places = np.unique(np.concatenate([whole.job_place[jobs], ends[ends >= 0]]))
    row = {int(p): i for i, p in enumerate(places)}
    job_dicts = [{**d, "location_index": row[int(d["location_index"])]} for d in job_dicts]
    for i, d in enumerate(vehicle_dicts):
        vehicle_dicts[i] = {
            **d,
            **{key: row[int(d[key])] for key in ("start_index", "end_index") if key in d},
        }
    matrices = {}
    for profile in sorted({whole.parsed.vehicles[v].profile for v in vehicles}):
        mats = whole.parsed.matrices[profile]
        cut = np.ix_(places, places)
        matrices[profile] = {
            key: matrix[cut].tolist()
            for key in ("durations", "distances", "costs")
            if (matrix := getattr(mats, key)) is not None
        }
    return {**sub, "jobs": job_dicts, "vehicles": vehicle_dicts, "matrices": matrices}, places


def restore_indices(items: Iterable[dict[str, Any]], places: np.ndarray | None) -> None:
    """Map a sub-answer's location_index back to the whole problem's rows, in place."""
    if places is None:
        return
    for item in items:
        if "location_index" in item:
            item["location_index"] = int(places[item["location_index"]])


def whole_path(error: str, jobs: list[int], vehicles: list[int]) -> str:
    """A sub-problem's field path (jobs[3].x) in terms of the whole problem."""

    def whole(match: re.Match[str]) -> str:
        positions = jobs if match[1] == "jobs" else vehicles
        return f"{match[1]}[{positions[int(match[2])]}]"

    return _PATH.sub(whole, error)

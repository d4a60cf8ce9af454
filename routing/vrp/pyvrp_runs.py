"""PyVRP's searches in processes of their own, one seed per core, the better plan kept.

Each search is a fork of the solver's process server (routing.vrp.solve), killed when it
overruns its deadline by grace_s; a search that fails, crashes or finds no feasible plan of the
relaxation counts as none, and without any the caller plans with OR-Tools alone.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from routing.vrp.problem import Problem
from routing.vrp.pyvrp_search import Found, search
from routing.vrp.solve import solver_processes

logger = logging.getLogger(__name__)


def _search_in_child(
    conn: Any,
    problem: Problem,
    durations: Mapping[str, np.ndarray],
    deadline: float,
    seed: int,
    stall_s: float,
) -> None:
    """Entry point of a search's process: send its Found (or None) back through the pipe."""
    try:
        found = search(problem, durations, deadline, seed, stall_s)
    except Exception:
        logger.exception("PyVRP search failed")
        found = None
    conn.send(found)
    conn.close()


def searches(
    tasks: list[tuple[Problem, int]],
    durations: Mapping[str, np.ndarray],
    seconds: float,
    grace_s: float,
    stall_s: float = math.inf,
    *,
    target: Any = _search_in_child,
) -> list[Found | None]:
    """One PyVRP search per (problem, seed), all at once for `seconds` (or until none found a
    better plan for stall_s); each one's plan or None.

    `target` is the function run in each process (tests substitute one that fails or hangs).
    """
    deadline = time.monotonic() + seconds
    context = solver_processes()
    runs = []
    try:
        for problem, seed in tasks:
            receiver, sender = context.Pipe(duplex=False)
            # The children need no matrices from the problem: the durations go on their own.
            light = dataclasses.replace(problem, matrices=None)
            process = context.Process(
                target=target,
                args=(sender, light, durations, deadline, seed, stall_s),
                name="routing-pyvrp",
                daemon=True,
            )
            process.start()
            sender.close()
            runs.append((process, receiver))
        found: list[Found | None] = []
        for _, receiver in runs:
            wait = max(0.0, deadline + grace_s - time.monotonic())
            try:
                if receiver.poll(wait):
                    found.append(receiver.recv())
                    continue
                logger.error("PyVRP search overran %.1f s; killed", seconds + grace_s)
            except EOFError:
                logger.error("PyVRP search process died")
            found.append(None)
        return found
    finally:
        for process, receiver in runs:
            if process.is_alive():
                process.kill()
            process.join()
            receiver.close()


def best_of_seeds(
    problem: Problem,
    durations: Mapping[str, np.ndarray],
    seconds: float,
    seeds: int,
    grace_s: float,
    stall_s: float = math.inf,
    *,
    target: Any = _search_in_child,
) -> Found | None:
    """PyVRP's best plan over `seeds` searches of `seconds` run at once; None if none found."""
    tasks = [(problem, seed) for seed in range(seeds)]
    found = searches(tasks, durations, seconds, grace_s, stall_s, target=target)
    return min((f for f in found if f is not None), key=lambda f: f.cost, default=None)


def by_parts(
    problem: Problem,
    parts: list[tuple[list[int], list[int]]],
    durations: Mapping[str, np.ndarray],
    seconds: float,
    grace_s: float,
    stall_s: float = math.inf,
) -> Found | None:
    """PyVRP's plans of parts of the problem (job and vehicle positions), searched at once.

    None unless every part has a plan.
    """
    tasks = [
        (
            dataclasses.replace(
                problem,
                jobs=tuple(problem.jobs[j] for j in jobs),
                vehicles=tuple(problem.vehicles[v] for v in vehicles),
            ),
            0,
        )
        for jobs, vehicles in parts
    ]
    found = searches(tasks, durations, seconds, grace_s, stall_s)
    if any(f is None for f in found):
        return None
    routes = {
        vehicles[v]: [jobs[j] for j in route]
        for (jobs, vehicles), f in zip(parts, found, strict=True)
        for v, route in f.routes.items()  # type: ignore[union-attr]
    }
    return Found(routes, sum(f.cost for f in found))  # type: ignore[union-attr]

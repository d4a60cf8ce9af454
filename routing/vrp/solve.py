"""Solving a VROOM-format problem with one OR-Tools model: in this process or in a fresh one.

solve() answers in VROOM's solution format (routing.vrp.answers), never raising for bad input;
evaluate() times given routes without searching; solve_isolated() runs solve() in a process of
its own (OR-Tools #5076: a second routing model in one process can crash it).
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from routing.vrp.answers import REASON_GENERIC, REASON_NOT_ROUTED, build_answer
from routing.vrp.matrix import PROFILES, MatrixError, OsrmTable, matrices_from_points
from routing.vrp.model import STATUS_RESULTS, Model, SearchConfig
from routing.vrp.parse import parse_problem
from routing.vrp.problem import Matrices, Problem, ProblemError
from routing.vrp.schedule import break_gaps
from routing.vrp.screen import check_vehicles, screen_jobs
from routing.vrp.stopping import reason, stall_seconds

logger = logging.getLogger(__name__)

LOADING_TOOK_THE_LIMIT = "the time limit ran out while loading the problem"


def build_matrices(problem: Problem, osrm_url: str | None) -> Mapping[str, Matrices]:
    """The problem's matrices, or ones built from its coordinates (OSRM, else great-circle)."""
    if problem.matrices is not None:
        return problem.matrices
    out = {}
    for profile in sorted({v.profile for v in problem.vehicles}):
        if osrm_url:
            durations, distances = OsrmTable(osrm_url).matrices(problem.points, profile)
        else:
            durations, distances = matrices_from_points(problem.points, profile)
        np.fill_diagonal(durations, 0)
        np.fill_diagonal(distances, 0)
        out[profile] = Matrices(durations, distances)
    return out


def check_time_limit(time_limit_s: float) -> None:
    """Raise ValueError unless the time limit is a positive, finite number of seconds."""
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError(f"time_limit_s must be positive and finite, got {time_limit_s}")


def with_stop(answer: dict[str, Any], stopped: str, seconds: float) -> dict[str, Any]:
    """The answer with why its search stopped and the seconds it used, beside VROOM's summary."""
    answer["summary"].update(stopped=stopped, seconds_used=round(seconds, 3))
    return answer


def solve(
    problem: object,
    time_limit_s: float,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Solve a VROOM-format problem in this process; answer in VROOM's solution format.

    Without matrices in the problem, they come from `osrm_url` (an OSRM /table service) or,
    without one, from great-circle distances and routing.vrp.matrix.PROFILES. A search that
    cannot be stopped (the iterated local search) hands its answer to `publish` as soon as it
    stops improving, and goes on to its limit (solve_isolated then ends its process).
    """
    check_time_limit(time_limit_s)
    config = config or SearchConfig()
    began = time.perf_counter()
    try:
        parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
        mats = build_matrices(parsed, osrm_url)
        check_vehicles(parsed, mats)
        candidates, unassigned = screen_jobs(parsed, mats)
        model = Model(parsed, mats, candidates)
        loaded = time.perf_counter()
        remaining = time_limit_s - (loaded - began)
        if remaining <= 0:
            return {"code": 1, "error": LOADING_TOOK_THE_LIMIT}

        def answer() -> dict[str, Any]:
            """The answer for the model's plan (model.assignment)."""
            solved = time.perf_counter()
            routes = model.routes()
            served = {id(job) for _, jobs, _ in routes for job in jobs}  # ids repeat across kinds
            dropped = [(job, REASON_GENERIC) for job in model.jobs if id(job) not in served]
            result = build_answer(
                parsed,
                mats,
                routes,
                unassigned + dropped,
                loading_ms=round((loaded - began) * 1000),
                solving_ms=round((solved - loaded) * 1000),
            )
            stopped = reason(model.watch.stalled, solved - loaded, remaining)
            return with_stop(result, stopped, solved - began)

        stall_s = stall_seconds(len(model.jobs), time_limit_s)
        on_stall = None if publish is None else lambda: publish(answer())
        status = model.solve(config, remaining, stall_s, on_stall)
        failure = STATUS_RESULTS.get(status, (1, f"unexpected solver status {status}"))
        if failure is not None:
            return {"code": failure[0], "error": failure[1]}
        return answer()
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    except MatrixError as exc:
        return {"code": 3, "error": str(exc)}
    except MemoryError:
        logger.exception("routing solve ran out of memory")
        return {"code": 1, "error": "out of memory"}
    except Exception:
        logger.exception("routing solve failed")
        return {"code": 1, "error": "internal error"}


def evaluate(problem: object, osrm_url: str | None = None) -> dict[str, Any]:
    """Time the routes given as the vehicles' `steps`, without searching (VROOM's plan mode).

    Breaks are taken at the first gap their window opens in. Nothing is refused for being
    late: a job, break or end past its window carries `violations` [{"cause": "delay",
    "duration": seconds}]; jobs in no steps are unassigned. Answers like solve().
    """
    began = time.perf_counter()
    try:
        parsed = parse_problem(problem, known_profiles=None if osrm_url else list(PROFILES))
        mats = build_matrices(parsed, osrm_url)
        by_id = {job.id: job for job in parsed.jobs}
        routes = []
        for vehicle in parsed.vehicles:
            jobs = [by_id[job_id] for job_id in vehicle.steps]
            if jobs:
                gaps = break_gaps(vehicle, jobs, mats[vehicle.profile].durations)
                routes.append((vehicle, jobs, gaps))
        routed = {job_id for v in parsed.vehicles for job_id in v.steps}
        unassigned = [
            (task, REASON_NOT_ROUTED)
            for task in parsed.tasks
            if task.kind != "job" or task.id not in routed
        ]
        elapsed = round((time.perf_counter() - began) * 1000)
        return build_answer(parsed, mats, routes, unassigned, loading_ms=elapsed, solving_ms=0)
    except ProblemError as exc:
        return {"code": 2, "error": str(exc)}
    except MatrixError as exc:
        return {"code": 3, "error": str(exc)}


def _solve_in_child(
    conn: Any,
    problem: object,
    time_limit_s: float,
    config: SearchConfig | None,
    osrm_url: str | None,
) -> None:
    """Entry point of the solver process: send solve()'s answer back through the pipe.

    An answer published before the search ends is the one sent: the parent then ends this
    process.
    """
    sent: list[bool] = []

    def publish(answer: dict[str, Any]) -> None:
        conn.send(answer)
        sent.append(True)

    try:
        result = solve(problem, time_limit_s, config, osrm_url, publish)
    except Exception:
        logger.exception("routing solve failed")
        result = {"code": 1, "error": "internal error"}
    if not sent:
        conn.send(result)
    conn.close()


@functools.cache
def solver_processes() -> multiprocessing.context.BaseContext:
    """Where solver processes come from: forked from a server that has loaded OR-Tools.

    Every solve still gets a process of its own (OR-Tools #5076: a second routing model in one
    process can crash it), but a fork of a server that imported this module and never built a
    model starts in milliseconds, where a spawned interpreter re-imports OR-Tools each time
    (0.2-1 s; a decomposed plan starts dozens of sub-solves).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def solve_isolated(
    problem: object,
    time_limit_s: float,
    grace_s: float = 5.0,
    config: SearchConfig | None = None,
    osrm_url: str | None = None,
    *,
    target: Callable[..., None] = _solve_in_child,
) -> dict[str, Any]:
    """Run solve() in a fresh process, killed after time_limit_s + grace_s; always answers.

    `target` is the function run in that process (tests substitute one that crashes or hangs).
    """
    check_time_limit(time_limit_s)
    context = solver_processes()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=target,
        args=(sender, problem, time_limit_s, config, osrm_url),
        name="routing-solver",
        daemon=True,
    )
    try:
        process.start()
        sender.close()
        if not receiver.poll(time_limit_s + grace_s):
            logger.error("routing solver process overran %.1f s; killed", time_limit_s + grace_s)
            return {"code": 1, "error": "solver did not finish in time"}
        try:
            return receiver.recv()
        except EOFError:
            process.join(grace_s)
            logger.error("routing solver process died (exit code %s)", process.exitcode)
            return {"code": 1, "error": f"solver process crashed (exit code {process.exitcode})"}
    finally:
        if process.is_alive():
            process.kill()
        if process.pid is not None:
            process.join()
        receiver.close()

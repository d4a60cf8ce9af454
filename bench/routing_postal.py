"""Synthetic delivery-office days: our OR-Tools solver at 300 to 4,000 stops (issue 4, item 7).

    .venv/bin/python bench/routing_postal.py [--sizes 300,1000,2000,4000] [--limits 30,60]
        [--compare] [--seed 7]

The instance: N stops in a 6 x 6 km urban district around (127.02, 37.52), 70 % clustered around
apartment blocks; 10-20 % welfare visits (600 s service, 30 % of them with a 2-hour window), the
rest registered mail (60 s, no window); ceil(N / 60) carriers with 09:00-17:00 shifts from the
depot at the centre, each with a 30-minute lunch break starting between 11:30 and 13:00 (so it
ends by 13:30; a 30-minute break is what carriers take, the 1-hour variant is not modelled);
travel time = great-circle km x 1.3 / 15 km/h, in whole seconds (distances in whole metres);
every stop droppable with a large penalty (priority 100 for welfare visits, 50 for mail). It is
one VROOM-format problem with `matrices`, so our solver, PyVRP and VROOM get the identical
instance; the cost is the total travel time.

Ours is routing.vrp.decompose.solve_large: PyVRP's search plans the day relaxed (no breaks) on
both cores (two seeds at once) for decompose.PYVRP_SHARE of the time, then OR-Tools completes
its routes with every constraint and re-solves groups of neighbouring routes (without a PyVRP
plan: clusters solved as separate OR-Tools models first). Every peer gets the same two cores
(workers=2): PyVRP the better of two seeds run at once, VROOM two threads.
Every run is a fresh process (run one after another), which rebuilds the instance from the seed
and reports its peak RSS, sampled every 0.2 s together with the processes it starts (ours
solves its sub-problems in child processes). One that runs past its limit + 30 s is
killed. Our plans and the others' (re-timed by routing.vrp.schedule) are all checked by
tests/support/vrp_checker.py.

The sub-problems search with guided local search (decompose.SUBPROBLEM_CONFIG), not with the
default SearchConfig's iterated local search, which wins on Solomon but not here (seed 7, 30 s,
cost at 300 / 1,000 stops, one run each in the same session: GLS 18,485 / 43,419; iterated local
search with all operators 18,683 / 43,951, with the default's lean operators 20,203 / 48,139),
plus OR-Tools' close-nodes LNS operators (off in OR-Tools by default; see decompose.py).

"First plan": a separate run of ours with `solution_limit: 1` (each cluster stops at the first
complete assignment its first-solution heuristic builds, and nothing is improved after): the
time is loading (parse and clustering, from summary.computing_times) + solving the clusters.

PyVRP 0.14 has no breaks: it plans with room for one (shifts ending 30 min early, at 16:30, and
windows ending after 11:30 shortened by 30 min), and the lunch break is then put into each of
its routes at the first position that keeps the route feasible (see _plan_answer if none
does). VROOM takes the breaks itself, at exploration 5. PyVRP's limit is the wall time of its
search, first descent included (bench.solomon.pyvrp_seed), not building its data from the
matrix (an array, not one add_edge per arc, which took longer than the limit at 4,000 stops)
nor starting its processes; the `s` column shows the whole.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import platform
import resource
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.solomon import PEER_CORES, best_of_seeds, pyvrp_seed, solve_with_vroom  # noqa: E402

CENTRE = (127.02, 37.52)  # lon, lat: the depot
SIDE_KM = 6.0
CLUSTERED = 0.7
STOPS_PER_CARRIER = 60
SHIFT = (9 * 3600, 17 * 3600)
BREAK_SERVICE = 1800
BREAK_WINDOW = (11 * 3600 + 1800, 13 * 3600)  # start 11:30-13:00, so over by 13:30
WELFARE_SERVICE, MAIL_SERVICE = 600, 60
WELFARE_PRIORITY, MAIL_PRIORITY = 100, 50
SPEED_KMH, CIRCUITY = 15.0, 1.3
GRACE_S = 30.0
PROFILE = "car"
SOLVERS = ("ortools", "pyvrp", "vroom")
OURS_WORKERS = 2  # processes ours runs at once; the peers get as many (PEER_CORES)


# --- The instance -------------------------------------------------------------------------------


def office_day(n: int, seed: int) -> dict[str, Any]:
    """A seeded synthetic office day with n stops, as a VROOM-format problem with matrices."""
    from routing.vrp.matrix import Profile, matrices_from_points

    rng = np.random.default_rng([seed, n])
    km_lon = 111.320 * math.cos(math.radians(CENTRE[1]))
    km_lat = 110.574
    half = SIDE_KM / 2
    n_clustered = round(CLUSTERED * n)
    # Apartment blocks: one per ~40 clustered stops, a few hundred metres across.
    n_blocks = max(3, n_clustered // 40)
    blocks = rng.uniform(-half * 0.9, half * 0.9, size=(n_blocks, 2))
    which = rng.integers(0, n_blocks, size=n_clustered)
    clustered = blocks[which] + rng.normal(0.0, 0.12, size=(n_clustered, 2))
    scattered = rng.uniform(-half, half, size=(n - n_clustered, 2))
    xy = np.clip(np.vstack([clustered, scattered]), -half, half)
    xy = xy[rng.permutation(n)]
    lon = CENTRE[0] + xy[:, 0] / km_lon
    lat = CENTRE[1] + xy[:, 1] / km_lat
    points = [CENTRE, *zip(lon.round(6).tolist(), lat.round(6).tolist(), strict=True)]
    durations, distances = matrices_from_points(points, Profile(SPEED_KMH, CIRCUITY))

    # Exactly round(share * n) welfare visits, exactly 30 % of them (rounded) with a window.
    welfare = rng.choice(n, size=round(rng.uniform(0.10, 0.20) * n), replace=False)
    is_welfare = np.zeros(n, dtype=bool)
    is_welfare[welfare] = True
    windowed = np.zeros(n, dtype=bool)
    windowed[welfare[: round(0.30 * len(welfare))]] = True
    # 2-hour windows starting on the half hour between 09:00 and 15:00.
    window_start = SHIFT[0] + 1800 * rng.integers(0, 13, size=n)
    jobs = []
    for i in range(n):
        job: dict[str, Any] = {
            "id": i + 1,
            "location_index": i + 1,
            "service": WELFARE_SERVICE if is_welfare[i] else MAIL_SERVICE,
            "priority": WELFARE_PRIORITY if is_welfare[i] else MAIL_PRIORITY,
        }
        if windowed[i]:
            job["time_windows"] = [[int(window_start[i]), int(window_start[i]) + 7200]]
        jobs.append(job)
    vehicles = [
        {
            "id": k + 1,
            "profile": PROFILE,
            "start_index": 0,
            "end_index": 0,
            "time_window": list(SHIFT),
            "breaks": [{"id": 1, "time_windows": [list(BREAK_WINDOW)], "service": BREAK_SERVICE}],
        }
        for k in range(math.ceil(n / STOPS_PER_CARRIER))
    ]
    return {
        "jobs": jobs,
        "vehicles": vehicles,
        "matrices": {PROFILE: {"durations": durations.tolist(), "distances": distances.tolist()}},
    }


def describe(problem: dict[str, Any]) -> str:
    jobs = problem["jobs"]
    welfare = sum(j["service"] == WELFARE_SERVICE for j in jobs)
    windowed = sum("time_windows" in j for j in jobs)
    return (
        f"{len(jobs)} stops ({welfare} welfare visits, {windowed} with a 2-hour window), "
        f"{len(problem['vehicles'])} carriers"
    )


# --- Other solvers' plans, re-timed so that the same checker judges them ------------------------


def _violations(steps: list[Any], shift_end: int) -> list[int]:
    """The indices of the steps out of their windows (and of the end past the shift)."""
    bad = [
        k
        for k, step in enumerate(steps)
        if step.windows
        and not any(w.start <= step.arrival + step.waiting <= w.end for w in step.windows)
    ]
    return bad + [len(steps) - 1] if steps[-1].arrival > shift_end else bad


def _plan_answer(problem: dict[str, Any], plans: list[tuple[int, list[int], int | None]]):
    """A VROOM-shaped answer for plans (vehicle index, job ids in order, jobs before the break).

    A break position None (PyVRP, which has no breaks): the first position that keeps the route
    feasible; if there is none, the position with the fewest violations, and there the first
    job pushed out of its window (or the last job when the break or the end is late) is
    unassigned; again until the route is feasible.
    """
    from routing.vrp.answers import build_answer
    from routing.vrp.parse import parse_problem
    from routing.vrp.schedule import schedule

    parsed = parse_problem(problem)
    jobs = {job.id: job for job in parsed.jobs}
    durations = parsed.matrices[PROFILE].durations
    routes = []
    for k, order, at in plans:
        vehicle, route_jobs = parsed.vehicles[k], [jobs[j] for j in order]
        shift_end = vehicle.time_window.end
        while route_jobs:
            if at is not None:
                chosen = at
                break
            first_bad = None
            chosen = None
            for gap in range(len(route_jobs) + 1):
                steps = schedule(vehicle, route_jobs, {gap: list(vehicle.breaks)}, durations)
                bad = _violations(steps, shift_end)
                if not bad:
                    chosen = gap
                    break
                if first_bad is None or len(bad) < first_bad[0]:
                    first_bad = (len(bad), steps[bad[0]])
            if chosen is not None:
                break
            _, step = first_bad
            drop = step.item if step.kind == "job" else route_jobs[-1]
            route_jobs = [job for job in route_jobs if job is not drop]
        if route_jobs:
            routes.append((vehicle, route_jobs, {chosen: list(vehicle.breaks)}))
    served = {job.id for _, route_jobs, _ in routes for job in route_jobs}
    unassigned = [(job, "not served") for job in parsed.jobs if job.id not in served]
    return build_answer(parsed, parsed.matrices, routes, unassigned, 0, 0)


def _solve_ortools(problem: dict[str, Any], time_limit: float, first: bool) -> dict:
    from routing.vrp.decompose import SUBPROBLEM_CONFIG, solve_large

    config = replace(SUBPROBLEM_CONFIG, parameters="solution_limit: 1") if first else None
    return solve_large(problem, time_limit, config=config, workers=OURS_WORKERS)


def _solve_pyvrp(problem: dict[str, Any], time_limit: float, first: bool) -> dict:
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType

    # ProblemData from the matrix as one array: Model.add_edge per arc (16 million at 4,000
    # stops) took longer than the time limit itself.
    durations = np.asarray(problem["matrices"][PROFILE]["durations"], dtype=np.int64)
    jobs = problem["jobs"]
    clients = []
    for job in jobs:
        window = job.get("time_windows", [list(SHIFT)])[0]
        if window[1] > BREAK_WINDOW[0]:  # room for the break before the visit
            window = [window[0], max(window[0], window[1] - BREAK_SERVICE)]
        clients.append(
            Client(
                location=job["location_index"],
                service_duration=job["service"],
                tw_early=window[0],
                tw_late=window[1],
                prize=100_000 + 1_000 * job["priority"],
                required=False,
            )
        )
    vehicles = VehicleType(
        num_available=len(problem["vehicles"]),
        tw_early=SHIFT[0],
        tw_late=SHIFT[1] - BREAK_SERVICE,  # no breaks in PyVRP: keep room for one
    )
    data = ProblemData(
        locations=[Location(0, 0) for _ in range(len(durations))],
        clients=clients,
        depots=[Depot(0, tw_early=SHIFT[0], tw_late=SHIFT[1])],
        vehicle_types=[vehicles],
        distance_matrices=[durations],
        duration_matrices=[durations],
    )
    _, routes = best_of_seeds(functools.partial(pyvrp_seed, data), time_limit)
    ids = [job["id"] for job in jobs]
    plans = [(k, [ids[c] for c in route], None) for k, route in enumerate(routes)]
    return _plan_answer(problem, plans)


def _solve_vroom(problem: dict[str, Any], time_limit: float, first: bool) -> dict:
    solution = solve_with_vroom(problem, time_limit)
    index = {v["id"]: k for k, v in enumerate(problem["vehicles"])}
    plans = []
    for vid, steps in solution.routes.groupby("vehicle_id", sort=True):
        order, at = [], None
        for kind, sid in zip(steps["type"], steps["id"], strict=True):
            if kind == "job":
                order.append(int(sid))
            elif kind == "break":
                at = len(order)
        plans.append((index[int(vid)], order, at))
    return _plan_answer(problem, plans)


SOLVE = {"ortools": _solve_ortools, "pyvrp": _solve_pyvrp, "vroom": _solve_vroom}


def _rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def _descendants(pid: int) -> list[int]:
    """Every process started under pid (Linux /proc), recursively."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


class _PeakSampler(threading.Thread):
    """Samples this process plus its solver processes: ours runs OR-Tools in children.

    ru_maxrss of children would count the parent's pages shared at fork, before exec.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.done.wait(0.2):
            total = _rss_mb(me) + sum(_rss_mb(pid) for pid in _descendants(me))
            self.peak_mb = max(self.peak_mb, total)


def _child(conn: Any, solver_name: str, n: int, seed: int, limit: float, first: bool) -> None:
    """One run in its own process: build the instance, say so, solve, check, report."""
    from tests.support.vrp_checker import check

    problem = office_day(n, seed)
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send("ready")
    sampler = _PeakSampler()
    sampler.start()
    began = time.perf_counter()
    try:
        result = SOLVE[solver_name](problem, limit, first)
    except Exception as exc:  # a failing solver is reported, not fatal
        result = {"code": 1, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - began
    sampler.done.set()
    sampler.join()
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row: dict[str, Any] = {
        "seconds": seconds,
        "peak_mb": max(own_mb, sampler.peak_mb),
        "base_mb": base_mb,
    }
    if result.get("code") != 0:
        row["error"] = result.get("error")
    else:
        summary = result["summary"]
        row.update(
            cost=summary["cost"],
            routes=summary["routes"],
            unassigned=summary["unassigned"],
            violations=check(problem, result),
            computing_ms=summary["computing_times"],
        )
    conn.send(row)
    conn.close()


def run(solver_name: str, n: int, seed: int, limit: float, first: bool = False) -> dict:
    """Run one solve in a fresh process; kill it at limit + GRACE_S after the instance is built."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, solver_name, n, seed, limit, first))
    process.start()
    sender.close()
    try:
        if not receiver.poll(600) or receiver.recv() != "ready":
            return {"error": "instance not built in 600 s"}
        if not receiver.poll(limit + GRACE_S):
            return {"error": f"killed after {limit + GRACE_S:g} s", "killed": True}
        return receiver.recv()
    except EOFError:
        process.join(5)
        return {"error": f"process died (exit code {process.exitcode})"}
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()


# --- Report ---------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()
    return f"{cpu}, {cores} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"


def _cell(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{'FAILED: ' + row['error'][:34]:>42}"
    bad = len(row["violations"])
    return (
        f"{row['cost']:>9,} {row['routes']:>3} {row['unassigned']:>5} "
        f"{row['peak_mb']:>6,.0f} {'ok' if not bad else f'{bad} ERR':>6} {row['seconds']:>5.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,1000,2000,4000")
    parser.add_argument("--limits", default="30,60")
    parser.add_argument("--compare", action="store_true", help="also run PyVRP and VROOM")
    parser.add_argument(
        "--rivals",
        default="pyvrp,vroom",
        help="with --compare: which of pyvrp,vroom (VROOM gives no plan at 4,000 stops here)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the raw rows to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    limits = [float(s) for s in args.limits.split(",") if s.strip()]
    rivals = [s for s in args.rivals.split(",") if s.strip()]
    unknown = set(rivals) - set(SOLVERS[1:])
    if unknown:
        parser.error(f"--rivals: unknown solver(s) {', '.join(sorted(unknown))}")
    solvers = (SOLVERS[0], *rivals) if args.compare else SOLVERS[:1]

    print(f"Postal office days, seed {args.seed}, limits {', '.join(f'{t:g}' for t in limits)} s")
    print(f"machine: {machine()}")
    print(
        f"one solve at a time, each in a fresh process; ours on {OURS_WORKERS} cores "
        f"(workers={OURS_WORKERS}), PyVRP best of {PEER_CORES} seeds at once, VROOM "
        f"{PEER_CORES} threads; cost = total travel time (s)"
    )
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    ok = True
    for n in sizes:
        print()
        print(f"N = {n}: {describe(office_day(n, args.seed))}")
        first = run("ortools", n, args.seed, max(limits), first=True)
        rows.append({"solver": "ortools-first", "n": n, "limit": max(limits), **first})
        if "error" in first:
            print(f"  ours, first plan: FAILED ({first['error']})")
        else:
            ms = first["computing_ms"]
            print(
                f"  ours, first plan after {(ms['loading'] + ms['solving']) / 1000:.2f} s "
                f"(loading and clustering {ms['loading'] / 1000:.2f} s + the clusters' first "
                f"solutions {ms['solving'] / 1000:.2f} s): cost {first['cost']:,}, "
                f"{first['unassigned']} unassigned, peak {first['peak_mb']:,.0f} MB (the process "
                f"with the instance built, before solving: {first['base_mb']:,.0f} MB)"
            )
        head = f"  {'limit':>5}"
        for s in solvers:
            head += f" | {s + ' cost':>13} {'rts':>3} {'unas':>5} {'MB':>6} {'check':>6} {'s':>5}"
        if args.compare:
            head += f" | {'ours vs best':>12}"
        print(head)
        print("  " + "-" * (len(head) - 2))
        for limit in limits:
            line = f"  {limit:>5g}"
            cells: dict[str, dict[str, Any]] = {}
            for s in solvers:
                cells[s] = run(s, n, args.seed, limit)
                rows.append({"solver": s, "n": n, "limit": limit, **cells[s]})
                line += f" | {_cell(cells[s])}"
            ours = cells["ortools"]
            if "error" in ours or ours["violations"]:
                ok = False
            if args.compare:
                # The best of the others among their complete, checked plans.
                others = [
                    c["cost"]
                    for s, c in cells.items()
                    if s != "ortools"
                    and "error" not in c
                    and not c["violations"]
                    and c["unassigned"] <= ours.get("unassigned", 0)
                ]
                if "error" in ours or not others:
                    line += f" | {'-':>12}"
                else:
                    line += f" | {100 * (ours['cost'] / min(others) - 1):>+11.1f}%"
            print(line, flush=True)
    print()
    print(
        "columns: cost = total travel time in s (lower is better), rts = routes used, unas = "
        "unassigned stops, MB = peak RSS of the solve's process (including the instance as "
        "Python lists, with the solver processes it starts), check = "
        "tests/support/vrp_checker.py, s = wall clock of the solve; every solver on "
        f"{OURS_WORKERS} cores; ours vs best "
        "compares with the better of PyVRP and VROOM among plans serving at least as many stops"
    )
    print(f"wall clock {time.perf_counter() - began:.0f} s; machine after: {machine()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

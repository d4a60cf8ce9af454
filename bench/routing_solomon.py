"""Solomon VRPTW type-1 benchmark: our OR-Tools solver's distance gap to the best known.

    .venv/bin/python bench/routing_solomon.py [--time-limit 10] [--instances C101,R101,...]
        [--workers 2] [--jobs 1] [--compare] [--set FIELD=VALUE ...]

Ours runs as the planner runs it (decompose.solve_large): PyVRP's search on both cores (two
seeds at once, --workers 2, the default) for decompose.PYVRP_SHARE of the limit, then OR-Tools
re-solves groups of its routes warm-started from them (decompose.SUBPROBLEM_CONFIG); --workers 1
is one core. With --set (an ablation of SearchConfig: FIELD=VALUE, VALUE read as JSON, else a
string), that configuration is the one OR-Tools searches with. --jobs instances are solved at a
time (default 1, so ours has both cores). Each plan is checked by tests/support/vrp_checker.py
and its distance re-evaluated at full precision; the gap is to the `distance_only` best known
(the objective is distance only, as in VROOM's format: no vehicle minimisation). --compare also
runs PyVRP (the better of two seeds run at once) and VROOM (pyvroom, two threads) on the same
instances with the same wall time and the same two cores (pyvroom: pip install .[bench]).

Targets (issue 17): mean gap <= 0.3 %, no family above 0.6 %. Measured with 6 instances (R101,
R105, RC101, RC105, R109, RC103), 10 s, load average 3-5 from other work: ours 1.14 %, PyVRP
1.11 %, VROOM 1.99 % (R109 and RC103 cannot go below 4.6 % and 0.95 %, see below); ours and PyVRP
within 0.02 % of each other on every instance but R109 (+0.2 %).

Before PyVRP's start (OR-Tools alone):

Measured on a quiet machine, one run after the other (29 instances, 10 s): one search on one core
0.00 / 1.43 / 2.33 / 1.23 % (RC103 6.17 %), the better of two searches at once (SAVINGS and
PARALLEL_CHEAPEST_INSERTION, one core each) 0.00 / 1.12 / 1.26 / 0.81 %, the single search
1.18 % in that same run: one search sits at the target's edge (RC103 swings between 2 % and 7 %),
two meet it.

Earlier (29 instances, 10 s, one search, --jobs 1, load average 2-4 from other work on the 2
cores; the same session, one run after the other), mean gap C1 / R1 / RC1 / all:
- default (SAVINGS, then OR-Tools' iterated local search: SISR ruin with c-bar 10, L_max 10,
  alpha 0.01, LOCAL_CHEAPEST_INSERTION recreate, a greedy descent per step, simulated annealing
  with automatic temperatures): 0.00 / 1.28 / 1.57 / 0.96 % (target met; worst RC104 3.69 %),
  and 0.00 / 1.26 / 1.77 / 1.01 % in a second run right after (load 3.9): at the target's edge;
- the same with use_multi_armed_bandit_concatenate_operators: 0.00 / 1.36 / 2.15 / 1.15 %;
- the previous default (SAVINGS + GLS for 25 % of the time, then our Python SISR ruin and
  recreate with a greedy descent per step, since removed): 0.33 / 2.14 / 3.57 / 1.97 %;
- earlier: ruin_share 0.5 2.06 %, GLS alone 2.61 %.
Screening on R102,R105,R107,R109,R111,RC101,RC103,RC105,RC107 (same session; previous default
2.96 %, the default 1.55 % and 1.45 % in two runs): OR-Tools' iterated local search with its
fixed temperatures (100 -> 0.01, tiny against costs of ~10^5) 2.31 %; LINEAR cooling 1.58 %;
c-bar 5 2.99 %, c-bar 15 2.14 %; all local-search operators on 3.20 %; PARALLEL_CHEAPEST_INSERTION
as recreate 2.84 % or as first solution 2.60 %; SISR and random walk (10 visits) one at random
2.17 %; the iterated local search for half the time, then our Python loop 2.14 %. On
R106,R107,R108,R109,R111,RC102,RC103,RC104,RC106: default 2.11 %, recreate in random order
(insertion_sorting_properties SORTING_PROPERTY_RANDOM) 2.51 %, multi-armed bandit 1.91 %.
The iterated local search under GLS never perturbs (GLS's own search takes all the time), and
RoutingModel.SolveWithParameters ignores use_iterated_local_search: only
SolveWithIteratedLocalSearch runs it. RC103 varies most between runs (2.2 % or 6-7 %).
Before (GLS): ruin and recreate in Python with a greedy descent per step 2.56-2.72 % against 3.82 %
for GLS alone; a short GLS per step 3.3-4.3 %; removing whole routes 2.95-3.96 %.
ls_operator_neighbors_ratio < 1 leaves OR-Tools 9.15 without a single accepted move on these
models (also on a textbook VRPTW model).
Two `distance_only` references are below the proven optima (R109 1101.37 < 1146.9, RC103
1249.86 < 1258.0): those two gaps cannot go below 4.6 % and 0.95 %.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.solomon import (  # noqa: E402
    DATA_DIR,
    PEER_CORES,
    best_of_seeds,
    gap,
    pyvrp_seed,
    read_bks,
    read_instance,
    route_distance,
    solve_with_vroom,
    to_vroom,
)

FAMILIES = ("C1", "R1", "RC1")
TARGET_MEAN, TARGET_FAMILY = 0.3, 0.6
SOLVERS = ("ortools", "pyvrp", "vroom")


def family(name: str) -> str:
    return next(f for f in sorted(FAMILIES, key=len, reverse=True) if name.startswith(f))


def type1_instances() -> list[str]:
    names = [p.stem for p in (DATA_DIR / "solomon").glob("*.txt")]
    return sorted(
        (n for n in names if n[:-2] in FAMILIES), key=lambda n: (FAMILIES.index(n[:-2]), n)
    )


def _plan_answer(problem: dict[str, Any], orders: list[list[int]]) -> dict[str, Any]:
    """A VROOM-shaped answer for routes given as job ids (vehicle k+1 takes orders[k]).

    Used for the other solvers' plans, so that the same independent checker judges them.
    """
    from routing.vrp.answers import build_answer
    from routing.vrp.parse import parse_problem

    parsed = parse_problem(problem)
    jobs = {job.id: job for job in parsed.jobs}
    routes = [
        (parsed.vehicles[k], [jobs[j] for j in order], {})
        for k, order in enumerate(o for o in orders if o)
    ]
    served = {j for order in orders for j in order}
    unassigned = [(job, "not served") for job in parsed.jobs if job.id not in served]
    return build_answer(parsed, parsed.matrices, routes, unassigned, 0, 0)


def _solve_ortools(
    problem: dict[str, Any], time_limit: float, overrides: dict, workers: int
) -> dict:
    """Ours as the planner runs it: a 100-customer problem is solved whole, with two workers
    by two searches at once (decompose.ALT_FIRST_SOLUTION), the better plan kept."""
    from routing.vrp.decompose import solve_large
    from routing.vrp.model import SearchConfig

    config = SearchConfig(**overrides) if overrides else None
    return solve_large(problem, time_limit, config=config, workers=workers)


def _solve_pyvrp(problem: dict[str, Any], time_limit: float, overrides: dict, _: int) -> dict:
    from pyvrp import Model

    durations = problem["matrices"]["car"]["durations"]
    vehicles, jobs = problem["vehicles"], problem["jobs"]
    model = Model()
    shift = vehicles[0]["time_window"]
    depot = model.add_depot(location=model.add_location(0, 0), tw_early=shift[0], tw_late=shift[1])
    model.add_vehicle_type(
        num_available=len(vehicles),
        capacity=vehicles[0]["capacity"],
        start_depot=depot,
        end_depot=depot,
        tw_early=shift[0],
        tw_late=shift[1],
    )
    for job in jobs:
        window = job["time_windows"][0]
        model.add_client(
            location=model.add_location(0, 0),
            delivery=job["delivery"],
            service_duration=job["service"],
            tw_early=window[0],
            tw_late=window[1],
        )
    locations = model.locations
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            # Distance = travel time (the durations matrix, x100 rounded up), as our objective.
            model.add_edge(frm, to, distance=durations[i][j], duration=durations[i][j])
    _, routes = best_of_seeds(functools.partial(pyvrp_seed, model.data()), time_limit)
    ids = [job["id"] for job in jobs]
    orders = [[ids[c] for c in route] for route in routes]
    return _plan_answer(problem, orders)


def _solve_vroom(problem: dict[str, Any], time_limit: float, overrides: dict, _: int) -> dict:
    solution = solve_with_vroom(problem, time_limit)
    frame = solution.routes
    orders = []
    for _, steps in frame.groupby("vehicle_id", sort=True):
        orders.append([int(i) for i in steps[steps["type"] == "job"]["id"]])
    return _plan_answer(problem, orders)


def run_one(task: tuple[str, str, float, dict, int]) -> dict[str, Any]:
    """Solve one instance with one solver (in its own process); check and score the plan."""
    solver_name, name, time_limit, overrides, workers = task
    from tests.support.vrp_checker import check

    instance = read_instance(DATA_DIR / "solomon" / f"{name}.txt")
    problem = to_vroom(instance)
    solve_fn = {
        "ortools": _solve_ortools,
        "pyvrp": _solve_pyvrp,
        "vroom": _solve_vroom,
    }
    began = time.perf_counter()
    try:
        result = solve_fn[solver_name](problem, time_limit, overrides, workers)
    except Exception as exc:  # a comparison solver that fails is reported, not fatal
        result = {"code": 1, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - began
    row: dict[str, Any] = {"solver": solver_name, "instance": name, "seconds": seconds}
    if result.get("code") != 0:
        return {**row, "error": result.get("error"), "feasible": False}
    errors = check(problem, result)
    unassigned = result["summary"]["unassigned"]
    return {
        **row,
        "feasible": not errors and not unassigned,
        "errors": errors[:3],
        "unassigned": unassigned,
        "vehicles": result["summary"]["routes"],
        "distance": route_distance(instance, result),
    }


def _fmt_gap(value: float | None) -> str:
    return "   -   " if value is None else f"{value + 0.0:6.2f}%".replace("-0.00", " 0.00")


def summarise(rows: list[dict], bks: dict[str, float], solver_name: str) -> dict[str, Any]:
    """Per family and overall mean gaps of one solver; an infeasible plan counts as missing."""
    gaps = {
        r["instance"]: gap(r["distance"], bks[r["instance"]])
        for r in rows
        if r["solver"] == solver_name and r.get("feasible")
    }
    per_family = {}
    for fam in FAMILIES:
        values = [g for name, g in gaps.items() if family(name) == fam]
        per_family[fam] = mean(values) if values else None
    overall = mean(gaps.values()) if gaps else None
    failed = sorted(r["instance"] for r in rows if r["solver"] == solver_name and not r["feasible"])
    return {"gaps": gaps, "families": per_family, "overall": overall, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--instances", default="", help="comma-separated names (default: all)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="instances solved at a time (default 1: ours uses 2 cores)",
    )
    parser.add_argument("--compare", action="store_true", help="also run PyVRP and VROOM")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="ours: 2 = two searches at once, one per core (as the planner runs); 1 = one search",
    )
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--json", type=Path, help="write the raw rows to this file")
    args = parser.parse_args(argv)

    from routing.vrp.model import SearchConfig

    known = {f.name for f in fields(SearchConfig)}
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in known:
            parser.error(f"--set: SearchConfig has no field {key!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    config = SearchConfig(**overrides)

    names = [n.strip() for n in args.instances.split(",") if n.strip()] or type1_instances()
    bks = read_bks(DATA_DIR / "solomon_bks.csv")
    solvers = list(SOLVERS if args.compare else SOLVERS[:1])
    tasks = [(s, n, args.time_limit, overrides, args.workers) for n in names for s in solvers]

    load_before = os.getloadavg()
    print(f"Solomon type-1, {len(names)} instances, {args.time_limit:g} s per solve; ours with")
    print(
        f"{args.workers} worker(s), PyVRP best of {PEER_CORES} seeds at once, VROOM "
        f"{PEER_CORES} threads; {args.jobs}"
    )
    print(
        f"solve(s) at a time on {os.cpu_count()} cores; load average before: {load_before[0]:.2f}"
    )
    if overrides:
        print(f"SearchConfig: {asdict(config)}")
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        rows = list(pool.map(run_one, tasks))
    elapsed = time.perf_counter() - began
    load_after = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))

    summaries = {s: summarise(rows, bks, s) for s in solvers}
    by_key = {(r["solver"], r["instance"]): r for r in rows}
    header = f"{'instance':9} {'BKS':>8}"
    for s in solvers:
        header += f" | {s + ' veh':>11} {'distance':>8} {'gap':>7} {'s':>5}"
    print()
    print(header)
    print("-" * len(header))
    for name in names:
        line = f"{name:9} {bks[name]:8.2f}"
        for s in solvers:
            r = by_key[(s, name)]
            if r.get("feasible"):
                line += (
                    f" | {r['vehicles']:11d} {r['distance']:8.2f}"
                    f" {_fmt_gap(summaries[s]['gaps'][name])} {r['seconds']:5.1f}"
                )
            else:
                why = r.get("error") or "; ".join(r.get("errors", [])) or "unassigned jobs"
                line += f" | INFEASIBLE ({why[:40]})"
        print(line)
    print()
    print(f"{'mean gap':12}" + "".join(f" {s:>9}" for s in solvers))
    for fam in (*FAMILIES, "all"):
        cells = []
        for s in solvers:
            value = summaries[s]["overall"] if fam == "all" else summaries[s]["families"][fam]
            cells.append(f"{_fmt_gap(value):>9}")
        print(f"{fam:12}" + " " + " ".join(cells))
    print(f"{'infeasible':12}" + "".join(f" {len(summaries[s]['failed']):>9}" for s in solvers))

    ours = summaries["ortools"]
    present = [v for v in ours["families"].values() if v is not None]
    met = (
        not ours["failed"]
        and ours["overall"] is not None
        and ours["overall"] <= TARGET_MEAN
        and all(v <= TARGET_FAMILY for v in present)
    )
    print()
    print(
        f"target (mean <= {TARGET_MEAN:.1f} %, no family above {TARGET_FAMILY:.1f} %, all "
        f"feasible): {'MET' if met else 'NOT MET'}"
    )
    print(
        f"wall clock {elapsed:.0f} s; load average after: {load_after[0]:.2f} "
        f"(1 min), {load_after[1]:.2f} (5 min)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

"""Route plans on one `plans` worker and on two, as on one machine and on two (issue 15, must show).

    .venv/bin/python bench/plans_scale.py [--plans 8] [--stops 1000] [--limit 30] [--concurrency 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep-logs]

Seeds a PostgreSQL database of its own (dropped at the end, a fresh copy for each run) with
--plans delivery offices, each with a next delivery day of --stops stops (the office day of
bench/alerts_under_load.py: 15 % welfare visits, 30 % of them with a 2-hour window, the rest
registered mail, 70 % of the stops clustered, ceil(stops / 60) carriers) and its dispatcher.
Each run queues one plan of every office at once (the planning service, one transaction: handed
to Celery together at its commit) at --limit seconds each, and waits until every plan is solved
and stored. The workers are Celery workers on a private redis-server, each `flask outbox run
--queue plans --concurrency 1` pinned to a core of its own with `taskset -c N`: they share
nothing but Redis and PostgreSQL, as two machines would. Prints both wall times (queued to the
last plan stored) and their ratio. Target: two workers' wall time <= 0.6 of one's.

One core per solve: routing.plans.worker.run_plan calls routing.vrp.decompose.solve_large without
`workers`, so each solve runs its sub-problems two solver processes at a time (its default,
workers=2) and no setting lowers that. The solver processes are forked from the worker's
forkserver, which inherits the worker's CPU affinity: pinned, each worker's two solver processes
share its one core. The bench checks and prints the affinity of every process under each worker.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.alerts_under_load import KEYS, Numbers, environment, seed_plan  # noqa: E402
from bench.deployment import (  # noqa: E402
    DEFAULT_SERVER,
    Databases,
    Fleet,
    RedisServer,
    command_line,
    cpu_window,
    machine,
    terminate_on_sigterm,
    wait_for,
)

TARGET_RATIO = 0.6
SUCCEEDED = re.compile(r"Task welfare\.run_message\[[^]]+\] succeeded in ([\d.]+)s")


def make_app(url: str, directory: Path, broker: str = "", prefix: str = "") -> Any:
    from app import create_app

    config = KEYS | {
        "SQLALCHEMY_DATABASE_URI": url,
        "JOBS_BROKER_URL": broker,
        "JOBS_QUEUE_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
    }
    return create_app(config, instance_path=str(directory / "instance"))


def seed(url: str, plans: int, stops: int, directory: Path) -> list[dict]:
    """Migrate, then `plans` offices with a day of `stops` stops each; their ids and days."""
    from flask_migrate import upgrade

    from core.db import db

    app = make_app(url, directory)
    numbers, offices = Numbers(), []
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        for _ in range(plans):
            offices.append(seed_plan(numbers, stops))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return offices


def queue_plans(app: Any, offices: list[dict], limit: int) -> list[int]:
    """One plan of every office, asked for in one transaction (queued together at its commit)."""
    from core.auth.models import Account
    from core.auth.roles import Role
    from core.auth.services import principal_for
    from core.db import db, transaction
    from routing.plans.start import NewPlan, start_plan

    with app.app_context():
        with transaction():
            ids = []
            for office in offices:
                dispatcher = db.session.scalar(
                    sa.select(Account).where(
                        Account.office_id == office["office_id"],
                        Account.role == Role.DISPATCHER.value,
                    )
                )
                new = NewPlan(day=date.fromisoformat(office["plan_day"]), time_limit_s=limit)
                plan = start_plan(principal_for(dispatcher), office["office_id"], new)
                ids.append(plan.id)
        db.session.remove()
    return ids


def plan_rows(app: Any, ids: list[int]) -> list[Any]:
    from core.db import db
    from routing.models import RoutePlan

    with app.app_context():
        try:
            return db.session.execute(
                sa.select(
                    RoutePlan.id,
                    RoutePlan.status,
                    RoutePlan.started_at,
                    RoutePlan.finished_at,
                    RoutePlan.summary,
                ).where(RoutePlan.id.in_(ids))
            ).all()
        finally:
            db.session.remove()


def affinities(fleet: Fleet) -> dict[str, set[str]]:
    """The CPU affinity lists of every process under each worker (the worker, its forkserver,
    the solver processes alive now)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    out = {}
    for name, process in fleet.processes.items():
        found, todo = set(), [process.pid]
        while todo:
            pid = todo.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            found.add(re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1))
            todo += [child for child, parent in parents.items() if parent == pid]
        out[name] = found
    return out


def run(workers: int, args, dbs, template: str, redis, directory: Path) -> dict:
    """Queue the plans, solve them on `workers` pinned workers; wall time and details."""
    name = f"{template.removesuffix('_seed')}_{workers}w"
    url = dbs.create(name, template=template)
    prefix = f"plans{os.getpid()}w{workers}-"
    broker = redis.url(3 + workers)
    logs = directory / "logs" / f"{workers}-workers"
    logs.mkdir(parents=True, exist_ok=True)
    config = KEYS | {"JOBS_BROKER_URL": broker, "JOBS_QUEUE_PREFIX": prefix}
    fleet = Fleet(logs, environment(config, url))
    app = make_app(url, directory, broker, prefix)
    cpu: dict[str, float] = {}
    seen: dict[str, set[str]] = {}
    try:
        for n in range(workers):
            fleet.worker("plans", True, "--concurrency", str(args.concurrency), cpu=str(n))
            fleet.processes[f"worker {n + 1} (core {n})"] = fleet.processes.pop("plans")

        def roots() -> dict[str, int]:
            return {name: process.pid for name, process in fleet.processes.items()}

        with cpu_window(roots, cpu):
            began_wall, began = time.time(), time.monotonic()
            ids = queue_plans(app, args.offices, args.limit)

            def all_done() -> bool:
                for key, value in affinities(fleet).items():
                    seen.setdefault(key, set()).update(value)
                return all(row.status in ("ready", "failed") for row in plan_rows(app, ids))

            wait_for(all_done, args.limit * len(ids) * 3 + 120, "every plan solved", 0.5)
            polled = time.monotonic() - began
        rows = plan_rows(app, ids)
        wall = max(row.finished_at.timestamp() for row in rows) - began_wall
        per_worker = {
            name: [float(s) for s in SUCCEEDED.findall(process.log.read_text(errors="replace"))]
            for name, process in fleet.processes.items()
        }
        return {
            "workers": workers,
            "wall": wall,
            "polled": polled,
            "rows": rows,
            "per_worker": per_worker,
            "cpu": cpu,
            "affinity": seen,
            "began": began_wall,
        }
    finally:
        fleet.stop_all()
        from core.db import db

        with app.app_context():
            db.engine.dispose()
        dbs.drop(name)


def report(result: dict) -> None:
    rows, began = result["rows"], result["began"]
    statuses = sorted({row.status for row in rows})
    solves = [(row.finished_at - row.started_at).total_seconds() for row in rows if row.started_at]
    waits = [row.started_at.timestamp() - began for row in rows if row.started_at]
    unassigned = [
        (row.summary or {}).get("unassigned", "?") for row in sorted(rows, key=lambda r: r.id)
    ]
    print(
        f"{result['workers']} worker(s): wall {result['wall']:.1f} s (queued to the last plan "
        f"stored); plans {', '.join(statuses)}; each solve {min(solves):.1f}-{max(solves):.1f} s "
        f"(claim to stored); waited for a worker up to {max(waits):.1f} s"
    )
    for name, times in result["per_worker"].items():
        print(
            f"  {name}: {len(times)} plan(s), task times {', '.join(f'{t:.1f}' for t in times)} s; "
            f"{result['cpu'].get(name, 0):.2f} cores used; affinity of its processes: "
            f"{', '.join(sorted(result['affinity'].get(name, set())))}"
        )
    print(
        f"  machine: {result['cpu'].get('machine busy', 0):.2f} of {os.cpu_count()} cores busy "
        f"(PostgreSQL {result['cpu'].get('postgres', 0):.2f}, other work on the machine "
        f"included); unassigned stops per plan: {unassigned}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=8)
    parser.add_argument("--stops", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=30, help="each plan's time limit, s")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="the workers' --concurrency (a heavy queue's Celery worker runs one job at a time; "
        "this sets how many it reserves)",
    )
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="a PostgreSQL server")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        parser.error("two workers on cores of their own need two cores")
    print(machine())
    print(command_line())
    print(
        f"{args.plans} office days of {args.stops} stops, each plan at {args.limit} s, queued at "
        f"once; Celery workers of the plans queue, --concurrency {args.concurrency}, one core "
        "each (taskset)",
        flush=True,
    )
    terminate_on_sigterm()
    directory = Path(tempfile.mkdtemp(prefix="bench_plans_"))
    dbs = Databases(args.database_url)
    template = f"bench_plans_{os.getpid()}_seed"
    results, failed = [], False
    try:
        with RedisServer(directory) as redis:
            url = dbs.create(template)
            began = time.monotonic()
            args.offices = seed(url, args.plans, args.stops, directory)
            print(f"seeded in {time.monotonic() - began:.0f} s", flush=True)
            for workers in (1, 2):
                results.append(run(workers, args, dbs, template, redis, directory))
                report(results[-1])
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process and dropping the databases", flush=True)
        failed = True
    except Exception:
        failed, args.keep_logs = True, True
        print(f"\nFAILED; the workers' logs are kept in {directory / 'logs'}", flush=True)
        raise
    finally:
        dbs.close()
        if args.keep_logs:
            print(f"logs: {directory / 'logs'}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    if len(results) == 2:
        one, two = results[0]["wall"], results[1]["wall"]
        ratio = two / one
        met = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"\nwall time: 1 worker {one:.1f} s, 2 workers {two:.1f} s; ratio {ratio:.2f} "
            f"(target <= {TARGET_RATIO}: {met})"
        )
        return 0 if ratio <= TARGET_RATIO and not failed else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())

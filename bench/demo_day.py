"""The demo day's plan, carrier by carrier: stops, departure, working time and its spread.

    .venv/bin/python bench/demo_day.py [--limit 30] [--database-url URL] [--fair-share-cost N]
    .venv/bin/python bench/demo_day.py --office-days 300 1000 [--seed 1] [--limit 30]

Runs `flask demo load` and `flask demo day` on a fresh database (a SQLite file of its own, or
--database-url: an empty database), plans the day as the demo office's
dispatcher does (routing.plans.start.start_plan, every carrier on shift, --limit seconds) and
runs the plans worker. Prints each carrier's stops, first departure, working time (travel,
service and waiting: the round less lunch) and travel, then the longest over the shortest
working day (target <= 1.5) and the plan's total travel. --fair-share-cost overrides
routing.postal_model.FAIR_SHARE_COST, to measure what fairness costs in travel.

--office-days solves bench/routing_postal.py's synthetic office days of those sizes twice
(decompose.solve_large, --limit seconds): as VROOM-format problems (travel alone) and with every
carrier's fair share (FAIR_SHARE_COST) and fixed departure, printing travel, idle carriers and
the longest over the shortest busy time (travel and service) of each.

Measured 2026-12-05 on the shared 2-core machine (other work running: noisy), 30 s. Demo day
before (travel alone): a carrier without a stop, rounds leaving 09:00-09:44, 33,392 s of travel;
with fair shares: 43-81 stops each, every round at 09:30, spread 1.22 (busy 1.47), 35,250 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5
DISPATCHER = "gaon.dispatch"


def plan_demo_day(app: Any, limit: int) -> dict[str, Any]:
    """Load the demo and its day through the CLI, plan the day, solve it; the plan as read."""
    import sqlalchemy as sa

    from core.auth.models import Account
    from core.auth.principal import Principal
    from core.auth.services import principal_for
    from core.clock import seoul_today
    from core.db import db, transaction
    from core.outbox import deliver_due
    from demo.world import OFFICE_CODE
    from postal.services import next_delivery_day, office_by_code
    from routing.plans.presentation import describe
    from routing.plans.start import NewPlan, start_plan

    runner = app.test_cli_runner()
    for args in (["demo", "load"], ["demo", "day"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise SystemExit(f"flask {' '.join(args)} failed: {result.output}")
    with app.app_context():
        office = office_by_code(OFFICE_CODE)
        day: date = next_delivery_day(office, seoul_today() + timedelta(days=1))
        account = db.session.scalar(sa.select(Account).where(Account.username == DISPATCHER))
        principal: Principal = principal_for(account)
        with transaction():
            plan_id = start_plan(principal, office.id, NewPlan(day=day, time_limit_s=limit)).id
        deliver_due()
        from routing.models import RoutePlan

        return describe(principal, db.session.get(RoutePlan, plan_id))


def report(plan: dict[str, Any]) -> float | None:
    """Print the plan carrier by carrier; return the longest over the shortest working day.

    Working time as the plan shows it (routing.plans.presentation.working_s: the round less
    lunch, waiting included); `busy` leaves the waiting out (travel and service only).
    """
    print(f"plan #{plan['id']} {plan['day']}: {plan['stops']} stops, {plan['unassigned']} left")
    print(f"{'carrier':<12} {'shift':<12} stops leaves   back  work h  busy h travel h")
    busy = []
    for route in plan["routes"]:
        busy.append(route["working_s"] - route["waiting_s"])
        print(
            f"{route['carrier_name'][:12]:<12} {route['shift']:<12} {len(route['stops']):>5} "
            f"{route['start'] or '-':>6} {route['end'] or '-':>6} {route['working_s'] / 3600:>7.2f}"
            f" {busy[-1] / 3600:>7.2f} {route['travel_s'] / 3600:>8.2f}"
        )
    working = plan["summary"]["working"]
    travel = sum(r["travel_s"] for r in plan["routes"])
    busy_ratio = round(max(busy) / min(busy), 2) if min(busy) > 0 else None
    print(
        f"longest / shortest working day: {working['spread']} (target <= {TARGET_RATIO}); "
        f"busy {busy_ratio}; travel {travel} s ({travel / 3600:.2f} h); "
        f"search {plan['summary'].get('stopped')}"
    )
    return working["spread"]


def office_days(sizes: list[int], seed: int, limit: int) -> None:
    """Travel alone against fair shares on synthetic office days: what fairness costs."""
    from bench.routing_postal import office_day
    from routing.postal_model import FAIR_SHARE_COST
    from routing.vrp.decompose import solve_large

    for n in sizes:
        problem = office_day(n, seed)
        fair = {
            **problem,
            "vehicles": [
                {**v, "balance_cost": FAIR_SHARE_COST, "fixed_start": True}
                for v in problem["vehicles"]
            ],
        }
        for name, variant in (("travel alone", problem), ("fair shares", fair)):
            answer = solve_large(variant, limit)
            busy = {r["vehicle"]: r["duration"] + _job_service(r) for r in answer["routes"]}
            idle = len(problem["vehicles"]) - len(busy)
            spread = max(busy.values()) / min(busy.values()) if not idle else None
            print(
                f"{n} stops, {name:<12}: travel {answer['summary']['duration']:>7} s, "
                f"{answer['summary']['unassigned']} unassigned, {idle} idle of "
                f"{len(problem['vehicles'])}, busy spread {spread and round(spread, 2)}"
            )


def _job_service(route: dict[str, Any]) -> int:
    return sum(s["service"] for s in route["steps"] if s["type"] == "job")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=30, help="the plan's time limit (s)")
    parser.add_argument("--database-url", default="", help="default: a SQLite file of its own")
    parser.add_argument("--fair-share-cost", type=int, default=None)
    parser.add_argument("--office-days", type=int, nargs="*", help="stops of synthetic days")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.office_days:
        office_days(args.office_days, args.seed, args.limit)
        return
    from cryptography.fernet import Fernet
    from flask_migrate import upgrade

    from app import create_app
    from routing import postal_model

    if args.fair_share_cost is not None:
        postal_model.FAIR_SHARE_COST = args.fair_share_cost
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite:///{directory}/demo.db"
        config = {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "demo-day-bench",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BLIND_INDEX_KEY": "demo-day-bench-blind-index",
            "LOG_LEVEL": "WARNING",
        }
        app = create_app(config, instance_path=f"{directory}/instance")
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
        ratio = report(plan_demo_day(app, args.limit))
    sys.exit(0 if ratio is not None and ratio <= TARGET_RATIO else 1)


if __name__ == "__main__":
    main()

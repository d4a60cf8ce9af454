"""An urgent visit into a published 300-stop day: from the dispatcher's request to the plan
showing it (issue 17, item 3). Target: <= 3 s.

    .venv/bin/python bench/urgent_insertion.py [--stops 300] [--carriers 6] [--visits 5]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/NAME]

Seeds a database of its own (a fresh SQLite file unless --database-url names an empty
PostgreSQL database) with tests/support/published_day.py's day: sectors of nearest-first
routes, one stop in ten a welfare visit, every fifth with a window, the morning delivered, the
clock at 11:00. Then --visits urgent visits are posted one after another through the API (the
app's WSGI interface in this process: no network, no web server) and each is timed from the
POST to the dispatcher's next read of the plan showing the visit on a route. The insertion
happens in the request, so no outbox worker is waited for.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_S = 3.0
NOW = clock_time(11, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=300)
    parser.add_argument("--carriers", type=int, default=6)
    parser.add_argument("--visits", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite:///{directory}/bench.db"
        timings = run(url, args.stops, args.carriers, args.visits)
    for k, (seconds, carrier, arrival, due) in enumerate(timings, 1):
        print(f"visit {k}: {seconds:.3f} s to visible, carrier {carrier}, at {arrival} (due {due})")
    worst = max(t[0] for t in timings)
    median = statistics.median(t[0] for t in timings)
    verdict = "met" if worst <= TARGET_S else "MISSED"
    print(f"{args.stops} stops: median {median:.3f} s, max {worst:.3f} s", end=" ")
    print(f"(target <= {TARGET_S} s: {verdict})")


def run(url: str, stops: int, carriers: int, visits: int) -> list[tuple[float, int, str, str]]:
    """Seed the day, then post the visits; (seconds, carrier, arrival, due) of each."""
    from flask_migrate import upgrade

    from app import create_app
    from core.auth.roles import Role
    from core.clock import SEOUL, seoul_today
    from core.db import db
    from municipalities.mail.services import next_working_day
    from routing.plans import days
    from tests.conftest import TEST_KEYS
    from tests.support.factories import make_district, make_due_item, make_tenant, square
    from tests.support.published_day import published_day

    config = {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", **TEST_KEYS}
    app = create_app(config)
    day = next_working_day(seoul_today() + timedelta(days=1))
    # The day under way at 11:00: planning reads the clock only in routing.plans.days.
    days.seoul_now = lambda: datetime.combine(day, NOW, tzinfo=SEOUL)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        tenant = make_tenant(126.95)
        plan = published_day(tenant, day, stops=stops, carriers=carriers)
        office = tenant.office
        district = make_district(office, square(office.depot_lon, office.depot_lat, 0.01))
        items = [
            make_due_item(
                tenant, (office.depot_lon + 0.002 * k, office.depot_lat + 0.003), day, district
            )
            for k in range(visits)
        ]
        db.session.commit()
        headers = tenant.headers(Role.DISPATCHER)
        client, url = app.test_client(), f"/api/v1/plans/{plan.id}"
        timings = []
        for item in items:
            version = client.get(url, headers=headers).json["version"]
            began = time.perf_counter()
            answer = client.post(
                f"{url}/urgent", json={"version": version, "item_id": item.id}, headers=headers
            )
            shown = client.get(url, headers=headers).json
            seconds = time.perf_counter() - began
            assert answer.status_code == 200, answer.json
            visit = next(
                (route["carrier_id"], stop)
                for route in shown["routes"]
                for stop in route["stops"]
                if stop["registered_number"] == item.registered_number
            )
            timings.append((seconds, visit[0], visit[1]["arrival"], visit[1]["due"]))
    return timings


if __name__ == "__main__":
    main()

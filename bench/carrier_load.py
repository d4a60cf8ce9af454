"""Carriers' phones against gunicorn and PostgreSQL on this machine (issue 5, must show).

    .venv/bin/python bench/carrier_load.py [--carriers 40] [--stops 150] [--rate 200]
        [--offline 0.3] [--workers N] [--threads N]
        [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]

Builds a fresh database (`welfare_load`, dropped afterwards), a published route of --stops items
(a quarter welfare visits with their survey, the rest plain registered mail) for each of
--carriers carriers, enrols each carrier's phone (device tokens, as the app does) and starts
gunicorn on loopback with the deployed settings (gunicorn.conf.py; --workers/--threads override
them). Then every carrier runs its round in its own thread: fetch the route (and once more with
If-None-Match), scan a third of its items, and post each visit as it goes; an --offline share of
the carriers instead keeps their visits and uploads them at the end in batches of 20, each batch
twice (a retry after a lost answer), dated two hours earlier (records arriving late). The phones
together reach --rate doors a second (each phone on its own schedule, staggered; a phone that
falls behind goes on at once and the worst lag is printed); --rate 0 sends without pause, which
measures the most the server can take (latency is then mostly queueing). Prints requests/s,
visit uploads/s, p50/p95/p99 latency per kind of request, errors (unexpected statuses), and from
the database afterwards: lost records (sent, never stored) and duplicates (stored twice, or a
replay answered differently). Target: >= 200 visit uploads/s, p95 <= 150 ms, 0 errors, 0 lost,
0 duplicates.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.surveys import INTERVIEW  # noqa: E402

DAY = date(2031, 3, 4)
DB_NAME = "welfare_load"
KEYS = {
    "WELFARE_SECRET_KEY": "load-test-secret",
    "WELFARE_ENCRYPTION_KEYS": "d2VsZmFyZS1wb3N0IGxvYWQga2V5OiAzMiBieXRlcyE=",
    "WELFARE_BLIND_INDEX_KEY": "load-test-blind-index",
}
BATCH = 20


@dataclass
class Reply:
    """An HTTP answer, read whole."""

    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class Phone:
    """One phone's keep-alive HTTP connection (http.client: a light client, so the server gets
    the cores; requests costs several times more CPU per call)."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.auth = {"Authorization": f"Bearer {token}"}

    def request(
        self, method: str, path: str, body: Any = None, headers: dict | None = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = self.auth | ({"Content-Type": "application/json"} if data else {}) | (headers or {})
        self.connection.request(method, f"/api/v1{path}", body=data, headers=sent)
        answer = self.connection.getresponse()
        text = answer.read().decode()
        return Reply(answer.status, {k: v for k, v in answer.getheaders()}, text)


@dataclass
class Stats:
    """What the phones saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    answers: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    uploads: int = 0
    lag: float = 0.0  # how far behind its schedule a phone fell at worst (paced runs)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_until(self, due: float) -> None:
        """Sleep until a stop's planned time; note it if the phone is already late."""
        late = time.perf_counter() - due
        if late < 0:
            time.sleep(-late)
        elif late > self.lag:
            with self.lock:
                self.lag = max(self.lag, late)

    def timed(self, kind: str, call, ok: tuple[int, ...] = (200, 201)) -> Reply:
        began = time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - began
        with self.lock:
            self.latencies[kind].append(elapsed)
            if response.status_code not in ok:
                self.errors.append(f"{kind}: {response.status_code} {response.text[:120]}")
        return response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database(admin_url: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.exec_driver_sql(f"CREATE DATABASE {DB_NAME}")
    engine.dispose()
    return sa.make_url(admin_url).set(database=DB_NAME).render_as_string(hide_password=False)


def _seed(url: str, carriers: int, stops: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """Migrate and build the routes; each carrier's token and its items (number, kind)."""
    os.environ.update(KEYS)
    from flask_migrate import upgrade

    from app import create_app
    from carrier_api.devices import enrol, issue_enrolment_code
    from core.auth.roles import Role
    from core.auth.services import principal_for
    from core.db import db
    from municipalities.mail.models import MailItem
    from municipalities.mail.registered_numbers import make_number
    from routing.models import OfficeItem
    from tests.support.factories import (
        Tenant,
        make_account,
        make_carrier,
        make_district,
        make_due_item,
        make_municipality,
        make_office,
        publish_routes,
        square,
    )

    # Long-lived access tokens: a long run must not stop to refresh them.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DEVICE_ACCESS_TOKEN_MINUTES": 240})
    out = []
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        tenant = Tenant(make_municipality(), make_office(depot_lon=127.0, depot_lat=37.5))
        district = make_district(tenant.office, square(126.99, 37.49, 0.02))
        dispatcher = principal_for(make_account(Role.DISPATCHER, office_id=tenant.office.id))
        serial, routes = 0, {}
        for _ in range(carriers):
            carrier = make_carrier(tenant.office, district)
            route = routes[carrier] = []
            for position in range(stops):
                serial += 1
                lon, lat = 127.0 + (serial % 97) * 1e-4, 37.5 + (serial % 89) * 1e-4
                if position % 4 == 0:
                    item = make_due_item(
                        tenant, (lon, lat), DAY, district, status="out_for_delivery"
                    )
                else:
                    item = OfficeItem(
                        office_id=tenant.office.id,
                        day=DAY,
                        registered_number=make_number(2031, serial, "6"),
                        addressee="수취인",
                        road_address="서울특별시 시험구 우정로 1",
                        lon=lon,
                        lat=lat,
                    )
                    db.session.add(item)
                    db.session.flush()
                route.append(item)
        publish_routes(tenant.office, DAY, routes, service_s=60)
        for carrier, route in routes.items():
            # Each phone enrols as the app does: a dispatcher's one-time code for device tokens.
            code, _ = issue_enrolment_code(dispatcher, carrier.id)
            kinds = [
                (item.registered_number, "welfare" if isinstance(item, MailItem) else "registered")
                for item in route
            ]
            out.append((enrol(code, "bench phone", "android").access_token, kinds))
        db.session.commit()
    return out


def _record(number: str, kind: str, recorded_at) -> dict:
    body = {
        "client_uuid": str(uuid.uuid4()),
        "registered_number": number,
        "outcome": "delivered",
        "recorded_at": recorded_at.isoformat(),
        "location": [127.0, 37.5],
        "accuracy_m": 9.0,
    }
    if kind == "welfare":
        body["survey"] = {"form": "wellbeing", "version": 1, "answers": INTERVIEW}
    return body


def _round(
    port: int, token: str, items: list, offline: bool, stats: Stats, schedule: tuple | None
) -> list[str]:
    """One carrier's day; returns the client_uuids it sent.

    schedule (start, step): the phone reaches its i-th door at start + i * step (paced runs).
    """
    from core.db import utcnow

    phone = Phone(port, token)
    route = stats.timed("route", lambda: phone.request("GET", f"/carrier/route?day={DAY}"))
    tag = route.headers.get("ETag", "")
    stats.timed(
        "route",
        lambda: phone.request("GET", f"/carrier/route?day={DAY}", headers={"If-None-Match": tag}),
        ok=(304,),
    )
    sent, kept = [], []
    for i, (number, kind) in enumerate(items):
        if schedule:
            stats.wait_until(schedule[0] + i * schedule[1])
        if i % 3 == 0:
            stats.timed(
                "scan", lambda n=number: phone.request("GET", f"/carrier/items/{n}?day={DAY}")
            )
        recorded = utcnow() - timedelta(hours=2) if offline else utcnow()
        record = _record(number, kind, recorded)
        sent.append(record["client_uuid"])
        if offline:
            kept.append(record)
            continue
        response = stats.timed(
            "visit",
            lambda r=record: phone.request(
                "POST", "/carrier/visits", r, {"Idempotency-Key": r["client_uuid"]}
            ),
        )
        with stats.lock:
            stats.uploads += 1
            stats.answers[record["client_uuid"]].append(response.json())
    for start in range(0, len(kept), BATCH):
        batch = kept[start : start + BATCH]
        for _ in range(2):  # the answer to the first upload "got lost": the phone sends again
            response = stats.timed(
                "batch",
                lambda b=batch: phone.request("POST", "/carrier/visits/batch", {"records": b}),
            )
            with stats.lock:
                stats.uploads += len(batch)
                for result in (response.json() or {}).get("results", []):
                    if result["status"] not in (200, 201):
                        stats.errors.append(f"batch record: {result['status']}")
                    stats.answers[result["client_uuid"]].append(result["body"])
    return sent


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carriers", type=int, default=40)
    parser.add_argument("--stops", type=int, default=150)
    parser.add_argument("--offline", type=float, default=0.3)
    parser.add_argument(
        "--rate",
        type=float,
        default=200,
        help="doors reached per second by all phones together (0: no pause between doors)",
    )
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    url = _database(args.database_url)
    print(f"seeding {args.carriers} carriers x {args.stops} stops in {DB_NAME} ...", flush=True)
    rounds = _seed(url, args.carriers, args.stops)
    port = _free_port()
    env = os.environ | KEYS | {"DATABASE_URL": url}
    deployed = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    workers = args.workers or deployed["workers"]
    worker_threads = args.threads or deployed["threads"]
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config", str(ROOT / "gunicorn.conf.py"),
            "--workers", str(workers),
            "--threads", str(worker_threads),
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(150):
            try:
                requests.get(f"{base}/openapi.json", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer")
        stats, sent = Stats(), []
        offline_every = round(1 / args.offline) if args.offline else 0
        threads = []
        began = time.perf_counter()
        step = len(rounds) / args.rate if args.rate else 0
        for k, (token, items) in enumerate(rounds):
            offline = bool(offline_every) and k % offline_every == 0
            # Phones start staggered, so that together they reach --rate doors a second.
            schedule = (began + 1 + k * step / len(rounds), step) if step else None
            thread = threading.Thread(
                target=lambda t=token, i=items, o=offline, s=schedule: sent.extend(
                    _round(port, t, i, o, stats, s)
                )
            )
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT client_uuid FROM visits")).scalars().all()
    engine.dispose()
    stored_set = set(stored)
    lost = len(set(sent) - stored_set)
    duplicates = (len(stored) - len(stored_set)) + sum(
        1 for bodies in stats.answers.values() if any(b != bodies[0] for b in bodies)
    )
    requests_total = sum(len(v) for v in stats.latencies.values())
    cores = os.cpu_count()
    print(f"\nmachine: {platform.machine()}, {cores} cores; gunicorn {workers}x{worker_threads}")
    print(f"carriers {args.carriers}, stops each {args.stops}, offline share {args.offline}")
    if args.rate:
        print(f"paced: {args.rate:g} doors/s offered; worst lag behind schedule {stats.lag:.2f} s")
    print(f"wall {wall:.1f} s; requests {requests_total} ({requests_total / wall:.0f}/s)")
    print(
        f"visit uploads {stats.uploads} ({stats.uploads / wall:.0f}/s, records incl. batch resends)"
    )
    print(f"{'kind':<6} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, values in sorted(stats.latencies.items()):
        print(
            f"{kind:<6} {len(values):>6} {_percentile(values, 0.5):>8.1f} "
            f"{_percentile(values, 0.95):>8.1f} {_percentile(values, 0.99):>8.1f}"
        )
    print(f"errors {len(stats.errors)}; lost {lost}; duplicates {duplicates}; stored {len(stored)}")
    for error in stats.errors[:5]:
        print("  ", error)
    admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin.dispose()
    return 0 if not stats.errors and not lost and not duplicates else 1


if __name__ == "__main__":
    sys.exit(main())

"""Emergency alerts while the heavy jobs run, both ways the queues run (issue 15, must show).

    .venv/bin/python bench/alerts_under_load.py [--quick] [--modes embedded,celery]
        [--plan-limit 120] [--visits 50] [--interval 0.5] [--nice 0]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep-logs]

Seeds one PostgreSQL database (a copy of it per mode, all dropped at the end) with: a delivery
office day of 4,000 stops (15 % welfare visits, 30 % of those with a 2-hour window, the rest
registered mail, ceil(stops / 60) carriers); a letter batch of 20,000 letters of generated
households; a 100,000-row household CSV for an import; and a municipality whose on-duty social
worker has a work e-mail and a phone registered for pushes, whose own system is a webhook
endpoint, with a carrier carrying 3 x 50 welfare items out for delivery today and 40 more carriers
with 100 items each (the storm's phones).

Per mode it starts, each as a process of its own with the same environment: the app under
gunicorn (gunicorn.conf.py), the scheduler, and one `flask outbox run --queue Q` worker for each
queue: local workers polling the outbox (embedded) or Celery workers on a private redis-server
(celery). Then it starts the three heavy jobs the API's way (the dispatcher's plan at
--plan-limit seconds, the import's upload; the letter batch is queued as submitting a mailing
does) and, once all three run, measures three phases of --visits emergency visits, each uploaded
over real HTTP --interval seconds apart: the time from sending the upload until the alert
arrives at a local fake FCM server (pyfcm's real client, tests/support/fakes/fcm.py), at the
municipality's webhook receiver (tests/support/fakes/receiver.py) and at a local SMTP server
(tests/support/fakes/smtp.py), all three in this process:

1. under load: the heavy jobs running;
2. storm: while 40 phones replay their offline day (batches of 20 visits, each batch sent twice,
   no pause), which queues thousands of tracking webhooks on `notices` (the visits start once
   1,000 wait there, or after 20 s of storm if the notices worker keeps up);
3. killed: the receiver holds its answer to one alert webhook and the alerts worker is SIGKILLed
   during that delivery, then started again 2 s later (as a supervisor would). The webhook comes
   again after the claim's lease with the same X-Welfare-Event-Id (the receiver counts an id once;
   the table shows first arrivals), and so do a push (message_id) or an e-mail (Message-ID) caught
   in flight.

The phases follow one another in one deployment per mode, so the heavy jobs started before phase
1 run on into the later phases until they finish; the report says what they were doing.

Targets: p95 <= 2 s and max <= 5 s in phases 1 and 2, max <= 30 s in phase 3, in both modes. After
the table: the upload's own time, where the CPU went in each phase (cores used per process, the
machine's total including any other work on it), and what the heavy jobs were doing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.deployment import (  # noqa: E402
    DEFAULT_SERVER,
    Databases,
    Fleet,
    RedisServer,
    command_line,
    cpu_window,
    free_port,
    machine,
    terminate_on_sigterm,
    wait_for,
    worker_ready,
)
from bench.surveys import EMERGENCY, INTERVIEW  # noqa: E402

#: The same secrets for every process (a fresh encryption key per run).
KEYS = {
    "SECRET_KEY": "alerts-under-load-secret",
    "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": "alerts-under-load-blind-index",
}
QUEUES = ("alerts", "notices", "plans", "letters", "imports", "maintenance")
HEAVY = ("plans", "letters", "imports", "maintenance")
SEED = 2026
LETTER = """{addressee} 님께

안녕하십니까? {municipality} 복지정책과입니다. 요즘 어떻게 지내시는지 안부를 여쭙고, \
어려운 일이 있으시면 함께 해결 방법을 찾아 드리고자 이 복지등기 우편을 보내 드립니다. \
이 우편은 집배원이 댁으로 직접 전해 드리며, 전해 드리는 자리에서 간단히 안부를 여쭐 수 \
있습니다.

생활비, 병원비, 집세, 공과금 때문에 걱정이 있으시거나 몸이 불편해 혼자 지내시기 어려우시면 아래 \
지원을 받으실 수 있는지 함께 알아보겠습니다. 신청하지 않으셔도 불이익은 전혀 없습니다.

받으실 수 있는 지원
- 기초생활보장: 생계급여, 의료급여, 주거급여, 교육급여
- 긴급복지지원: 갑작스러운 위기에 생계비·의료비·주거비 지원
{programmes}

찾아뵙고 상담하기를 원하시면 {address} 댁으로 담당 사회복지사가 방문하겠습니다. 평일 오전 9시부터 \
오후 6시까지 {contact}(으)로 전화 주십시오."""
HOUSEHOLD_ID = re.compile(r"가구 번호: (\d+)")
BATCH = 20  # a phone's offline records per batch upload
STOPS_PER_CARRIER = 60
KILL_AT = 10  # the alert webhook of phase 3 during which the alerts worker is killed
HOLD_S = 3.0  # how long the receiver holds that answer (the worker is dead well before)
RESTART_AFTER_S = 2.0
STORM_LEAD_S = 20  # the visits start after this much storm at most


@dataclass(frozen=True)
class Scale:
    stops: int
    letters: int
    rows: int
    phones: int
    storm_visits: int  # per phone
    plan_limit: int


FULL = Scale(stops=4000, letters=20_000, rows=100_000, phones=40, storm_visits=100, plan_limit=120)
QUICK = Scale(stops=300, letters=400, rows=5_000, phones=8, storm_visits=20, plan_limit=20)


# --- the fake servers' arrivals ------------------------------------------------------------------


class Arrivals(list):
    """What a fake server received, each with its arrival time (monotonic, wall); `hold`, when
    set, runs on the server's thread before it answers (it may sleep: the sender waits)."""

    hold: Any = None

    def append(self, item: Any) -> None:
        super().append((time.monotonic(), time.time(), item))
        if self.hold is not None:
            self.hold(item)


@dataclass(frozen=True)
class Hit:
    """One arrival of an alert: which household it is about and the id a receiver dedups by."""

    at: float
    wall: float
    household: int
    stable_id: str


def fcm_hits(arrivals: list) -> list[Hit]:
    out = []
    for at, wall, message in list(arrivals):
        data = message.get("data", {})
        if data.get("event") == "check_alert":
            out.append(Hit(at, wall, int(data["household_id"]), data["message_id"]))
    return out


def webhook_alert(received: Any) -> dict | None:
    body = json.loads(received.body)
    return body if body.get("type") == "check_report.alert" else None


def webhook_hits(arrivals: list) -> list[Hit]:
    out = []
    for at, wall, received in list(arrivals):
        body = webhook_alert(received)
        if body is not None:
            event_id = received.headers.get("X-Welfare-Event-Id")
            assert event_id == body["id"], "the header and the body name different events"
            out.append(Hit(at, wall, int(body["data"]["household_id"]), event_id))
    return out


def smtp_hits(arrivals: list) -> list[Hit]:
    out = []
    for at, wall, received in list(arrivals):
        found = HOUSEHOLD_ID.search(received.message.get_content())
        if found:
            out.append(Hit(at, wall, int(found.group(1)), str(received.message["Message-ID"])))
    return out


class Sink:
    """A fake server's arrivals read as alert hits, each arrival parsed once."""

    def __init__(self, arrivals: Arrivals, extract: Any) -> None:
        self.arrivals, self.extract = arrivals, extract
        self.read, self.hits = 0, []
        self.lock = threading.Lock()

    def update(self) -> list[Hit]:
        with self.lock:
            end = len(self.arrivals)
            self.hits += self.extract(self.arrivals[self.read : end])
            self.read = end
            return list(self.hits)


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the phases need from the seeded database (ids and tokens stay valid in its copies)."""

    town_id: int
    carrier_token: str
    emergency: list[tuple[str, int, float, float]]  # number, household id, lon, lat
    phones: list[tuple[str, list[tuple[str, float, float]]]]  # token, [(number, lon, lat)]
    office_id: int
    dispatcher_token: str
    plan_day: str
    batch_id: int
    importer_token: str
    import_file: str


class Numbers:
    """Registered numbers nobody else in the database has."""

    def __init__(self) -> None:
        self.serial = 700_000

    def next(self, service: str = "7") -> str:
        from municipalities.mail.registered_numbers import make_number

        self.serial += 1
        return make_number(2026, self.serial, service)


def office_points(n: int, centre: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """n stops in a 6 x 6 km district, 70 % clustered around apartment blocks (as
    bench/routing_postal.py's office day)."""
    km_lon, km_lat = 111.320 * math.cos(math.radians(centre[1])), 110.574
    clustered = round(0.7 * n)
    blocks = rng.uniform(-2.7, 2.7, size=(max(3, clustered // 40), 2))
    near = blocks[rng.integers(0, len(blocks), size=clustered)]
    xy = np.vstack(
        [near + rng.normal(0, 0.12, (clustered, 2)), rng.uniform(-3, 3, (n - clustered, 2))]
    )
    xy = np.clip(xy, -3, 3)[rng.permutation(n)]
    return np.column_stack([centre[0] + xy[:, 0] / km_lon, centre[1] + xy[:, 1] / km_lat]).round(6)


def add_households(municipality_id, office_id, district_id, people, **extra) -> list[int]:
    """Insert households (dicts of name, road_address, lon, lat, ...) in one executemany."""
    from core.crypto import blind_index
    from core.db import db
    from municipalities.models import Household

    table = Household.__table__
    rows = [
        {
            "municipality_id": municipality_id,
            "name": p["name"],
            "name_index": blind_index(p["name"]),
            "dedup_key": f"bench-{uuid.uuid4().hex}",
            "road_address": p["road_address"],
            "address_detail": p.get("address_detail"),
            "postal_code": p.get("postal_code"),
            "household_type": p.get("household_type", "single_elderly"),
            "risk_sources": [],
            "preferred_hours": p.get("hours", []),
            "lon": p["lon"],
            "lat": p["lat"],
            "geocode_status": "given",
            "office_id": office_id,
            "district_id": district_id,
            "assignment_status": "assigned",
            "status": "active",
            "version": 1,
            **extra,
        }
        for p in people
    ]
    insert = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.scalars(insert, rows))


def add_items(households, mailing_id, municipality_id, office_id, district_id, numbers, **values):
    """One welfare item per household, with the tracking history that leads to its status."""
    from core.db import db
    from municipalities.mail.models import MailItem, TrackingEvent

    table = MailItem.__table__
    rows = [
        {
            "registered_number": numbers.next(),
            "mailing_id": mailing_id,
            "municipality_id": municipality_id,
            "household_id": household_id,
            "office_id": office_id,
            "district_id": district_id,
            **values,
        }
        for household_id in households
    ]
    insert = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = list(db.session.scalars(insert, rows))
    history = {
        "accepted": ["accepted"],
        "at_office": ["accepted", "produced", "handed_to_office"],
        "out_for_delivery": ["accepted", "produced", "handed_to_office", "out_for_delivery"],
    }[values["status"]]
    events = [{"item_id": i, "code": code} for i in ids for code in history]
    db.session.execute(sa.insert(TrackingEvent.__table__), events)
    return ids


def new_mailing(municipality_id: int, send_date: date, *, status: str = "submitted"):
    from core.db import db
    from municipalities.mail.models import LetterTemplate, Mailing

    template = LetterTemplate(
        municipality_id=municipality_id,
        name="안부 안내",
        body=LETTER,
        contact="02-2100-1234",
        programmes="- 노인맞춤돌봄서비스: 안부 확인, 가사·외출 지원",
    )
    db.session.add(template)
    db.session.flush()
    mailing = Mailing(
        municipality_id=municipality_id,
        title="복지서비스 안내",
        template_id=template.id,
        selection={},
        send_date=send_date,
        status=status,
        body_snapshot=LETTER,
    )
    db.session.add(mailing)
    db.session.flush()
    return mailing


def seed_alerts(numbers: Numbers, receiver_url: str, visits: int, scale: Scale) -> dict:
    """The alerted municipality: duty social worker (e-mail, phone), webhook endpoint, the
    emergency carrier's items and the storm's phones, all out for delivery today."""
    from carrier_api.models import Device
    from core.auth.models import Account
    from core.auth.roles import Role
    from core.auth.services import issue_token
    from core.clock import seoul_today
    from core.db import db
    from municipalities.mail.models import MailItem, WebhookEndpoint
    from municipalities.models import Household
    from tests.support.factories import (
        make_account,
        make_carrier,
        make_district,
        make_municipality,
        make_office,
        publish_routes,
        square,
    )

    town = make_municipality()
    office = make_office(depot_lon=126.97, depot_lat=37.51)
    district = make_district(office, square(126.95, 37.49, 0.04))
    duty = make_account(
        Role.SOCIAL_WORKER, municipality_id=town.id, email="duty@welfare.bench.example"
    )
    db.session.add(Device(account_id=duty.id, label="당직 휴대폰", fcm_token="bench-duty-phone"))  # noqa: S106
    db.session.add(WebhookEndpoint(municipality_id=town.id, url=receiver_url, secret="b" * 24))
    today = seoul_today()
    mailing = new_mailing(town.id, today)
    rng = np.random.default_rng(SEED)

    def carrier_with(count: int):
        carrier = make_carrier(office, district)
        points = rng.uniform((126.951, 37.491), (126.989, 37.529), size=(count, 2)).round(6)
        people = [
            {"name": f"안부{numbers.serial + i}", "road_address": f"서울특별시 시험구 희망로 {i}"}
            | {"lon": lon, "lat": lat}
            for i, (lon, lat) in enumerate(points.tolist())
        ]
        households = add_households(town.id, office.id, district.id, people)
        ids = add_items(
            households, mailing.id, town.id, office.id, district.id, numbers,
            status="out_for_delivery", due_on=today,
        )  # fmt: skip
        items = db.session.scalars(sa.select(MailItem).where(MailItem.id.in_(ids))).all()
        db.session.scalars(sa.select(Household).where(Household.id.in_(households))).all()
        items = sorted(items, key=lambda item: item.id)
        publish_routes(office, today, {carrier: items})
        token = issue_token(db.session.get(Account, carrier.account_id))
        return token, [
            (item.registered_number, item.household_id, lon, lat)
            for item, (lon, lat) in zip(items, points.tolist(), strict=True)
        ]

    carrier_token, emergency = carrier_with(3 * visits)
    phones = []
    for _ in range(scale.phones):
        token, items = carrier_with(scale.storm_visits)
        phones.append((token, [(number, lon, lat) for number, _, lon, lat in items]))
    return {"town_id": town.id, "carrier_token": carrier_token, "emergency": emergency} | {
        "phones": phones
    }


def seed_plan(numbers: Numbers, stops: int) -> dict:
    """An office's next delivery day with `stops` stops and its carriers, and its dispatcher."""
    from core.auth.roles import Role
    from core.auth.services import issue_token
    from core.clock import seoul_today
    from core.db import db
    from postal.services import next_delivery_day
    from routing.models import OfficeItem
    from tests.support.factories import (
        make_account,
        make_carrier,
        make_district,
        make_municipality,
        make_office,
        square,
    )

    centre = (127.02, 37.52)
    town = make_municipality()
    office = make_office(depot_lon=centre[0], depot_lat=centre[1])
    district = make_district(office, square(126.98, 37.49, 0.08))
    day = next_delivery_day(office, seoul_today() + timedelta(days=1))
    for _ in range(math.ceil(stops / STOPS_PER_CARRIER)):
        make_carrier(office)
    dispatcher = make_account(Role.DISPATCHER, office_id=office.id)
    rng = np.random.default_rng([SEED, stops])
    points = office_points(stops, centre, rng).tolist()
    welfare = round(0.15 * stops)
    people = [
        {
            "name": f"계획{i}",
            "road_address": f"서울특별시 시험구 누리로 {i}",
            "lon": lon,
            "lat": lat,
        }
        | ({"hours": [["10:00", "12:00"]]} if i % 10 < 3 else {})
        for i, (lon, lat) in enumerate(points[:welfare])
    ]
    mailing = new_mailing(town.id, day)
    households = add_households(town.id, office.id, district.id, people)
    add_items(
        households, mailing.id, town.id, office.id, district.id, numbers,
        status="at_office", due_on=day,
    )  # fmt: skip
    db.session.execute(
        sa.insert(OfficeItem.__table__),
        [
            {
                "office_id": office.id,
                "day": day,
                "registered_number": numbers.next("6"),
                "addressee": "수취인",
                "road_address": f"서울특별시 시험구 우정로 {i}",
                "lon": lon,
                "lat": lat,
                "windows": [],
                "status": "due",
            }
            for i, (lon, lat) in enumerate(points[welfare:])
        ],
    )
    token = issue_token(dispatcher)
    return {"office_id": office.id, "dispatcher_token": token, "plan_day": day.isoformat()}


def seed_letters(numbers: Numbers, letters: int) -> dict:
    """A submitted mailing's letter batch of `letters` generated households, not yet rendered."""
    from core.clock import seoul_today
    from core.db import db
    from demo.world import generate_households
    from municipalities.mail.models import LetterBatch
    from tests.support.factories import make_district, make_municipality, make_office, square

    town = make_municipality()
    office = make_office()
    district = make_district(office, square(127.0, 37.5, 0.02))
    mailing = new_mailing(town.id, seoul_today())
    batch = LetterBatch(mailing_id=mailing.id, office_id=office.id, item_count=letters)
    db.session.add(batch)
    db.session.flush()
    people = [
        {
            "name": h.name,
            "road_address": h.road_address,
            "address_detail": h.address_detail,
            "postal_code": h.postal_code,
            "household_type": h.household_type,
            "lon": h.lon,
            "lat": h.lat,
        }
        for h in generate_households(letters, SEED)
    ]
    for start in range(0, letters, 5000):
        households = add_households(town.id, office.id, district.id, people[start : start + 5000])
        add_items(
            households, mailing.id, town.id, office.id, district.id, numbers,
            status="accepted", batch_id=batch.id,
        )  # fmt: skip
    mailing.item_count = letters
    return {"batch_id": batch.id}


def seed_importer(rows: int, directory: Path) -> dict:
    """A municipality's social worker and the household file they will import."""
    from bench.import_households import write_file
    from core.auth.roles import Role
    from core.auth.services import issue_token
    from tests.support.factories import make_account, make_municipality

    town = make_municipality()
    account = make_account(Role.SOCIAL_WORKER, municipality_id=town.id)
    path = directory / "households.csv"
    write_file(path, rows, "csv")
    return {"importer_token": issue_token(account), "import_file": str(path)}


def seed(app: Any, scale: Scale, visits: int, receiver_url: str, directory: Path) -> Seeded:
    from flask_migrate import upgrade

    from core.db import db

    numbers = Numbers()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        values = seed_alerts(numbers, receiver_url, visits, scale)
        values |= seed_plan(numbers, scale.stops)
        values |= seed_letters(numbers, scale.letters)
        values |= seed_importer(scale.rows, directory)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return Seeded(**values)


# --- the deployment ------------------------------------------------------------------------------


def settings(args, directory: Path, redis: RedisServer, celery: bool) -> dict:
    """The WELFARE_* settings every process of a mode gets (the bench's own app too)."""
    fcm, smtp = args.fcm, args.smtp
    return {
        **KEYS,
        "FCM_SERVICE_ACCOUNT_FILE": str(fcm.write_service_account(directory)),
        "FCM_ENDPOINT": fcm.endpoint,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": "복지등기 알림 <alerts@welfare.bench.example>",
        "PUBLIC_URL": "http://127.0.0.1",
        "WEBHOOK_ALLOW_HTTP_LOOPBACK": True,
        "RATELIMIT_STORAGE_URI": redis.url(1),
        "LETTERS_DIR": str(directory / "letters"),
        "ROUTING_PLAN_TIME_LIMIT_MAX_S": max(240, args.plan_limit),
        "JOBS_BROKER_URL": redis.url(2) if celery else "",
        "JOBS_QUEUE_PREFIX": f"bench{os.getpid()}-",
    }


def environment(config: dict, url: str) -> dict[str, str]:
    def text(value: Any) -> str:
        return json.dumps(value) if isinstance(value, bool) else str(value)

    env = {k: v for k, v in os.environ.items() if not k.startswith("WELFARE_")}
    return env | {f"WELFARE_{k}": text(v) for k, v in config.items()} | {"DATABASE_URL": url}


def bench_app(config: dict, url: str, directory: Path):
    """The bench's own app on the mode's database (reads, and queues the letter batch)."""
    from app import create_app

    overrides = config | {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"}
    return create_app(overrides, instance_path=str(directory / "instance"))


def start_web(fleet: Fleet) -> str:
    port = free_port()
    web = fleet.start(
        "web",
        [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")]
        + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if web.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {web.log.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(f"{base}/api/v1/openapi.json", timeout=5).ok
        except requests.RequestException:
            return False

    wait_for(answers, 60, "gunicorn answers")
    return base


def start_heavy_jobs(base: str, app: Any, seeded: Seeded, plan_limit: int) -> dict[str, int]:
    """The plan and the import as the API starts them; the letter batch queued as submitting
    its mailing does. Their ids."""
    from core.db import db, transaction
    from core.outbox import enqueue
    from municipalities.mail.services import PRODUCE_KIND

    plan = requests.post(
        f"{base}/api/v1/offices/{seeded.office_id}/plans",
        json={"day": seeded.plan_day, "time_limit_s": plan_limit},
        headers={"Authorization": f"Bearer {seeded.dispatcher_token}"},
        timeout=120,
    )
    assert plan.status_code == 202, plan.text
    with app.app_context():
        with transaction():
            enqueue(PRODUCE_KIND, {"batch_id": seeded.batch_id})
        db.session.remove()
    with open(seeded.import_file, "rb") as file:
        job = requests.post(
            f"{base}/api/v1/households/imports?dry_run=false",
            files={"file": ("households.csv", file, "text/csv")},
            headers={"Authorization": f"Bearer {seeded.importer_token}"},
            timeout=120,
        )
    assert job.status_code == 202, job.text
    return {"plan": plan.json()["id"], "job": job.json()["id"], "batch": seeded.batch_id}


def heavy_state(app: Any, ids: dict[str, int]) -> dict[str, str]:
    """What the heavy jobs are doing now."""
    from core.db import db
    from core.jobs import Job
    from municipalities.mail.models import LetterBatch
    from routing.models import RoutePlan

    with app.app_context():
        try:
            plan = db.session.get(RoutePlan, ids["plan"])
            job = db.session.get(Job, ids["job"])
            batch = db.session.get(LetterBatch, ids["batch"])
            progress = f" {job.phase} {job.done_count}/{job.total_count}" if job.phase else ""
            return {
                "plan": plan.status + (f" ({plan.error})" if plan.error else ""),
                "import": job.status + (progress if job.status == "running" else ""),
                "letters": batch.status,
            }
        finally:
            db.session.remove()


def heavy_finished(app: Any, ids: dict[str, int]) -> dict[str, float | None]:
    """When each heavy job committed its result (wall time), if it has."""
    from core.db import db
    from core.jobs import Job
    from municipalities.mail.models import LetterBatch
    from routing.models import RoutePlan

    with app.app_context():
        try:
            times = {
                "plan": db.session.get(RoutePlan, ids["plan"]).finished_at,
                "import": db.session.get(Job, ids["job"]).finished_at,
                "letters": db.session.get(LetterBatch, ids["batch"]).produced_at,
            }
            return {name: at.timestamp() if at else None for name, at in times.items()}
        finally:
            db.session.remove()


def running(state: dict[str, str]) -> bool:
    return (
        state["plan"] == "solving"
        and state["import"].startswith("running")
        and state["letters"] == "producing"
    )


def pending(app: Any, queue: str) -> int:
    from core.db import db
    from core.outbox import OutboxMessage

    with app.app_context():
        try:
            return db.session.scalar(
                sa.select(sa.func.count()).where(
                    OutboxMessage.status == "pending", OutboxMessage.queue == queue
                )
            )
        finally:
            db.session.remove()


def queued_on(app: Any, queue: str) -> int:
    """Messages ever queued on a queue."""
    from core.db import db
    from core.outbox import OutboxMessage

    with app.app_context():
        try:
            return db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.queue == queue))
        finally:
            db.session.remove()


ACTIVE = sa.text(
    "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM pg_stat_activity "
    "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
)


class Backlog:
    """Samples a queue's pending messages every half second while in use (`now`, `most`), and
    what the database's active sessions wait on (`waits`: samples per wait event)."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app, self.queue = app, queue
        self.now = self.most = 0
        self.waits: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        from core.db import db

        while not self.stop.is_set():
            self.now = pending(self.app, self.queue)
            self.most = max(self.most, self.now)
            with self.app.app_context():
                try:
                    for (event,) in db.session.execute(ACTIVE):
                        self.waits[event] = self.waits.get(event, 0) + 1
                finally:
                    db.session.remove()
            self.stop.wait(0.5)

    def top_waits(self, n: int = 5) -> str:
        ranked = sorted(self.waits.items(), key=lambda kv: -kv[1])[:n]
        return ", ".join(f"{event} {count}" for event, count in ranked) or "none"

    def __enter__(self) -> Backlog:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def queued_at(app: Any, households: set[int]) -> dict[int, float]:
    """When each household's alert webhook entered the outbox (the upload's commit), wall time."""
    from core.db import db
    from core.outbox import OutboxMessage

    with app.app_context():
        try:
            rows = db.session.execute(
                sa.select(OutboxMessage.payload, OutboxMessage.created_at).where(
                    OutboxMessage.kind == "webhook", OutboxMessage.queue == "alerts"
                )
            )
            out = {}
            for payload, created in rows:
                household = payload.get("data", {}).get("household_id")
                if household in households:
                    out[household] = created.timestamp()
            return out
        finally:
            db.session.remove()


# --- phones --------------------------------------------------------------------------------------


class Phone:
    """A carrier phone's keep-alive connection to the web server."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: Any, headers: dict | None = None) -> tuple[int, bytes]:
        self.connection.request(
            "POST", f"/api/v1{path}", body=json.dumps(body), headers=self.auth | (headers or {})
        )
        answer = self.connection.getresponse()
        return answer.status, answer.read()


def record(number: str, lon: float, lat: float, *, emergency: bool) -> dict:
    from core.db import utcnow

    answers, outcome = (EMERGENCY, "absent") if emergency else (INTERVIEW, "delivered")
    return {
        "client_uuid": str(uuid.uuid4()),
        "registered_number": number,
        "outcome": outcome,
        "recorded_at": utcnow().isoformat(),
        "location": [lon, lat],
        "accuracy_m": 8.0,
        "survey": {"form": "wellbeing", "version": 1, "answers": answers},
    }


@dataclass
class Storm:
    """40 phones replaying their day: batches of BATCH records, each batch sent twice."""

    base: str
    phones: list[tuple[str, list[tuple[str, float, float]]]]
    records: int = 0
    took: list[float] = field(default_factory=list)  # each batch request's time
    errors: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0

    def start(self) -> None:
        self.began = time.monotonic()
        for token, items in self.phones:
            thread = threading.Thread(target=self._replay, args=(token, items), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _replay(self, token: str, items: list[tuple[str, float, float]]) -> None:
        phone = Phone(self.base, token)
        kept = [record(number, lon, lat, emergency=False) for number, lon, lat in items]
        for start in range(0, len(kept), BATCH):
            batch = {"records": kept[start : start + BATCH]}
            for _ in range(2):  # the first answer "got lost": the phone sends the batch again
                started = time.monotonic()
                status, body = phone.post("/carrier/visits/batch", batch)
                self.took.append(time.monotonic() - started)
                self.records += len(batch["records"])
                if status != 200:
                    self.errors.append(f"{status} {body[:100]!r}")

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        self.ended = time.monotonic()


# --- a phase -------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    mode: str
    phase: str
    visits: int
    latencies: dict[str, list[float]]
    missing: dict[str, int]
    uploads: list[float]
    queue_to_webhook: list[float]
    cpu: dict[str, float]
    heavy: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)
    repeats: dict[str, str] = field(default_factory=dict)


def first_arrivals(hits: list[Hit], since: float) -> dict[int, Hit]:
    first: dict[int, Hit] = {}
    for hit in hits:
        if hit.at >= since and (hit.household not in first or hit.at < first[hit.household].at):
            first[hit.household] = hit
    return first


def repeats_of(hits: list[Hit], households: set[int], since: float) -> str:
    """How many alerts arrived more than once, and whether each repeat had its first id."""
    ids: dict[int, list[str]] = {}
    for hit in hits:
        if hit.household in households and hit.at >= since:
            ids.setdefault(hit.household, []).append(hit.stable_id)
    repeated = {h: v for h, v in ids.items() if len(v) > 1}
    same = all(len(set(v)) == 1 for v in repeated.values())
    extra = sum(len(v) - 1 for v in repeated.values())
    if not repeated:
        return "no repeat"
    verdict = "same id each time: yes" if same else "A REPEAT CAME WITH A NEW ID"
    return f"{extra} repeat(s) of {len(repeated)} alert(s), {verdict}; counted once"


class Deployment:
    """One mode's processes, fakes and app: runs the phases."""

    def __init__(self, mode, args, seeded, fleet, app, base, fakes, heavy_ids) -> None:
        self.mode, self.args, self.seeded = mode, args, seeded
        self.fleet, self.app, self.base, self.fakes = fleet, app, base, fakes
        self.heavy_ids = heavy_ids
        self.celery = mode == "celery"

    def roots(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.fleet.processes.items()} | {"bench": os.getpid()}

    def visits(
        self, items: list[tuple[str, int, float, float]]
    ) -> tuple[dict[int, float], list[float]]:
        """Upload the emergency visits --interval apart; when each was sent, and each upload's
        own time."""
        phone = Phone(self.base, self.seeded.carrier_token)
        sent, uploads = {}, []
        began = time.monotonic()
        for k, (number, household, lon, lat) in enumerate(items):
            wait = began + k * self.args.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            body = record(number, lon, lat, emergency=True)
            started = time.monotonic()
            status, answer = phone.post(
                "/carrier/visits", body, {"Idempotency-Key": body["client_uuid"]}
            )
            uploads.append(time.monotonic() - started)
            if status != 201:
                raise RuntimeError(f"upload answered {status}: {answer[:300]!r}")
            sent[household] = started
        return sent, uploads

    def arrived(self, sent: dict[int, float], since: float) -> dict[str, dict[int, Hit]]:
        return {
            sink: {h: hit for h, hit in first_arrivals(source.update(), since).items() if h in sent}
            for sink, source in self.fakes.items()
        }

    def wait_all(self, sent: dict[int, float], since: float, timeout_s: float) -> None:
        def done() -> bool:
            got = self.arrived(sent, since)
            return all(len(hits) == len(sent) for hits in got.values())

        with contextlib.suppress(RuntimeError):  # what did not come is reported as missing
            wait_for(done, timeout_s, "every alert at FCM, the webhook receiver and SMTP", 0.2)

    def result(self, phase, sent, uploads, since, cpu, heavy) -> PhaseResult:
        got = self.arrived(sent, since)
        latencies = {
            sink: [hits[h].at - sent[h] for h in sent if h in hits] for sink, hits in got.items()
        }
        missing = {sink: len(sent) - len(hits) for sink, hits in got.items()}
        queued = queued_at(self.app, set(sent))
        webhook = got["webhook"]
        queue_to_webhook = [
            webhook[h].wall - queued[h] for h in sent if h in webhook and h in queued
        ]
        repeats = {
            sink: repeats_of(source.update(), set(sent), since)
            for sink, source in self.fakes.items()
        }
        # When the slowest uploads went out, beside when a heavy job committed its result.
        since_wall = time.time() - (time.monotonic() - since)
        slowest = sorted(zip(uploads, sent.values(), strict=True), reverse=True)[:3]
        finished = [
            f"{name} at +{at - since_wall:.0f} s"
            for name, at in heavy_finished(self.app, self.heavy_ids).items()
            if at is not None and since_wall <= at <= time.time()
        ]
        notes = [
            "slowest uploads: "
            + ", ".join(f"{took:.2f} s at +{at - since:.0f} s" for took, at in slowest)
            + (f"; heavy jobs finished: {', '.join(finished)}" if finished else "")
        ]
        return PhaseResult(
            mode=self.mode,
            phase=phase,
            visits=len(sent),
            latencies=latencies,
            missing=missing,
            uploads=uploads,
            queue_to_webhook=queue_to_webhook,
            cpu=cpu,
            heavy=heavy,
            repeats=repeats,
            notes=notes,
        )

    def under_load(self, items) -> PhaseResult:
        cpu: dict[str, float] = {}
        since = time.monotonic()
        heavy = [heavy_state(self.app, self.heavy_ids)]
        with cpu_window(self.roots, cpu):
            sent, uploads = self.visits(items)
            self.wait_all(sent, since, 60)
        heavy.append(heavy_state(self.app, self.heavy_ids))
        return self.result("1 under load", sent, uploads, since, cpu, heavy)

    def storm(self, items) -> PhaseResult:
        cpu: dict[str, float] = {}
        since = time.monotonic()
        heavy = [heavy_state(self.app, self.heavy_ids)]
        storm = Storm(self.base, self.seeded.phones)
        total = sum(len(items) for _, items in self.seeded.phones)
        queued_before = queued_on(self.app, "notices")
        backlog = Backlog(self.app, "notices")
        with cpu_window(self.roots, cpu), backlog:
            storm.start()
            # The visits go out once a backlog of tracking webhooks waits on `notices`, or
            # after STORM_LEAD_S if the notices worker keeps up with the storm.
            with contextlib.suppress(RuntimeError):
                wait_for(lambda: backlog.now >= min(1000, total // 4), STORM_LEAD_S, "", 0.2)
            backlog_before = backlog.now
            sent, uploads = self.visits(items)
            backlog_after = backlog.now
            self.wait_all(sent, since, 60)
            storm.join()
        heavy.append(heavy_state(self.app, self.heavy_ids))
        result = self.result("2 storm", sent, uploads, since, cpu, heavy)
        drain_began = time.monotonic()
        try:
            wait_for(lambda: pending(self.app, "notices") == 0, 300, "notices drained", 0.5)
            drained = f"drained {time.monotonic() - drain_began:.0f} s after the phase"
        except RuntimeError:
            drained = f"NOT drained 300 s after ({pending(self.app, 'notices')} left)"
        result.notes.append(
            f"storm: {len(self.seeded.phones)} phones sent {storm.records} records (half of them "
            f"repeats) in {storm.ended - storm.began:.1f} s, {len(storm.errors)} errors, "
            f"each batch request p50 {statistics.median(storm.took):.2f} s, p95 "
            f"{percentile(storm.took, 0.95):.2f} s, max {max(storm.took):.2f} s; "
            f"{queued_on(self.app, 'notices') - queued_before} tracking webhooks queued on "
            f"notices; waiting there: {backlog_before} when the visits began, {backlog_after} "
            f"when they ended, {backlog.most} at most; {drained}"
        )
        result.notes.append(
            f"database sessions seen active (samples every 0.5 s): {backlog.top_waits()}"
        )
        result.notes += [f"storm error: {e}" for e in storm.errors[:3]]
        return result

    def killed(self, items) -> PhaseResult:
        cpu: dict[str, float] = {}
        since = time.monotonic()
        heavy = [heavy_state(self.app, self.heavy_ids)]
        receiver = self.fakes["webhook"].arrivals
        seen, holding = [0], threading.Event()
        times: dict[str, float] = {}

        def hold(received: Any) -> None:
            if webhook_alert(received) is None:
                return
            seen[0] += 1
            if seen[0] == min(KILL_AT, len(items) // 2):
                holding.set()
                time.sleep(HOLD_S)  # the worker waits for this answer when it is killed

        def kill_and_restart() -> None:
            if not holding.wait(len(items) * self.args.interval + 60):
                return
            self.fleet.kill("alerts")
            times["killed"] = time.monotonic()
            time.sleep(RESTART_AFTER_S)
            process = self.fleet.worker("alerts", self.celery, wait=False)
            times["started"] = time.monotonic()
            self.fleet.wait_ready("alerts", process.log, worker_ready(self.celery))
            times["ready"] = time.monotonic()

        receiver.hold = hold
        killer = threading.Thread(target=kill_and_restart, daemon=True)
        killer.start()
        try:
            with cpu_window(self.roots, cpu):
                sent, uploads = self.visits(items)
                self.wait_all(sent, since, 120)
                killer.join(120)
                # The delivery cut short comes again after its lease: wait for it, and for
                # everything else the dead worker held.
                with contextlib.suppress(RuntimeError):
                    wait_for(lambda: pending(self.app, "alerts") == 0, 120, "alerts sent", 0.2)
                time.sleep(1)
        finally:
            receiver.hold = None
        heavy.append(heavy_state(self.app, self.heavy_ids))
        result = self.result("3 worker killed", sent, uploads, since, cpu, heavy)
        if "killed" in times:
            result.notes.append(
                f"alerts worker SIGKILLed during alert webhook #{min(KILL_AT, len(items) // 2)}, "
                f"started again {times['started'] - times['killed']:.1f} s later, ready "
                f"{times.get('ready', float('nan')) - times['killed']:.1f} s after the kill"
            )
        else:
            result.notes.append("THE KILL DID NOT HAPPEN (no alert webhook was held)")
        return result


# --- one mode ------------------------------------------------------------------------------------


def run_mode(mode, args, scale, seeded, dbs, template, redis, fakes, directory) -> list:
    celery = mode == "celery"
    name = f"{template.removesuffix('_seed')}_{mode}"
    url = dbs.create(name, template=template)
    config = settings(args, directory, redis, celery)
    logs = directory / "logs" / mode
    logs.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(logs, environment(config, url))
    app = bench_app(config, url, directory)
    print(f"\n[{mode}] starting gunicorn, the scheduler and a worker per queue ...", flush=True)
    try:
        base = start_web(fleet)
        fleet.flask("scheduler", "scheduler", "run", ready=" leads")
        for queue in QUEUES:
            fleet.worker(queue, celery, nice=args.nice if queue in HEAVY else 0)
        ids = start_heavy_jobs(base, app, seeded, scale.plan_limit)
        began = time.monotonic()
        try:
            wait_for(lambda: running(heavy_state(app, ids)), 120, "the heavy jobs run", 0.5)
        except RuntimeError:
            print(f"[{mode}] not all heavy jobs running: {heavy_state(app, ids)}")
        print(
            f"[{mode}] heavy jobs running {time.monotonic() - began:.1f} s after they were asked "
            f"for: {heavy_state(app, ids)}",
            flush=True,
        )
        deployment = Deployment(mode, args, seeded, fleet, app, base, fakes, ids)
        v = args.visits
        results = []
        for phase, items in (
            (deployment.under_load, seeded.emergency[:v]),
            (deployment.storm, seeded.emergency[v : 2 * v]),
            (deployment.killed, seeded.emergency[2 * v : 3 * v]),
        ):
            results.append(phase(items))
            print_phase(results[-1])
        return results
    finally:
        fleet.stop_all()
        from core.db import db

        with app.app_context():
            db.engine.dispose()
        dbs.drop(name)


# --- report --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else math.nan


def figures(values: list[float]) -> str:
    if not values:
        return f"{'-':>20}"
    return (
        f"{statistics.median(values):5.2f} {percentile(values, 0.95):6.2f} {max(values):6.2f}"
    ).rjust(20)


def verdict(result: PhaseResult) -> str:
    every = [v for values in result.latencies.values() for v in values]
    if any(result.missing.values()) or not every:
        return "MISSED (lost)"
    if result.phase.startswith("3"):
        return "met" if max(every) <= 30 else "MISSED"
    ok = all(percentile(v, 0.95) <= 2 and max(v) <= 5 for v in result.latencies.values())
    return "met" if ok else "MISSED"


def print_phase(result: PhaseResult) -> None:
    print(
        f"[{result.mode}] {result.phase}: "
        + "; ".join(
            f"{sink} p95 {percentile(v, 0.95):.2f} s max {max(v, default=math.nan):.2f} s"
            + (f" ({result.missing[sink]} missing)" if result.missing[sink] else "")
            for sink, v in result.latencies.items()
        ),
        flush=True,
    )


CPU_ROLES = ("web", "alerts", "notices", "plans", "letters", "imports", "scheduler", "postgres")


def print_report(results: list[PhaseResult], scale: Scale, args) -> None:
    print()
    print(
        f"emergency visits uploaded over HTTP {args.interval} s apart; seconds from sending the "
        "upload to the alert's first arrival at each fake server (p50 p95 max)"
    )
    header = (
        f"{'mode':<9} {'phase':<16} {'n':>3} | {'FCM':^20} | {'webhook':^20} | {'SMTP':^20} | "
        f"{'target':<10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.mode:<9} {r.phase:<16} {r.visits:>3} | {figures(r.latencies['FCM'])} | "
            f"{figures(r.latencies['webhook'])} | {figures(r.latencies['SMTP'])} | {verdict(r)}"
        )
    print("targets: phases 1-2 p95 <= 2 s and max <= 5 s; phase 3 max <= 30 s (every sink)")
    print(
        "\nsplit (p50 p95 max, s): upload = the POST's own time (commit included); queued -> "
        "webhook = from the outbox row's commit to the receiver"
    )
    for r in results:
        lost = {s: n for s, n in r.missing.items() if n}
        print(
            f"{r.mode:<9} {r.phase:<16} upload {figures(r.uploads)}   queued -> webhook "
            f"{figures(r.queue_to_webhook)}" + (f"   LOST {lost}" if lost else "")
        )
    print("\ncores used during each phase (CPU seconds per second of the phase)")
    print(
        f"{'mode':<9} {'phase':<16} " + " ".join(f"{role:>9}" for role in CPU_ROLES) + "  machine"
    )
    for r in results:
        print(
            f"{r.mode:<9} {r.phase:<16} "
            + " ".join(f"{r.cpu.get(role, 0):>9.2f}" for role in CPU_ROLES)
            + f"  {r.cpu.get('machine busy', 0):>6.2f} of {os.cpu_count()}"
            + f"  (bench {r.cpu.get('bench', 0):.2f})"
        )
    print("\nheavy jobs at the start and end of each phase, and notes")
    for r in results:
        states = " -> ".join(", ".join(f"{k} {v}" for k, v in s.items()) for s in r.heavy)
        print(f"{r.mode:<9} {r.phase:<16} {states}")
        for note in r.notes:
            print(f"{'':<27}{note}")
        print(
            f"{'':<27}repeats: " + "; ".join(f"{sink}: {text}" for sink, text in r.repeats.items())
        )


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale, for a try")
    parser.add_argument("--modes", default="embedded,celery")
    parser.add_argument("--plan-limit", type=int, help="the plan's time limit, s (120; quick 20)")
    parser.add_argument("--visits", type=int, help="emergency visits per phase (50; quick 10)")
    parser.add_argument("--interval", type=float, default=0.5, help="s between visit uploads")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the heavy queues' workers (plans, letters, imports, maintenance) at this nice "
        "level (default 0: as deployed today)",
    )
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="a PostgreSQL server")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"embedded", "celery"}:
        parser.error("--modes takes embedded and/or celery")
    scale = QUICK if args.quick else FULL
    args.visits = args.visits or (10 if args.quick else 50)
    args.plan_limit = args.plan_limit or scale.plan_limit
    scale = Scale(**(scale.__dict__ | {"plan_limit": args.plan_limit}))
    print(machine())
    print(command_line())
    print(
        f"scale: plan {scale.stops} stops at {scale.plan_limit} s, {scale.letters} letters, "
        f"{scale.rows} import rows, {args.visits} emergency visits per phase, storm "
        f"{scale.phones} phones x {scale.storm_visits} visits; modes {', '.join(modes)}"
        + (f"; heavy workers at nice {args.nice}" if args.nice else ""),
        flush=True,
    )
    terminate_on_sigterm()
    from tests.support.fakes.fcm import FakeFcm
    from tests.support.fakes.receiver import WebhookReceiver
    from tests.support.fakes.smtp import FakeSmtp

    directory = Path(tempfile.mkdtemp(prefix="bench_alerts_"))
    dbs = Databases(args.database_url)
    template = f"bench_alerts_{os.getpid()}_seed"
    results: list[PhaseResult] = []
    failed = False
    try:
        with (
            RedisServer(directory) as redis,
            FakeFcm(busy_for=0, sent=Arrivals()) as fcm,
            WebhookReceiver(received=Arrivals()) as receiver,
            FakeSmtp(received=Arrivals()) as smtp,
        ):
            fakes = {
                "FCM": Sink(fcm.sent, fcm_hits),
                "webhook": Sink(receiver.received, webhook_hits),
                "SMTP": Sink(smtp.received, smtp_hits),
            }
            url = dbs.create(template)
            began = time.monotonic()
            print("seeding ...", flush=True)
            args.fcm, args.smtp = fcm, smtp
            config = settings(args, directory, redis, celery=False)
            seeded = seed(bench_app(config, url, directory), scale, args.visits, receiver.url,
                          directory)  # fmt: skip
            print(f"seeded in {time.monotonic() - began:.0f} s", flush=True)
            for mode in modes:
                results += run_mode(
                    mode, args, scale, seeded, dbs, template, redis, fakes, directory
                )
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process and dropping the databases", flush=True)
        failed = True
    except Exception:
        failed = True
        print(f"\nFAILED; the processes' logs are kept in {directory / 'logs'}", flush=True)
        args.keep_logs = True
        raise
    finally:
        dbs.close()
        if results:
            print_report(results, scale, args)
        if args.keep_logs:
            print(f"logs: {directory / 'logs'}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 1 if failed or any(verdict(r) != "met" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

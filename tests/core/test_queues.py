"""Jobs on worker queues, both ways: local workers polling the outbox (the embedded default) and
Celery on Redis (production), each worker a process of its own on a database of its own.

A job runs only if the transaction that asked for it commits; a route solve on `plans` never
delays an alert on `alerts`; a worker killed mid-solve means the plan is solved again and stored
once; with Redis down, uploads still succeed and every job asked for meanwhile runs once after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import dev
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import db, transaction
from core.outbox import QUEUES, OutboxMessage
from municipalities.mail import webhooks
from municipalities.mail.models import WebhookEndpoint
from municipalities.mail.services import next_working_day
from routing.models import PlanRoute, RoutePlan
from tests.support.desk import Desk, carrier_headers, set_up_desk, visit
from tests.support.factories import make_carrier, make_district, make_due_item, square
from tests.support.fakes.receiver import WebhookReceiver
from tests.support.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.no_db_rollback]
KEYS = ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY")
DAY = next_working_day(seoul_today() + timedelta(days=1))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll until condition() is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


class RedisServer:
    """A Redis of the test's own on a free port (the machine's is shared), stopped at will."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.dir = free_port(), tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, "redis-server started")

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@dataclass
class Deployment:
    """The app on its database, and the processes a test starts beside it."""

    app: Any
    backend: str
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, *args: str, ready: str) -> subprocess.Popen:
        """Start `flask --app app ARGS` and wait until its log says `ready`."""
        log = self.logs / f"{'-'.join(args)}-{len(self.processes)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "flask", "--app", "app", *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a machine's worth to kill
            )
        self.processes.append(process)
        wait_for(lambda: ready in log.read_text(errors="replace"), 120, f"{args}: {ready}")
        return process

    def worker(self, *queues: str) -> subprocess.Popen:
        """A worker process of the queues (Celery's when the broker is set, else local)."""
        args = [arg for queue in queues for arg in ("--queue", queue)]
        ready = " ready." if self.backend == "celery" else "local worker for"
        return self.start("outbox", "run", *args, ready=ready)

    def desk(self, visits: int) -> tuple[Desk, int]:
        """A carrier's route of `visits` welfare items today, committed; and its municipality."""
        with self.app.app_context():
            desk = set_up_desk(visits=visits)
            db.session.commit()
            return desk, desk.world.a.municipality.id

    def scheduler(self) -> subprocess.Popen:
        """The leader scheduler: asks for upkeep and relays to Celery what its broker lacks."""
        return self.start("scheduler", "run", ready=" leads")

    def stop_all(self) -> None:
        for process in self.processes:
            kill_group(process)

    def read(self, query: Callable[[], Any]) -> Any:
        with self.app.app_context():
            try:
                return query()
            finally:
                db.session.remove()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a process with everything it started (its pool, its solver): a machine dies."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


@pytest.fixture(params=["local", "celery"])
def deployment(request, app, tmp_path) -> Iterator[Deployment]:
    url = os.environ.get("TEST_DATABASE_URL", "")
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    config = {"WEBHOOK_ALLOW_HTTP_LOOPBACK": True, "OUTBOX_HEARTBEAT_S": 1}
    redis = None
    if request.param == "celery":
        redis = RedisServer(tmp_path)
        redis.start()
        config |= {"JOBS_BROKER_URL": redis.url, "JOBS_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}-"}
    with scratch_database(backend, tmp_path, app, config=config) as scratch:
        env = os.environ | {
            "DATABASE_URL": scratch.url.render_as_string(hide_password=False),
            "WELFARE_ENV": "testing",
            **{f"WELFARE_{key}": str(value) for key, value in config.items()},
            **{f"WELFARE_{key}": scratch.app.config[key] for key in KEYS},
        }
        env.pop("WELFARE_FCM_SERVICE_ACCOUNT_FILE", None)
        deployment = Deployment(scratch.app, request.param, env, tmp_path)
        deployment.redis = redis
        try:
            yield deployment
        finally:
            deployment.stop_all()
            if redis is not None:
                redis.stop()


def endpoint_to(deployment: Deployment, receiver: WebhookReceiver, municipality_id: int) -> None:
    with deployment.app.app_context(), transaction():
        db.session.add(
            WebhookEndpoint(municipality_id=municipality_id, url=receiver.url, secret="s" * 24)
        )


def event_ids(receiver: WebhookReceiver) -> list[str]:
    return [hit.headers[webhooks.EVENT_HEADER] for hit in receiver.received]


def test_the_queues_of_the_embedded_default_are_the_outbox_queues():
    assert dev.QUEUES == QUEUES


def test_a_job_runs_once_after_commit_and_never_after_a_rollback(deployment):
    desk, municipality_id = deployment.desk(visits=1)
    with WebhookReceiver() as receiver:
        endpoint_to(deployment, receiver, municipality_id)
        deployment.worker("alerts")
        with deployment.app.app_context():
            with pytest.raises(RuntimeError), transaction():
                webhooks.notify(municipality_id, "check_report.alert", {"n": "rolled back"})
                raise RuntimeError("the request failed after asking")
            with transaction():
                webhooks.notify(municipality_id, "check_report.alert", {"n": "committed"})
            db.session.remove()
        wait_for(lambda: receiver.received, 20, "the committed event arrives")
        time.sleep(1.5)  # several passes of the worker: nothing else comes
        assert len(receiver.received) == 1
        assert b'"committed"' in receiver.received[0].body


def office_with_stops(stops: int) -> tuple[int, Desk]:
    """An office with two more carriers and `stops` due welfare items tomorrow, committed."""
    desk = set_up_desk(visits=1)
    tenant = desk.world.a
    for n, west in enumerate((126.95, 126.97)):
        district = make_district(tenant.office, square(west, 37.50, 0.02))
        make_carrier(tenant.office, district)
        for i in range(stops // 2):
            point = (west + 0.001 * (i % 12) + 0.0003 * n, 37.502 + 0.001 * (i // 12))
            make_due_item(tenant, point, DAY, district)
    db.session.commit()
    return tenant.office.id, desk


def start_plan(deployment: Deployment, desk: Desk, office_id: int, limit_s: int) -> int:
    client = deployment.app.test_client()
    headers = desk.world.a.headers(Role.DISPATCHER)
    body = {"day": DAY.isoformat(), "time_limit_s": limit_s}
    response = client.post(f"/api/v1/offices/{office_id}/plans", json=body, headers=headers)
    assert response.status_code == 202, response.json
    return response.json["id"]


def plan_state(deployment: Deployment, plan_id: int) -> tuple[str, int]:
    def read() -> tuple[str, int]:
        plan = db.session.get(RoutePlan, plan_id)
        return plan.status, plan.version

    return deployment.read(read)


def test_a_solve_on_the_plans_queue_never_delays_an_alert(deployment):
    with deployment.app.app_context():
        office_id, desk = office_with_stops(60)
        municipality_id = desk.world.a.municipality.id
    with WebhookReceiver() as receiver:
        endpoint_to(deployment, receiver, municipality_id)
        deployment.worker("plans")
        deployment.worker("alerts")
        with deployment.app.app_context():
            plan_id = start_plan(deployment, desk, office_id, limit_s=10)
        wait_for(lambda: plan_state(deployment, plan_id)[0] == "solving", 30, "the solve starts")
        asked = time.monotonic()
        with deployment.app.app_context(), transaction():
            webhooks.notify(municipality_id, "check_report.alert", {"severity": "emergency"})
        wait_for(lambda: receiver.received, 10, "the alert arrives")
        took = time.monotonic() - asked
        assert plan_state(deployment, plan_id)[0] == "solving", "the alert came after the solve"
        assert took < 5, took


def test_a_worker_killed_during_a_solve_leaves_one_plan_solved_once(deployment):
    with deployment.app.app_context():
        office_id, desk = office_with_stops(40)
    killed = deployment.worker("plans")
    if deployment.backend == "celery":
        deployment.scheduler()  # hands the job over again once the dead worker's lease is out
    with deployment.app.app_context():
        plan_id = start_plan(deployment, desk, office_id, limit_s=8)
    wait_for(lambda: plan_state(deployment, plan_id)[0] == "solving", 30, "the solve starts")
    queued_version = plan_state(deployment, plan_id)[1]
    time.sleep(1)
    kill_group(killed)
    deployment.worker("plans")
    wait_for(lambda: plan_state(deployment, plan_id)[0] == "ready", 90, "the plan is solved")
    time.sleep(2)  # any repeat of the job would have run by now

    def outcome() -> dict:
        routes = db.session.scalars(sa.select(PlanRoute).where(PlanRoute.plan_id == plan_id))
        carriers = [route.carrier_id for route in routes]
        message = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "route_plan")
        ).one()
        return {
            "version": db.session.get(RoutePlan, plan_id).version,
            "carriers": carriers,
            "message": (message.status, message.attempts),
        }

    result = deployment.read(outcome)
    assert result["version"] == queued_version + 1  # stored once
    assert result["carriers"] and len(result["carriers"]) == len(set(result["carriers"]))
    assert result["message"] == ("sent", 2)  # claimed by the killed worker, then by the new one


def upload(client, desk: Desk, number: str, *, emergency: bool) -> int:
    body = visit(number, emergency=emergency)
    headers = carrier_headers(desk.carrier_token, body)
    return client.post("/api/v1/carrier/visits", json=body, headers=headers).status_code


@pytest.mark.parametrize("deployment", ["celery"], indirect=True)  # the embedded has no broker
def test_uploads_succeed_while_redis_is_down_and_their_jobs_run_once_after(deployment):
    desk, municipality_id = deployment.desk(visits=6)
    with WebhookReceiver() as receiver:
        endpoint_to(deployment, receiver, municipality_id)
        deployment.worker("alerts", "notices")
        deployment.scheduler()
        client = deployment.app.test_client()
        with deployment.app.app_context():
            assert upload(client, desk, desk.numbers[0], emergency=True) == 201
        wait_for(lambda: len(receiver.received) >= 2, 20, "events with Redis up")  # alert, tracking
        deployment.redis.stop()
        down = time.monotonic()
        answers = []
        with deployment.app.app_context():
            for n, number in enumerate(desk.numbers[1:]):
                started = time.monotonic()
                answers.append(upload(client, desk, number, emergency=n % 2 == 0))
                assert time.monotonic() - started < 5  # the broker's absence costs no wait
                time.sleep(3)
        assert answers == [201] * 5
        time.sleep(max(0.0, 30 - (time.monotonic() - down)))
        deployment.redis.start()

        def all_sent() -> bool:
            pending = sa.select(sa.func.count()).where(
                OutboxMessage.status != "sent", OutboxMessage.queue.in_(("alerts", "notices"))
            )
            return deployment.read(lambda: db.session.scalar(pending)) == 0

        wait_for(all_sent, 120, "every job asked for during the outage has run")
        time.sleep(3)
        ids = event_ids(receiver)
        asked = deployment.read(
            lambda: db.session.scalar(
                sa.select(sa.func.count()).where(OutboxMessage.kind == webhooks.KIND)
            )
        )
        assert len(ids) == len(set(ids)) == asked  # each once
        assert asked >= 9  # 6 tracking events, 3 alerts at least

"""Restarts of what the service runs on (issue 14, items 16-18): the database restarting under
phones' uploads and a leading scheduler, and a SIGKILLed gunicorn master."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from app import create_app
from carrier_api.models import Visit
from core import scheduler
from core.db import db, utcnow
from dev import Supervisor
from municipalities.mail.registered_numbers import make_number
from tests.carrier_api.test_visit_sync import _route_of_records
from tests.conftest import TEST_KEYS
from tests.core.test_scheduler import (
    children,
    environment,
    free_port,
    start_scheduler,
    start_web,
    ticks,
)
from tests.support.scratch import scratch_database

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def assert_unavailable(status: int, headers: Mapping[str, str], body: dict) -> None:
    """A 503 in the error shape, Korean first with English, telling the client when to retry."""
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    error = body["error"]
    assert error["code"] == "unavailable"
    assert "잠시 후 다시 시도하세요" in error["message"] and "retry shortly" in error["message"]


@pytest.mark.no_db_rollback  # the test's session would answer instead of the down server
def test_an_unreachable_database_is_a_503_with_retry_after(app, tmp_path):
    closed_port = free_port()  # nothing listens there
    down = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x",
            **TEST_KEYS,
        },
        instance_path=str(tmp_path),
    )
    client = down.test_client()
    tracking = client.get(f"/api/v1/tracking/{make_number(2026, 1, '7')}")
    login = client.post(
        "/api/v1/auth/token", json={"username": "carrier01", "password": "demo-welfare-2026"}
    )
    for response in (tracking, login):
        assert_unavailable(response.status_code, response.headers, response.get_json())


@pytest.mark.parametrize(
    ("message", "status"),
    [("database is locked", 503), ("no such table: visits", 500), ("near 'SELEC': syntax", 500)],
)
def test_sqlite_retries_only_its_lock_and_its_programming_errors_stay_500(app, message, status):
    # SQLite raises OperationalError for mistakes in SQL as well: those are bugs, not outages.
    error = OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))
    with app.test_request_context("/api/v1/households"):
        response = app.make_response(app.handle_user_exception(error))
    assert response.status_code == status
    assert ("Retry-After" in response.headers) == (status == 503)


@pytest.mark.no_db_rollback
def test_a_pooled_connection_the_server_ended_is_replaced_before_use(app, client):
    """Issue 14 item 16: after a restart each worker answered one more 500 with a dead pooled
    connection, even a minute later; the pool now tests a connection before lending it."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite file has no server to lose")
    with engine.connect() as conn:  # back to the pool afterwards
        conn.execute(sa.select(1))
    # As a restart does: end every session of the database (the suite's own, so only ours).
    killer = sa.create_engine(engine.url, poolclass=sa.NullPool)
    with killer.connect() as conn:
        ended = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert ended >= 1
    killer.dispose()
    time.sleep(0.2)  # the server closes the session
    response = client.get(f"/api/v1/tracking/{make_number(2026, 1, '7')}")
    assert response.status_code == 404, response.get_json()


class FlakyLock:
    """A leader lock whose database is down for `down` tries, then busy once, then free."""

    def __init__(self, down: int) -> None:
        self.answers: list[bool | None] = [None] * down + [False, True]

    def try_acquire(self) -> bool:
        answer = self.answers.pop(0)
        if answer is None:
            raise OperationalError("SELECT pg_try_advisory_lock(1)", {}, OSError("refused"))
        return answer


def test_a_waiting_scheduler_backs_off_while_the_database_is_down(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(scheduler.time, "sleep", pauses.append)
    scheduler.wait_for_lock(FlakyLock(down=5))
    assert pauses == [0.4, 0.8, 1.6, 2.0, 2.0, scheduler.POLL_S]


def test_dev_run_starts_a_process_again_when_it_dies(tmp_path):
    runs = tmp_path / "runs"
    script = f"open({str(runs)!r}, 'a').write('x'); import sys; sys.exit(3)"
    supervisor = Supervisor([sys.executable, "-c", script], 0.05)
    supervisor.start()
    try:
        deadline = time.monotonic() + 20
        while (not runs.exists() or len(runs.read_text()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        supervisor.stop()
    assert len(runs.read_text()) >= 3
    count = len(runs.read_text())
    time.sleep(0.3)
    assert len(runs.read_text()) == count, "started again after stop()"


# --- PostgreSQL restarted during uploads ------------------------------------------------------


@dataclass
class OwnPostgres:
    """A throwaway PostgreSQL server of the test's own, which it may stop and start at will."""

    directory: Path
    port: int
    as_owner: list[str]  # runs a command as the server's owner (initdb refuses root)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-w", *args]
        subprocess.run([*self.as_owner, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-o", options, "-l", str(self.directory / "server.log"), "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """initdb a server in a temporary directory, start it, and stop and remove it at the end."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL 15 server binaries in {PG_BIN}")
    as_owner: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = None
        if runuser is None or owner is None:
            pytest.skip("running as root without runuser or a postgres user to own a server")
        as_owner = [runuser, "-u", "postgres", "--"]
    directory = Path(tempfile.mkdtemp(prefix="welfare-pg-"))
    try:
        if as_owner:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        initdb = [str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres"]
        subprocess.run(
            [*as_owner, *initdb, "--auth=trust", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = OwnPostgres(directory, free_port(), as_owner)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Phone:
    """A carrier's phone uploading its visits in small batches, sending a batch again after a
    503 once Retry-After has passed, and the records another request held (409) likewise."""

    base: str
    token: str
    batches: list[list[dict]]
    statuses: Counter = field(default_factory=Counter)
    stored: dict[str, int] = field(default_factory=dict)  # client_uuid: 201 or 200
    problems: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._upload_all)
        self.thread.start()

    def _upload_all(self) -> None:
        try:
            self._upload_batches()
        except Exception as error:  # a failed check: the test reads it from `problems`
            self.problems.append(repr(error))

    def _upload_batches(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        for batch in self.batches:
            pending = batch
            while pending:
                try:
                    response = requests.post(  # a new connection each time: every worker serves
                        self.base + "/carrier/visits/batch",
                        json={"records": pending},
                        headers=headers | {"Connection": "close"},
                        timeout=30,
                    )
                except requests.RequestException as error:
                    self.problems.append(f"no answer: {error}")
                    return
                self.statuses[response.status_code] += 1
                if response.status_code == 503:
                    assert_unavailable(503, response.headers, response.json())
                    time.sleep(int(response.headers["Retry-After"]))
                    continue
                if response.status_code != 200:
                    self.problems.append(f"{response.status_code}: {response.text[:300]}")
                    return
                results = response.json()["results"]
                self.stored.update((r["client_uuid"], r["status"]) for r in results)
                held = {r["client_uuid"] for r in results if r["status"] == 409}
                pending = [record for record in pending if record["client_uuid"] in held]
            time.sleep(0.05)

    def join(self, timeout: float) -> None:
        assert self.thread is not None
        self.thread.join(timeout)


RECORDS, BATCH, PHONES = 600, 5, 2


def visit_records(numbers: list[str]) -> list[dict]:
    """One delivered visit per registered number, as the phone stores it offline."""
    now = utcnow().isoformat()
    return [
        {
            "client_uuid": str(uuid.uuid4()),
            "registered_number": number,
            "outcome": "delivered",
            "recorded_at": now,
            "location": [127.0, 37.5],
            "accuracy_m": 8.0,
        }
        for number in numbers
    ]


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_a_database_restart_during_uploads_is_only_503s_and_the_scheduler_leads_again(
    app, tmp_path
):
    """Issue 14 items 16 and 17: PostgreSQL is stopped for 3 s and started again while phones
    upload visits through gunicorn and a lone scheduler leads. Phones get 503 with Retry-After
    (never a 500), every visit is stored once, and the scheduler leads again within 10 s."""
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("runs with the PostgreSQL suite (TEST_DATABASE_URL), on a server of its own")
    with own_postgres() as server, scratch_database("postgresql", tmp_path, app, server.url) as db_:
        with db_.app.app_context():
            token, numbers = _route_of_records(RECORDS)
            db.session.remove()
        url = db_.url.render_as_string(hide_password=False)
        env = environment(db_.app, url)
        port = free_port()
        web, lone = start_web(env, port), start_scheduler(env)
        records = visit_records(numbers)
        batches = [records[i : i + BATCH] for i in range(0, RECORDS, BATCH)]
        phones = [
            Phone(f"http://127.0.0.1:{port}/api/v1", token, batches[i::PHONES])
            for i in range(PHONES)
        ]
        try:
            deadline = time.monotonic() + 60
            while not ticks(db_.app) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ticks(db_.app), "the scheduler never led"
            for phone in phones:
                phone.start()
            while sum(len(p.stored) for p in phones) < RECORDS // 3:
                assert time.monotonic() < deadline, "the uploads did not start"
                time.sleep(0.05)
            server.stop()
            time.sleep(3)
            server.start()
            back = time.time()
            deadline = time.monotonic() + 10
            while not [t for t, _ in ticks(db_.app) if t >= back]:
                assert time.monotonic() < deadline, "the scheduler did not lead again in 10 s"
                time.sleep(0.2)
            led_again_s = min(t for t, _ in ticks(db_.app) if t >= back) - back
            for phone in phones:
                phone.join(120)
            assert lone.poll() is None, "the scheduler exited"
        finally:
            for process in (lone, web):
                process.terminate()
                process.wait(30)
        statuses = sum((p.statuses for p in phones), Counter())
        stored = {key: status for p in phones for key, status in p.stored.items()}
        with db_.app.app_context():
            rows = db.session.execute(sa.select(Visit.client_uuid)).scalars().all()
            db.session.remove()
    print(
        f"\ndatabase restart: uploads answered {dict(statuses)}; scheduler led again "
        f"{led_again_s:.1f} s after the server was back; {len(rows)} visits stored"
    )
    assert not [problem for p in phones for problem in p.problems]
    assert set(statuses) == {200, 503}, statuses  # 503s: the restart was seen, and no 500
    assert sorted(rows) == sorted(r["client_uuid"] for r in records)  # each once
    assert set(stored) == set(rows) and set(stored.values()) <= {200, 201}


# --- a SIGKILLed gunicorn master --------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def keep_calling(base: str, stop: threading.Event) -> None:
    """A phone on a keep-alive connection, calling as fast as it is answered."""
    session = requests.Session()
    while not stop.is_set():
        try:
            session.get(base + "/api/v1/openapi.json", timeout=5)
        except requests.RequestException:
            time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_workers_of_a_killed_gunicorn_master_quit_and_free_the_port(app, tmp_path):
    """Issue 14 item 18: with phones on keep-alive connections, a SIGKILLed master's workers
    held the port for 30 s (their graceful drain), so a restarted gunicorn could not bind."""
    with scratch_database("sqlite", tmp_path, app) as scratch:
        env = environment(scratch.app, scratch.url.render_as_string(hide_password=False))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        first = start_web(env, port)
        stop = threading.Event()
        callers = [threading.Thread(target=keep_calling, args=(base, stop)) for _ in range(6)]
        workers: list[int] = []
        second = None
        try:
            assert wait_for_answer(base, 60), "gunicorn did not start"
            workers = sorted(children(first.pid))
            for caller in callers:
                caller.start()
            time.sleep(2)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed = time.monotonic()
            while any(map(alive, workers)) and time.monotonic() < killed + 10:
                time.sleep(0.05)
            workers_gone_s = time.monotonic() - killed
            stop.set()
            second = start_web(env, port)
            # The port is free once the workers are gone: whoever listens now is the new master.
            while not listening(port) and time.monotonic() < killed + 20:
                time.sleep(0.05)
            bound_s = time.monotonic() - killed
            serves = wait_for_answer(base, 120)  # its workers boot slowly on a busy machine
        finally:
            stop.set()
            for caller in callers:
                caller.join(30)
            for pid in filter(alive, workers):
                os.kill(pid, signal.SIGKILL)
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(30)
    print(
        f"\ngunicorn master SIGKILLed: its workers gone after {workers_gone_s:.1f} s, "
        f"a new gunicorn listened on the same port after {bound_s:.1f} s"
    )
    assert workers_gone_s < 5
    assert bound_s < 10 and serves


def listening(port: int) -> bool:
    """Whether a socket listens on the local port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for_answer(base: str, seconds: float) -> bool:
    """Whether the server at base answers within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False

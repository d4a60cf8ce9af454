"""The scheduler process: one leader beside the web workers, a standby that takes over at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from core.auth.roles import Role
from core.auth.services import issue_token
from core.db import db
from core.scheduler import LeaderLock, SchedulerTick, next_whole_second
from tests.support.factories import make_account, make_municipality

ROOT = Path(__file__).resolve().parents[2]
RUN_S = 60
KILL_AFTER_S = 30
WEB_WORKERS = 3
CLIENTS = 3  # threads calling the web workers all along


def environment(app, url: str) -> dict[str, str]:
    """The child processes' environment: the test app's database and keys."""
    keys = ("SECRET_KEY", "ENCRYPTION_KEYS", "BLIND_INDEX_KEY")
    return (
        os.environ
        | {f"WELFARE_{key}": app.config[key] for key in keys}
        | {"DATABASE_URL": url, "WELFARE_ENV": "testing"}
    )


def start_scheduler(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(  # our own CLI
        [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run", "--probe-every", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_web(env: dict[str, str], port: int) -> subprocess.Popen:
    """gunicorn with three workers and the deployed settings (gunicorn.conf.py), as the carrier
    load benchmark starts it."""
    return subprocess.Popen(  # our own gunicorn
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config", str(ROOT / "gunicorn.conf.py"),
            "--workers", str(WEB_WORKERS),
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> set[int]:
    """The process's children (gunicorn's master: its workers)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def ticks(app) -> list[tuple[int, str]]:
    """(second, runner) of every probe tick so far."""
    with app.app_context():
        rows = db.session.execute(sa.select(SchedulerTick.tick, SchedulerTick.runner)).all()
        db.session.remove()
        db.engine.dispose()
    return [(int(tick.timestamp()), runner) for tick, runner in rows]


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


@dataclass
class Clients:
    """Threads calling the API on the web workers until stopped."""

    base: str
    token: str
    statuses: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for _ in range(CLIENTS):
            thread = threading.Thread(target=self._call)
            thread.start()
            self.threads.append(thread)

    def _call(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        seen: Counter = Counter()
        while not self.stop.is_set():
            for path in ("/auth/me", "/households", "/check-reports"):
                try:
                    seen[session.get(self.base + path, timeout=30).status_code] += 1
                except requests.RequestException as error:
                    seen[type(error).__name__] += 1
            time.sleep(0.05)
        with self.lock:
            self.statuses.update(seen)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def seed_token(app) -> str:
    """A social worker's API token in the scratch database."""
    with app.app_context():
        municipality = make_municipality()
        token = issue_token(make_account(Role.SOCIAL_WORKER, municipality_id=municipality.id))
        db.session.commit()
        db.session.remove()
    return token


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_one_scheduler_runs_each_tick_beside_web_workers_and_the_standby_takes_over(fresh_app):
    """Issue 6, item 7: two schedulers and three web workers for 60 s with a probe each second.

    Every second has exactly one tick, run by the leading scheduler (never a web worker); the
    leader is SIGKILLed half-way between two ticks after 30 s, and the standby's first tick
    follows the leader's last within one interval: at most one second is missed.
    """
    app, url = fresh_app
    env = environment(app, url)
    port = free_port()
    web = start_web(env, port)
    schedulers = [start_scheduler(env), start_scheduler(env)]
    clients = Clients(f"http://127.0.0.1:{port}/api/v1", seed_token(app))
    try:
        deadline = time.monotonic() + 60
        while not ticks(app) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ticks(app), "no scheduler ran the probe"
        workers = children(web.pid)
        assert len(workers) == WEB_WORKERS
        clients.start()
        began = min(second for second, _ in ticks(app))
        # Half-way between two ticks, so the kill is no race with the leader's own tick.
        wait_until(began + KILL_AFTER_S + 0.5)
        (leader_runner,) = {runner for _, runner in ticks(app)}
        leader = next(p for p in schedulers if f"pid {p.pid}" == leader_runner)
        standby = next(p for p in schedulers if p is not leader)
        killed_at = time.time()
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        wait_until(began + RUN_S + 0.5)
        clients.join()
        assert children(web.pid) == workers, "a web worker died during the run"
    finally:
        clients.join()
        for process in (*schedulers, web):
            if process.poll() is None:
                process.terminate()
                process.wait(30)
    seen = ticks(app)
    per_second = Counter(second for second, _ in seen)
    first, last = min(per_second), max(per_second)
    duplicates = sorted(second for second, count in per_second.items() if count > 1)
    missing = sorted(set(range(first, last + 1)) - set(per_second))
    by_leader = sorted(second for second, runner in seen if runner == f"pid {leader.pid}")
    by_standby = sorted(second for second, runner in seen if runner == f"pid {standby.pid}")
    takeover_s = by_standby[0] - killed_at
    missed = by_standby[0] - by_leader[-1] - 1
    requests_made = sum(clients.statuses.values())
    print(
        f"\nscheduler failover ({db_backend(url)}): {len(seen)} ticks over {last - first + 1} s "
        f"(run {RUN_S} s), {len(duplicates)} duplicates, {len(missing)} missing; "
        f"leader pid {leader.pid} ran {len(by_leader)} ticks, killed at +{killed_at - began:.1f} s;"
        f" standby pid {standby.pid} ran its first tick {takeover_s:.2f} s after the kill, "
        f"{by_standby[0] - by_leader[-1]} s after the leader's last ({missed} missed), "
        f"then {len(by_standby)} ticks; web: {WEB_WORKERS} workers (pids "
        f"{sorted(workers)}) answered {requests_made} requests {dict(clients.statuses)}, "
        f"ran no tick"
    )
    assert not duplicates, f"seconds run twice: {duplicates}"
    assert {runner for _, runner in seen} == {f"pid {leader.pid}", f"pid {standby.pid}"}
    assert not {f"pid {worker}" for worker in workers} & {runner for _, runner in seen}
    assert by_leader[-1] < killed_at < by_standby[0], "the standby ran while the leader led"
    assert missing == list(range(by_leader[-1] + 1, by_standby[0])), "a gap outside failover"
    assert missed <= 1, f"the standby took over after {missed} missed seconds"
    assert last - first + 1 >= RUN_S - 2
    assert set(clients.statuses) == {200} and requests_made > 100, clients.statuses


def db_backend(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def acquired(lock: LeaderLock) -> bool:
    """Try like a standby, for up to a second (the server frees a closed session's lock soon)."""
    for _ in range(20):
        if lock.try_acquire():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.no_db_rollback
def test_the_leader_lock_is_held_by_one_scheduler_at_a_time(app):
    with app.app_context():
        first, second = LeaderLock(db.engine), LeaderLock(db.engine)
        try:
            assert first.try_acquire()
            assert not second.try_acquire()
            assert first.is_alive()
            first.release()
            assert acquired(second)
            if db.engine.dialect.name == "postgresql":
                # The leader's session ends (a network cut, a server restart): it must notice.
                pid = second._connection.execute(sa.select(sa.func.pg_backend_pid())).scalar()
                with db.engine.connect() as other:
                    other.execute(sa.select(sa.func.pg_terminate_backend(pid)))
                assert not second.is_alive()
                assert acquired(first)
        finally:
            first.release()
            second.release()


def test_probe_ticks_fall_on_whole_seconds():
    now = datetime(2026, 11, 25, 1, 2, 3, 999_000, tzinfo=UTC)
    assert next_whole_second(now) == datetime(2026, 11, 25, 1, 2, 4, tzinfo=UTC)
    assert next_whole_second(now.replace(microsecond=0)) == datetime(
        2026, 11, 25, 1, 2, 4, tzinfo=UTC
    )

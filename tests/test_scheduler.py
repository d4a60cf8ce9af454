"""The scheduler process: one leader, a standby that takes over when the leader dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import db
from tests.conftest import TEST_KEYS
from welfare_checks.models import SchedulerTick

ROOT = Path(__file__).resolve().parent.parent


def scheduler(url: str) -> subprocess.Popen:
    env = os.environ | {f"WELFARE_{k}": v for k, v in TEST_KEYS.items()} | {"DATABASE_URL": url}
    return subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run", "--probe-every", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ticks(app) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(sa.select(SchedulerTick.tick, SchedulerTick.runner)).all()
        db.session.remove()
        db.engine.dispose()
    return [(int(tick.timestamp()), runner) for tick, runner in rows]


def wait_for_ticks(app, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(ticks(app)) < count and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.no_db_rollback
def test_one_scheduler_leads_and_the_standby_takes_over_when_it_dies(fresh_app):
    app, url = fresh_app
    first, second = scheduler(url), scheduler(url)
    try:
        wait_for_ticks(app, 6)
        runners = {runner for _, runner in ticks(app)}
        assert len(runners) == 1  # one leader; the other waits
        leader = first if runners == {f"pid {first.pid}"} else second
        standby = second if leader is first else first
        killed_at = int(time.time())
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        wait_for_ticks(app, len(ticks(app)) + 6)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.terminate()
                process.wait(10)
    seen = ticks(app)
    seconds = [tick for tick, _ in seen]
    assert len(seconds) == len(set(seconds)), "a second ran twice"
    assert {runner for _, runner in seen} == {f"pid {leader.pid}", f"pid {standby.pid}"}
    after = sorted(tick for tick, runner in seen if runner == f"pid {standby.pid}")
    # The standby polls every second: its first tick comes within about one interval.
    assert after[0] - killed_at <= 3
    gaps = [b - a for a, b in zip(after, after[1:], strict=False)]
    assert max(gaps) <= 2

"""The scheduler process: periodic jobs run by exactly one process, never by web workers.

`flask --app app scheduler run` waits until it holds the leader lock, then runs APScheduler's
jobs until it stops. The lock is a PostgreSQL session advisory lock held on a connection of its
own, or on SQLite an exclusive file lock beside the database file; either is released by the
operating system or the server when the process dies, so a second scheduler that is waiting
takes over within one polling interval (reliability.md §4). Every job is idempotent.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app

from core.db import db, transaction, utcnow
from core.outbox import deliver_due
from municipalities.mail import return_held_items
from welfare_checks.alerts import escalate_overdue
from welfare_checks.cases import escalate_overdue_cases
from welfare_checks.models import SchedulerTick
from welfare_checks.retention import purge

log = logging.getLogger(__name__)

LOCK_KEY = 0x5765_6C66_6172  # "Welfar": one number for the whole deployment
POLL_S = 1.0  # how often a waiting scheduler tries to take the lock


class LeaderLock:
    """The one-scheduler lock: PostgreSQL advisory lock, or a file lock for SQLite."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        database = engine.url.database or "welfare.db"
        self.path = Path(database).with_name(Path(database).name + ".scheduler-lock")
        self._connection: sa.Connection | None = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if free; never blocks."""
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            held = connection.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar()
            connection.commit()  # the lock is the session's, not the transaction's
            if held:
                self._connection = connection
            else:
                connection.close()
            return bool(held)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        """Give the lock back (a dying process releases it anyway)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _in_app(app: Flask, job: Callable[[], Any]) -> Callable[[], None]:
    """Run a job inside the app context, so it has the database and configuration."""

    def run() -> None:
        with app.app_context():
            try:
                job()
            except Exception:  # a failing job must not stop the scheduler
                log.exception("scheduler job %s failed", getattr(job, "__name__", job))
            finally:
                db.session.remove()

    return run


def probe() -> None:
    """Record this second's run (the failover check counts runs per second)."""
    tick = utcnow().replace(microsecond=0)
    with transaction():
        db.session.add(SchedulerTick(tick=tick, runner=f"pid {os.getpid()}"))


def escalate() -> None:
    """Escalate unacknowledged emergencies and overdue cases (idempotent)."""
    with transaction():
        escalate_overdue()
        escalate_overdue_cases()


def retention() -> None:
    """Send back items whose hold is over; destroy what is past retention (idempotent)."""
    with transaction():
        returned = return_held_items()
        purged = purge()
    log.info("daily: %d held items returned; retention %s", returned, purged)


def jobs(app: Flask, probe_every_s: float | None) -> list[tuple[Callable[[], None], float, str]]:
    """The scheduled jobs: (function, interval in seconds, id)."""
    config = app.config
    out = [
        (lambda: deliver_due(), config["SCHEDULER_OUTBOX_EVERY_S"], "outbox"),
        (escalate, config["SCHEDULER_ESCALATION_EVERY_S"], "escalation"),
        (retention, 24 * 3600, "retention"),
    ]
    if probe_every_s:
        out.append((probe, probe_every_s, "probe"))
    return out


def run(probe_every_s: float | None = None) -> None:
    """Wait for the leader lock, then run the jobs until the process stops."""
    app = current_app._get_current_object()
    lock = LeaderLock(db.engine)
    while not lock.try_acquire():
        time.sleep(POLL_S)
    log.info("scheduler %s leads", os.getpid())
    scheduler = BlockingScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
    )
    for job, every, job_id in jobs(app, probe_every_s):
        scheduler.add_job(_in_app(app, job), "interval", seconds=every, id=job_id)
    try:
        scheduler.start()
    finally:
        lock.release()

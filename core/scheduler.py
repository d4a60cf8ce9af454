"""The scheduler process: periodic jobs run by exactly one process, never by web workers.

`flask --app app scheduler run` waits until it holds the leader lock, then runs APScheduler's
jobs until it stops. The jobs only ask for work (outbox messages that workers run), which each
package registers with `register_periodic`, and relay to Celery what its broker did not take.

The lock is a PostgreSQL session advisory lock held on a connection of its own, or on SQLite an
exclusive file lock beside the database file; either is released by the operating system or the
server when the process dies, so a waiting scheduler, which tries the lock every POLL_S, takes
over at once. A leader whose lock's session ends (a database restart or failover) stops its jobs
within LOCK_CHECK_S and waits for the lock again, trying less often while the database is
unreachable, so it leads again by itself once the database is back. Every job is idempotent,
and every job but the probe also runs at takeover, so nothing waits a whole interval (or a day)
for a scheduler that was down.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import SEOUL
from core.db import UTCDateTime, db, transaction, utcnow
from core.hooks import Hook
from core.outbox import enqueue_once
from core.queues import relay

log = logging.getLogger(__name__)

LOCK_KEY = 0x5765_6C66_6172  # "Welfar": one number for the whole deployment
POLL_S = 0.2  # how often a waiting scheduler tries the lock: the takeover delay
# How often the leader makes sure its lock's session is still alive: after a database restart
# it runs jobs without the lock (beside a standby that may lead by now) for at most this long.
LOCK_CHECK_S = 1.0
BACKOFF_MAX_S = 2.0  # the longest pause between tries while the database is unreachable
#: The periodic jobs the packages registered (register_periodic).
PERIODIC: Hook[Periodic] = Hook("scheduler_periodic")


class SchedulerTick(db.Model):
    """A run of the scheduler's probe job: a second twice would show a double scheduler."""

    __tablename__ = "scheduler_ticks"

    id: Mapped[int] = mapped_column(primary_key=True)
    tick: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    runner: Mapped[str] = mapped_column(sa.String(40))


@dataclass(frozen=True)
class Periodic:
    """A job a package has the leader ask for: every `every_s` seconds, or daily at `daily_at`
    (Seoul time); `kind` is the outbox message that a worker runs."""

    name: str
    kind: str
    every_s: float | None = None
    daily_at: clock_time | None = None

    def __post_init__(self) -> None:
        if (self.every_s is None) == (self.daily_at is None):
            raise ValueError(f"periodic job {self.name!r}: give one of every_s and daily_at")

    def trigger(self) -> BaseTrigger:
        """When the job runs."""
        if self.daily_at is not None:
            at = self.daily_at
            return CronTrigger(hour=at.hour, minute=at.minute, timezone=SEOUL)
        return IntervalTrigger(seconds=self.every_s)


def register_periodic(app: Flask, periodic: Periodic) -> None:
    """Have the leading scheduler ask for a job on its schedule, and at takeover."""
    PERIODIC.register(app, periodic)


def ask_for(kind: str) -> bool:
    """Queue a scheduled job unless one of its kind is waiting; whether one was queued."""
    with transaction():
        return enqueue_once(kind)


class LeaderLock:
    """The one-scheduler lock: PostgreSQL advisory lock, or a file lock for SQLite."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        database = engine.url.database or "welfare.db"
        self.path = Path(database).with_name(Path(database).name + ".scheduler-lock")
        self._connection: sa.Connection | None = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if free; never blocks. Raises DBAPIError when the database is
        unreachable."""
        if self.engine.dialect.name == "postgresql":
            return self._try_advisory_lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def _try_advisory_lock(self) -> bool:
        # One connection for all the tries: a standby asks five times a second.
        try:
            if self._connection is None:
                self._connection = self.engine.connect()
            held = self._connection.execute(
                sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))
            ).scalar()
            self._connection.commit()  # the lock is the session's, not the transaction's
        except sa.exc.DBAPIError:
            self.release()  # a broken connection: the next try opens a new one
            raise
        return bool(held)

    def is_alive(self) -> bool:
        """Whether the lock is still ours (a lost PostgreSQL session loses its lock)."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(sa.select(1))
            self._connection.commit()
        except sa.exc.DBAPIError:
            return False
        return True

    def release(self) -> None:
        """Give the lock back (a dying process releases it anyway)."""
        if self._connection is not None:
            # Closed for real, not handed back to the pool: the session's lock goes with it.
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _in_app(app: Flask, job: Callable[[], Any], name: str) -> Callable[[], None]:
    """Run a job inside the app context, so it has the database and configuration."""

    def run() -> None:
        with app.app_context():
            try:
                job()
            except Exception:  # a failing job must not stop the scheduler
                log.exception("scheduler job %s failed", name)
            finally:
                db.session.remove()

    return run


def probe() -> None:
    """Record this second's run (the failover check counts runs per second)."""
    tick = utcnow().replace(microsecond=0)
    with transaction():
        db.session.add(SchedulerTick(tick=tick, runner=f"pid {os.getpid()}"))


@dataclass(frozen=True)
class Job:
    """One scheduled job: what it runs, when, and whether it also runs at takeover."""

    id: str
    run: Callable[[], Any]
    trigger: BaseTrigger
    at_takeover: bool = True
    #: How late a run may still start (coalesced: a late scheduler runs a job once, not n times).
    grace_s: int = 3600


def next_whole_second(now: datetime) -> datetime:
    """The first whole second after `now` (probe ticks fall on whole seconds)."""
    return datetime.fromtimestamp(math.floor(now.timestamp()) + 1, UTC)


def jobs(app: Flask, probe_every_s: float | None, now: datetime) -> list[Job]:
    """The scheduled jobs of a scheduler that took the lock at `now`."""
    relay_every = IntervalTrigger(seconds=app.config["SCHEDULER_RELAY_EVERY_S"])
    # Hands Celery's queues what the broker did not take (nothing to do for local workers).
    out = [Job("relay", lambda: relay(app), relay_every)]
    out.extend(
        Job(periodic.name, functools.partial(ask_for, periodic.kind), periodic.trigger())
        for periodic in PERIODIC.entries(app)
    )
    if probe_every_s:
        # Not at takeover: the leader that died may already have run this second. A tick
        # more than a second late is skipped, never run in the next tick's second.
        trigger = IntervalTrigger(seconds=probe_every_s, start_date=next_whole_second(now))
        out.append(Job("probe", probe, trigger, at_takeover=False, grace_s=1))
    return out


def wait_for_lock(lock: LeaderLock) -> None:
    """Try the lock every POLL_S until it is ours; back off while the database is unreachable."""
    pause = POLL_S
    while True:
        try:
            if lock.try_acquire():
                return
            pause = POLL_S
        except sa.exc.DBAPIError as error:
            if pause == POLL_S:  # once per outage, not at every try
                log.warning(
                    "scheduler %s: database unreachable (%s); trying again, at most every %.0f s",
                    os.getpid(),
                    type(error.orig).__name__,
                    BACKOFF_MAX_S,
                )
            pause = min(pause * 2, BACKOFF_MAX_S)
        time.sleep(pause)


def lead(app: Flask, lock: LeaderLock, probe_every_s: float | None) -> None:
    """Run the jobs while the lock is ours; return once it is lost."""
    now = utcnow()
    log.info("scheduler %s leads", os.getpid())
    # The relay runs every second: a line per run would bury everything else in the log.
    # A relay still waiting on a broker that is down makes the next second's run a skip: said
    # by the relay itself, once per try.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = BlockingScheduler(
        timezone=SEOUL, job_defaults={"coalesce": True, "max_instances": 1}
    )
    for job in jobs(app, probe_every_s, now):
        scheduler.add_job(
            _in_app(app, job.run, job.id),
            job.trigger,
            id=job.id,
            name=job.id,
            misfire_grace_time=job.grace_s,
            **({"next_run_time": now} if job.at_takeover else {}),
        )

    def check_lock() -> None:
        if not lock.is_alive():
            # Another scheduler may lead by now: stop the jobs (start() below returns).
            scheduler.shutdown(wait=False)

    scheduler.add_job(check_lock, IntervalTrigger(seconds=LOCK_CHECK_S), id="lock", name="lock")
    scheduler.start()


def run(probe_every_s: float | None = None) -> None:
    """Lead whenever the leader lock can be had, until the process stops."""
    app = current_app._get_current_object()
    lock = LeaderLock(db.engine)
    while True:
        wait_for_lock(lock)
        try:
            lead(app, lock, probe_every_s)
        finally:
            lock.release()
        log.warning("scheduler %s lost its lock; waiting to lead again", os.getpid())

"""The outbox: side effects and jobs written in the transaction, run after commit by workers.

Every message names a queue, so that light, urgent work never waits behind heavy work: alert
pushes, webhooks and e-mails on `alerts`; routine notices on `notices`; route plans on `plans`;
letter batches on `letters`; imports on `imports`; scheduled upkeep on `maintenance`. The table
is the durable record; a queue transport (core/queues.py: Celery on Redis, or local workers
polling this table) only says which message to run now.

A message is claimed with a short lease that a heartbeat renews while its handler runs, so a
worker that dies gives its message back within its queue's LEASE; the handler runs outside any
transaction (network calls and solves must not hold database locks), and the outcome is
recorded: sent, retried later with backoff, or dead after too many attempts. Handlers must be
idempotent for the receiver: a message carries a stable id so a receiver can drop a repeat.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, on_commit, transaction, utcnow

log = logging.getLogger(__name__)

ALERTS, NOTICES, PLANS, LETTERS, IMPORTS, MAINTENANCE = (
    "alerts",
    "notices",
    "plans",
    "letters",
    "imports",
    "maintenance",
)
QUEUES = (ALERTS, NOTICES, PLANS, LETTERS, IMPORTS, MAINTENANCE)
#: Queues of short jobs that wait on the network (threads; a short lease).
LIGHT_QUEUES = (ALERTS, NOTICES)
#: The longest a job of each queue may run before its worker interrupts it (a plan solves for
#: at most ROUTING_PLAN_TIME_LIMIT_MAX_S, then stores its answer).
TIME_LIMIT_S = {
    ALERTS: 60,
    NOTICES: 60,
    PLANS: 600,
    LETTERS: 1800,
    IMPORTS: 1800,
    MAINTENANCE: 3600,
}
HARD_GRACE_S = 30  # past the time limit, a job that did not stop ends its worker process
#: How long a claim holds before another worker may take the message: a worker that dies gives
#: its messages back this late. Short on the light queues, whose jobs take a second or less.
LEASE = {queue: timedelta(seconds=5 if queue in LIGHT_QUEUES else 15) for queue in QUEUES}
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
MAX_ATTEMPTS = 8


class OutboxMessage(db.Model):
    """One side effect or job waiting to run (webhook, push, e-mail, plan, letters, import)."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_status_queue_available_at", "status", "queue", "available_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    queue: Mapped[str] = mapped_column(sa.String(20), default=ALERTS, server_default=ALERTS)
    target_id: Mapped[int | None]
    payload: Mapped[dict] = mapped_column(sa.JSON)
    #: pending | sent | dead
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: When it was last handed to a worker queue (None: not yet, or given back since).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Message:
    """A claimed message as plain data: handlers never see ORM objects."""

    id: int
    kind: str
    target_id: int | None
    payload: dict[str, Any]
    attempt: int
    queue: str = ALERTS


class Transport(Protocol):
    """How committed messages reach their queues' workers (core/queues.py has the two)."""

    def online(self) -> bool:
        """Whether new messages are handed to the broker right after commit."""

    def publish(self, messages: list[tuple[int, str]]) -> None:
        """Hand (message id, queue) pairs to their queues' workers."""


class TimeLimitExceeded(Exception):
    """Raised inside a handler that ran past its queue's time limit."""


class DeliveryFailed(Exception):
    """A handler could not deliver; retried later unless permanent."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.permanent = permanent


Handler = Callable[[Message], None]
_handlers: dict[str, Handler] = {}
_queues: dict[str, str] = {}


def register_handler(kind: str, handler: Handler, queue: str = ALERTS) -> None:
    """Say which function runs messages of a kind, and on which queue by default."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    _handlers[kind] = handler
    _queues[kind] = queue


def enqueue(
    kind: str, payload: dict[str, Any], target_id: int | None = None, *, queue: str | None = None
) -> OutboxMessage:
    """Add a message to the caller's transaction; it is run only if that commits, and handed
    to its queue's workers right after the commit."""
    queue = queue or _queues.get(kind, ALERTS)
    transport = current_app.extensions["queues"]
    now = utcnow()
    message = OutboxMessage(
        kind=kind,
        queue=queue,
        payload=payload,
        target_id=target_id,
        available_at=now,
        dispatched_at=now if transport.online() else None,  # else the relay hands it over
    )
    db.session.add(message)
    db.session.flush()
    callbacks = db.session.info.get("on_commit", [])
    handover = next((c for c in callbacks if isinstance(c, _HandOver)), None)
    if handover is None:  # the transaction's first message: hand them all over at commit
        handover = _HandOver(transport)
        on_commit(handover)
    handover.messages.append((message.id, queue))
    return message


def enqueue_once(kind: str, payload: dict[str, Any] | None = None) -> bool:
    """Add a message unless one of its kind is waiting (for jobs that do all there is to do:
    asking twice would only run them twice); whether one was added."""
    waiting = db.session.scalar(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.kind == kind, OutboxMessage.status == "pending")
        .limit(1)
    )
    if waiting is not None:
        return False
    enqueue(kind, payload or {})
    return True


class _HandOver:
    """An on-commit callback: the transaction's messages to their queues' workers."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.messages: list[tuple[int, str]] = []

    def __call__(self) -> None:
        self.transport.publish(self.messages)


def backoff(attempt: int) -> timedelta:
    """Wait before attempt+1: 30 s, 60 s, 120 s ... capped at one hour."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_CAP_S))


@dataclass
class DeliveryRun:
    """Counts of one delivery pass."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(OutboxMessage.status == "pending", OutboxMessage.available_at <= now)


def _lease_until(now: datetime) -> sa.ColumnElement[datetime]:
    """The end of a claim made now, by the message's queue."""
    ends = [(OutboxMessage.queue == queue, now + lease) for queue, lease in LEASE.items()]
    return sa.case(*ends, else_=now + max(LEASE.values()))


def claim(message_id: int, now: datetime | None = None) -> Message | None:
    """Take one message if it is due and nobody holds it (atomic: of workers handed the same
    message, one gets it); None otherwise."""
    now = now or utcnow()
    with transaction():
        taken = db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == message_id, _due(now))
            .values(
                attempts=OutboxMessage.attempts + 1,
                available_at=_lease_until(now),  # a dead worker's claim expires
                dispatched_at=None,  # given back at expiry, the relay hands it over again
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return None
        row = db.session.execute(
            sa.select(
                OutboxMessage.kind,
                OutboxMessage.target_id,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.queue,
            ).where(OutboxMessage.id == message_id)
        ).one()
    return Message(message_id, row.kind, row.target_id, dict(row.payload), row.attempts, row.queue)


def _due_ids(queues: tuple[str, ...], limit: int, now: datetime) -> list[int]:
    with transaction():
        return list(
            db.session.scalars(
                sa.select(OutboxMessage.id)
                .where(_due(now), OutboxMessage.queue.in_(queues))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )


@contextmanager
def _heartbeat(message: Message) -> Iterator[None]:
    """Renew the message's lease while its handler runs (a long solve keeps it; a dead
    worker's lease runs out within its queue's LEASE)."""
    every_s = current_app.config["OUTBOX_HEARTBEAT_S"]
    if not every_s:  # off: the tests' single rolled-back connection cannot be shared
        yield
        return
    engine, stop, started = db.engine, threading.Event(), time.monotonic()
    # A job on the worker's main thread that outlived its interruption (stuck in C code) ends
    # with its process: the lease runs out and another worker tries again.
    hard_limit_s = TIME_LIMIT_S[message.queue] + HARD_GRACE_S if _on_main_thread() else None
    renew = (
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.status == "pending",
            OutboxMessage.attempts == message.attempt,
        )
        .execution_options(synchronize_session=False)
    )

    def beat() -> None:
        while not stop.wait(every_s):
            if hard_limit_s is not None and time.monotonic() - started > hard_limit_s:
                log.critical("outbox message %s ignored its time limit; exiting", message.id)
                os._exit(70)
            try:
                with engine.begin() as connection:
                    lease = LEASE[message.queue]
                    connection.execute(renew.values(available_at=utcnow() + lease))
            except sa.exc.DBAPIError:
                log.warning("could not renew the lease of outbox message %s", message.id)

    thread = threading.Thread(target=beat, name=f"lease-{message.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _time_limit(message: Message) -> Iterator[None]:
    """Interrupt the handler once it runs past its queue's time limit: on a worker's main
    thread (local workers, the heavy queues' Celery workers), where a signal can reach it.
    Alerts and notices run on threads; each of their network calls has a timeout of its own."""
    if not _on_main_thread():
        yield
        return
    limit_s = TIME_LIMIT_S[message.queue]

    def over(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"over the {message.queue} queue's time limit ({limit_s} s)")

    previous = signal.signal(signal.SIGALRM, over)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_claimed(message: Message) -> str:
    """Run a claimed message's handler and record the outcome: sent, retried or dead."""
    handler = _handlers.get(message.kind)
    failure = None
    if handler is None:
        failure = DeliveryFailed(f"no handler for {message.kind}", permanent=True)
    else:
        try:
            with _heartbeat(message), _time_limit(message):
                handler(message)
        except DeliveryFailed as error:
            failure = error
        except TimeLimitExceeded as error:
            log.warning("outbox message %s (%s) %s", message.id, message.kind, error)
            failure = DeliveryFailed(str(error))
        except Exception as error:  # a handler bug must not stop the other messages
            log.exception("outbox handler for %s failed", message.kind)
            failure = DeliveryFailed(f"{type(error).__name__}")
    return _record(message, utcnow(), failure)


def _record(message: Message, now: datetime, failure: DeliveryFailed | None) -> str:
    with transaction():
        row = db.session.get(OutboxMessage, message.id)
        if failure is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            return "sent"
        row.last_error = failure.reason[:300]
        if failure.permanent or message.attempt >= MAX_ATTEMPTS:
            row.status = "dead"
            log.error("outbox message %s (%s) is dead: %s", row.id, row.kind, failure.reason)
            return "dead"
        wait = backoff(message.attempt)
        if failure.retry_after_s is not None:
            wait = max(wait, timedelta(seconds=failure.retry_after_s))
        row.available_at, row.dispatched_at = now + wait, None
        return "retried"


def deliver_due(
    limit: int = 100, now: datetime | None = None, queues: tuple[str, ...] = QUEUES
) -> DeliveryRun:
    """Run the due messages of the queues, oldest first, one claim at a time (a local worker's
    pass, and the tests' way to run the outbox)."""
    now = now or utcnow()
    run = DeliveryRun()
    for message_id in _due_ids(queues, limit, now):
        message = claim(message_id, now)
        if message is not None:
            outcome = run_claimed(message)
            setattr(run, outcome, getattr(run, outcome) + 1)
    return run


def to_relay(
    now: datetime, again_after: dict[str, timedelta], limit: int = 1000
) -> list[tuple[int, str]]:
    """Due messages no worker queue has (never handed over, given back, or handed over so long
    ago that the queue may have lost them), marked as handed over now."""
    waited_too_long = sa.or_(
        *(
            sa.and_(OutboxMessage.queue == queue, OutboxMessage.dispatched_at <= now - after)
            for queue, after in again_after.items()
        )
    )
    with transaction():
        rows = db.session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.queue)
            .where(_due(now), sa.or_(OutboxMessage.dispatched_at.is_(None), waited_too_long))
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        if rows:
            db.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
    return [(row.id, row.queue) for row in rows]


def forget_dispatch(message_ids: list[int]) -> None:
    """Mark messages as not handed over (the broker refused them): the relay tries again."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "pending")
            .values(dispatched_at=None)
        )

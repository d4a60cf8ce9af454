"""The outbox: side effects written in the transaction, delivered after commit by a worker.

A message is claimed with a short lease, its handler runs outside any transaction (network calls
must not hold database locks), and the outcome is recorded: sent, retried later with backoff, or
dead after too many attempts. Handlers must be idempotent for the receiver: a message carries a
stable id so a receiver can drop a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, transaction, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
MAX_ATTEMPTS = 8


class OutboxMessage(db.Model):
    """One side effect waiting to be delivered (webhook, push, e-mail)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    target_id: Mapped[int | None]
    payload: Mapped[dict] = mapped_column(sa.JSON)
    #: pending | sent | dead
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
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


class DeliveryFailed(Exception):
    """A handler could not deliver; retried later unless permanent."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.permanent = permanent


Handler = Callable[[Message], None]
_handlers: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Say which function delivers messages of a kind."""
    _handlers[kind] = handler


def enqueue(kind: str, payload: dict[str, Any], target_id: int | None = None) -> OutboxMessage:
    """Add a message to the caller's transaction; it is delivered only if that commits."""
    message = OutboxMessage(kind=kind, payload=payload, target_id=target_id)
    db.session.add(message)
    db.session.flush()
    return message


def backoff(attempt: int) -> timedelta:
    """Wait before attempt+1: 30 s, 60 s, 120 s ... capped at one hour."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_CAP_S))


@dataclass
class DeliveryRun:
    """Counts of one delivery pass."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def _claim(limit: int, now: datetime) -> list[Message]:
    with transaction():
        query = (
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            # Several workers may run: each takes rows nobody else holds.
            query = query.with_for_update(skip_locked=True)
        rows = list(db.session.scalars(query))
        for row in rows:
            row.attempts += 1
            row.available_at = now + LEASE  # a crashed worker's claim expires
        claimed = [Message(r.id, r.kind, r.target_id, dict(r.payload), r.attempts) for r in rows]
    return claimed


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
        row.available_at = now + wait
        return "retried"


def deliver_due(limit: int = 100, now: datetime | None = None) -> DeliveryRun:
    """Deliver the messages that are due; each outcome is recorded in its own transaction."""
    now = now or utcnow()
    run = DeliveryRun()
    for message in _claim(limit, now):
        handler = _handlers.get(message.kind)
        failure = None
        if handler is None:
            failure = DeliveryFailed(f"no handler for {message.kind}", permanent=True)
        else:
            try:
                handler(message)
            except DeliveryFailed as error:
                failure = error
            except Exception as error:  # a handler bug must not stop the other messages
                log.exception("outbox handler for %s failed", message.kind)
                failure = DeliveryFailed(f"{type(error).__name__}")
        outcome = _record(message, now, failure)
        setattr(run, outcome, getattr(run, outcome) + 1)
    return run

"""The outbox's rules, in one process: queues, claims, leases, relay and retention."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from core.db import db, transaction, utcnow
from core.outbox import (
    ALERTS,
    LEASE,
    NOTICES,
    PLANS,
    TIME_LIMIT_S,
    OutboxMessage,
    claim,
    deliver_due,
    enqueue,
    register_handler,
    to_relay,
)
from core.queues import HAND_OVER_AGAIN
from welfare_checks.retention import purge

RAN: list[int] = []


def remember(message) -> None:
    RAN.append(message.payload["n"])


register_handler("test_remember", remember, queue=NOTICES)


def ask(n: int, queue: str | None = None) -> int:
    with transaction():
        return enqueue("test_remember", {"n": n}, queue=queue).id


def test_a_message_goes_to_its_kinds_queue_unless_it_names_another(ctx):
    default, named = ask(1), ask(2, queue=ALERTS)
    queues = dict(db.session.execute(sa.select(OutboxMessage.id, OutboxMessage.queue)).all())
    assert queues[default] == NOTICES and queues[named] == ALERTS


def test_a_worker_runs_only_its_queues(ctx):
    RAN.clear()
    ask(1), ask(2, queue=ALERTS)
    assert deliver_due(queues=(PLANS,)).sent == 0
    assert deliver_due(queues=(ALERTS,)).sent == 1 and RAN == [2]
    assert deliver_due(queues=(NOTICES, ALERTS)).sent == 1 and RAN == [2, 1]


def test_of_workers_handed_the_same_message_one_gets_it_until_its_lease_runs_out(ctx):
    message_id, now = ask(1), utcnow()
    first = claim(message_id, now)
    assert first is not None and first.attempt == 1
    lease = LEASE[NOTICES]
    assert claim(message_id, now + lease - timedelta(seconds=1)) is None  # held
    again = claim(message_id, now + lease + timedelta(seconds=1))  # its worker died
    assert again is not None and again.attempt == 2


def test_the_relay_hands_over_what_no_queue_has_once_until_it_waited_too_long(ctx):
    message_id = ask(1)
    now = utcnow()
    # The local transport of the tests hands nothing over: the relay has it.
    assert (message_id, NOTICES) in to_relay(now, HAND_OVER_AGAIN)
    assert to_relay(now, HAND_OVER_AGAIN) == []  # handed over just now
    later = now + HAND_OVER_AGAIN[NOTICES] + timedelta(seconds=1)
    assert (message_id, NOTICES) in to_relay(later, HAND_OVER_AGAIN)  # the broker lost it?
    claim(message_id, later)
    assert to_relay(later, HAND_OVER_AGAIN) == []  # held by a worker


def test_retention_deletes_finished_messages_after_the_keeping_period(ctx, app):
    old = utcnow() - timedelta(days=app.config["OUTBOX_KEEP_DAYS"] + 1)
    sent, dead, pending, recent = (ask(n) for n in range(4))
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_([sent, dead, pending]))
        .values(created_at=old)
    )
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id.in_([sent, recent])).values(status="sent")
    )
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == dead).values(status="dead")
    )
    assert purge().outbox_messages == 2
    left = set(db.session.scalars(sa.select(OutboxMessage.id)))
    assert {pending, recent} <= left and not {sent, dead} & left


def test_a_job_past_its_queues_time_limit_is_interrupted_and_retried(ctx, monkeypatch):
    monkeypatch.setitem(TIME_LIMIT_S, NOTICES, 0.2)
    register_handler("test_sleepy", lambda message: time.sleep(5), queue=NOTICES)
    with transaction():
        message_id = enqueue("test_sleepy", {}).id
    started = time.monotonic()
    assert deliver_due(queues=(NOTICES,)).retried == 1
    assert time.monotonic() - started < 4
    message = db.session.get(OutboxMessage, message_id)
    assert message.status == "pending" and "time limit (0.2 s)" in message.last_error

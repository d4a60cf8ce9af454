"""Queue transports: how a committed outbox message reaches a worker of its queue.

Production: Celery on Redis. Right after a commit the web process hands each new message's id
to its queue (`CeleryQueues.publish`); a Celery worker of that queue claims the message from
the outbox table and runs it (`run_message`: acknowledged late, so a worker that dies mid-job
leaves the task to another, and the claim makes a repeat a no-op). The scheduler's relay hands
over whatever the broker did not take: messages asked for while Redis was down, given back by
a dead worker's expired lease, or due for a retry.

Embedded default (no broker configured): `LocalQueues` publishes nothing; one local worker
process per queue polls the outbox for its queue's due messages (`work_locally`), so a solve on
`plans` never delays a push on `alerts`.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import Celery
from flask import Flask

from core.db import db, utcnow
from core.outbox import (
    ALERTS,
    NOTICES,
    QUEUES,
    claim,
    deliver_due,
    forget_dispatch,
    run_claimed,
    to_relay,
)

log = logging.getLogger(__name__)

TASK = "welfare.run_message"
#: How long the broker gets to answer before a request goes on without it (the relay retries).
BROKER_TIMEOUT_S = 1.0
#: After the broker failed, requests skip it this long (their messages wait for the relay).
BROKER_PAUSE_S = 5.0
#: A message handed to a queue but not yet claimed after this long is handed over again: the
#: broker may have lost it (a restart without persistence). A repeat is harmless (claim).
HAND_OVER_AGAIN = {queue: timedelta(seconds=600) for queue in QUEUES} | {
    ALERTS: timedelta(seconds=10),
    NOTICES: timedelta(seconds=60),
}


class LocalQueues:
    """The embedded default: local workers poll the outbox, nothing is handed over."""

    def online(self) -> bool:
        return False

    def publish(self, messages: list[tuple[int, str]]) -> None:
        return None


class CeleryQueues:
    """Celery on Redis: each message id becomes a task on its queue."""

    def __init__(self, celery: Celery, prefix: str) -> None:
        self.celery = celery
        self.prefix = prefix
        self._paused_until = 0.0

    def online(self) -> bool:
        return time.monotonic() >= self._paused_until

    def publish(self, messages: list[tuple[int, str]]) -> None:
        if not messages:
            return
        if not self.online():  # the broker failed moments ago: leave them to the relay
            forget_dispatch([message_id for message_id, _ in messages])
            return
        self.hand_over(messages)

    def hand_over(self, messages: list[tuple[int, str]]) -> None:
        """Send the messages' tasks, pause or not; on a broker failure pause requests and give
        the rest back to the relay."""
        for index, (message_id, queue) in enumerate(messages):
            try:
                self.celery.send_task(
                    TASK, args=[message_id], queue=self.prefix + queue, retry=False
                )
            except Exception as error:  # kombu raises its own and the socket's errors
                self._paused_until = time.monotonic() + BROKER_PAUSE_S
                log.warning(
                    "broker unavailable (%s): %d message(s) wait for the relay",
                    type(error).__name__,
                    len(messages) - index,
                )
                forget_dispatch([message_id for message_id, _ in messages[index:]])
                return
        self._paused_until = 0.0


def make_celery(app: Flask) -> Celery:
    """The Celery app of a Flask app: its broker settings and the one task, run in app context."""
    celery = Celery("welfare", broker=app.config["JOBS_BROKER_URL"], set_as_current=False)
    celery.conf.update(
        task_acks_late=True,  # a worker that dies mid-job leaves the task to another
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results live in the database, not in the broker
        worker_prefetch_multiplier=1,  # a busy worker does not sit on messages others could run
        worker_hijack_root_logger=False,
        broker_connection_timeout=BROKER_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "socket_timeout": BROKER_TIMEOUT_S * 5,
            "socket_connect_timeout": BROKER_TIMEOUT_S,
        },
    )

    @celery.task(name=TASK)
    def run_message(message_id: int) -> None:
        with app.app_context():
            try:
                message = claim(message_id)
                if message is not None:  # else done, or held by another worker: a repeat
                    run_claimed(message)
            finally:
                db.session.remove()

    return celery


def init_queues(app: Flask) -> None:
    """Choose the transport: Celery when a broker is configured, else local workers."""
    if app.config["JOBS_BROKER_URL"]:
        celery = make_celery(app)
        app.extensions["celery"] = celery
        app.extensions["queues"] = CeleryQueues(celery, app.config["JOBS_QUEUE_PREFIX"])
    else:
        app.extensions["queues"] = LocalQueues()


def relay(app: Flask) -> int:
    """Hand over what no worker queue has (the scheduler's job when Celery runs the queues)."""
    transport = app.extensions["queues"]
    if not isinstance(transport, CeleryQueues):
        return 0  # local workers find their messages themselves
    messages = to_relay(utcnow(), HAND_OVER_AGAIN)
    if messages:
        transport.hand_over(messages)  # also while requests pause: the relay tries the broker
    return len(messages)


def work_locally(app: Flask, queues: tuple[str, ...], poll_s: float) -> None:
    """A local worker: run the queues' due messages, looking again every poll_s, forever."""
    names = ", ".join(queues)
    log.info("local worker for %s started", names)
    while True:
        with app.app_context():
            try:
                run = deliver_due(limit=20, queues=queues)
            except Exception:  # the database may be restarting: try again shortly
                log.exception("local worker for %s: pass failed", names)
                run = None
            finally:
                db.session.remove()
        if not run or not (run.sent or run.retried or run.dead):
            time.sleep(poll_s)

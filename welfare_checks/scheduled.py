"""Scheduled upkeep as outbox jobs: the scheduler only asks for them; workers run them.

Escalation is light and urgent (the `alerts` queue); retention, the monthly access-log reviews
and geocoding are heavy or remote (`maintenance`). Each is idempotent, and the scheduler asks
for a job only while none of its kind is waiting, so a slow worker never finds a pile of the
same job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.db import transaction
from core.outbox import ALERTS, MAINTENANCE, Message, enqueue_once
from municipalities.jobs import geocode_job
from municipalities.mail import return_held_items, seoul_today
from municipalities.services import GEOCODE_KIND
from welfare_checks import access_review
from welfare_checks.alerts import escalate_overdue
from welfare_checks.cases import escalate_overdue_cases
from welfare_checks.retention import purge

log = logging.getLogger(__name__)


def escalate(message: Message) -> None:
    """Escalate unacknowledged emergencies and overdue cases (idempotent)."""
    with transaction():
        escalate_overdue()
        escalate_overdue_cases()


def retention(message: Message) -> None:
    """Send back items whose hold is over; destroy what is past retention (idempotent)."""
    with transaction():
        returned = return_held_items()
        purged = purge()
    log.info("daily: %d held items returned; retention %s", returned, purged)


def access_reviews(message: Message) -> None:
    """Last month's access-log review for every municipality that has none yet (idempotent)."""
    month = access_review.previous_month(seoul_today())
    with transaction():
        missing = access_review.missing_reviews(month)
    for municipality_id in missing:
        try:
            with transaction():  # one each: a failure does not hold up the other municipalities
                access_review.create_review(municipality_id, month)
        except Exception:
            log.exception("access-log review of municipality %s failed", municipality_id)


@dataclass(frozen=True)
class Task:
    """A scheduled job's handler and queue."""

    handler: Callable[[Message], None]
    queue: str


TASKS = {
    "escalate": Task(escalate, ALERTS),
    "retention": Task(retention, MAINTENANCE),
    "access_reviews": Task(access_reviews, MAINTENANCE),
    GEOCODE_KIND: Task(geocode_job, MAINTENANCE),
}


def ask_for(kind: str) -> bool:
    """Queue a scheduled job unless one of its kind is waiting; whether one was queued."""
    with transaction():
        return enqueue_once(kind)

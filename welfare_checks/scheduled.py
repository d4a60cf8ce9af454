"""Scheduled upkeep as outbox jobs: the scheduler only asks for them; workers run them.

Escalation is light and urgent (the `alerts` queue); retention and the monthly access-log
reviews are heavy (`maintenance`). Each is idempotent, and the scheduler asks for a job only
while none of its kind is waiting, so a slow worker never finds a pile of the same job.
"""

from __future__ import annotations

import logging
from datetime import time

from flask import Flask

from core.clock import seoul_today
from core.db import transaction
from core.outbox import ALERTS, MAINTENANCE, Message, register_handler
from core.scheduler import Periodic, register_periodic
from municipalities.mail.services import return_held_items
from welfare_checks import access_review
from welfare_checks.alerts import escalate_overdue
from welfare_checks.cases import escalate_overdue_cases
from welfare_checks.retention import purge

log = logging.getLogger(__name__)

ESCALATE, RETENTION, ACCESS_REVIEWS = "escalate", "retention", "access_reviews"


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


def register_jobs(app: Flask) -> None:
    """Say who runs the upkeep jobs, and have the scheduler ask for them."""
    register_handler(ESCALATE, escalate, queue=ALERTS)
    register_handler(RETENTION, retention, queue=MAINTENANCE)
    register_handler(ACCESS_REVIEWS, access_reviews, queue=MAINTENANCE)
    every_s = app.config["SCHEDULER_ESCALATION_EVERY_S"]
    register_periodic(app, Periodic("escalation", ESCALATE, every_s=every_s))
    # Daily at night, Seoul time; and at takeover, so a restart never skips a day.
    register_periodic(app, Periodic("retention", RETENTION, daily_at=time(3, 30)))
    register_periodic(app, Periodic("access_reviews", ACCESS_REVIEWS, daily_at=time(4, 0)))

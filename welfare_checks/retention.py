"""Retention: personal data of closed households destroyed after the period; logs pruned.

A household qualifies when it is closed, has no open case, and nothing happened to it (its
closing, its cases' closing) for RETENTION_CLOSED_DAYS. Its name, phone, note, address and
position are overwritten, its check reports' answers, its cases' notes and its visits' free text
and signatures are erased (the visits by the carrier app's purge step); the rows themselves stay,
so counts and statistics stay correct.
Access logs older than ACCESS_LOG_RETENTION_DAYS and permission records older than
PERMISSION_LOG_RETENTION_DAYS are deleted (the database refuses it any earlier), and finished
outbox jobs (sent or dead: their payloads name accounts and carry alert texts) and finished
import jobs (their row reports quote cells of the file) after OUTBOX_KEEP_DAYS. Idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from core.audit import AccessLog
from core.auth.services import prune_permission_events
from core.db import db, utcnow
from core.hooks import Hook
from core.jobs import FINISHED, Job
from core.outbox import OutboxMessage
from municipalities.erasure import closed_households, erase_households
from welfare_checks.models import Case, CaseEvent, CheckReport

# Households erased per round: their ids go into the queries' IN lists.
BATCH = 1000
# What the packages above keep about a household (the carrier app's visits) is erased by the
# steps they register here, with each batch of households.
PURGE_STEPS: Hook[Callable[[list[int]], object]] = Hook("welfare_checks.purge_steps")


def add_purge_step(app: Flask, step: Callable[[list[int]], object]) -> None:
    """Run step(household_ids), in the same transaction, for every batch of households erased."""
    PURGE_STEPS.register(app, step)


@dataclass
class Purged:
    """What one run destroyed."""

    households: int = 0
    access_logs: int = 0
    permission_events: int = 0
    outbox_messages: int = 0
    jobs: int = 0


def purge(now: datetime | None = None) -> Purged:
    """Destroy what is past its retention period (in the caller's transaction)."""
    now = now or utcnow()
    config = current_app.config
    cutoff = now - timedelta(days=config["RETENTION_CLOSED_DAYS"])
    result = Purged()
    candidates = closed_households(cutoff)
    for start in range(0, len(candidates), BATCH):
        batch = candidates[start : start + BATCH]
        held = set(
            db.session.scalars(
                sa.select(Case.household_id).where(
                    Case.household_id.in_(batch),
                    sa.or_(Case.status != "closed", Case.closed_at > cutoff),
                )
            )
        )
        erased = [household_id for household_id in batch if household_id not in held]
        if erased:
            _destroy(erased)
        result.households += len(erased)
    result.access_logs = db.session.execute(
        sa.delete(AccessLog).where(
            AccessLog.at < now - timedelta(days=config["ACCESS_LOG_RETENTION_DAYS"])
        )
    ).rowcount
    result.permission_events = prune_permission_events(
        now - timedelta(days=config["PERMISSION_LOG_RETENTION_DAYS"])
    )
    result.outbox_messages = db.session.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.status.in_(("sent", "dead")),
            OutboxMessage.created_at < now - timedelta(days=config["OUTBOX_KEEP_DAYS"]),
        )
    ).rowcount
    result.jobs = db.session.execute(
        sa.delete(Job).where(
            Job.status.in_(FINISHED),
            Job.finished_at < now - timedelta(days=config["OUTBOX_KEEP_DAYS"]),
        )
    ).rowcount
    db.session.flush()
    return result


def _destroy(household_ids: list[int]) -> None:
    erase_households(household_ids)
    empty = json.dumps({})
    for report in db.session.scalars(
        sa.select(CheckReport).where(CheckReport.household_id.in_(household_ids))
    ):
        report.answers = empty
    case_ids = sa.select(Case.id).where(Case.household_id.in_(household_ids))
    db.session.execute(
        sa.update(CaseEvent).where(CaseEvent.case_id.in_(case_ids)).values(note=None)
    )
    for step in PURGE_STEPS.entries():
        step(household_ids)

"""Retention: personal data of closed households destroyed after the period; logs pruned.

A household qualifies when it is closed, has no open case, and nothing happened to it (its
closing, its cases' closing) for RETENTION_CLOSED_DAYS. Its name, phone, note, address and
position are overwritten, its check reports' answers, its cases' notes and its visits' free text
and signatures are erased; the rows themselves stay, so counts and statistics stay correct.
Access logs older than ACCESS_LOG_RETENTION_DAYS and permission records older than
PERMISSION_LOG_RETENTION_DAYS are deleted (the database refuses it any earlier), and finished
outbox jobs (sent or dead: their payloads name accounts and carry alert texts) and finished
import jobs (their row reports quote cells of the file) after OUTBOX_KEEP_DAYS. Idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core.audit import AccessLog
from core.auth.models import PermissionEvent
from core.db import db, utcnow
from core.jobs import FINISHED, Job
from core.outbox import OutboxMessage
from municipalities.models import Household
from welfare_checks.models import Case, CaseEvent, CheckReport

PURGED = "(파기됨)"
# The carrier app's visits, named here by table: carrier_api sits above this package.
_VISITS = sa.table(
    "visits",
    sa.column("household_id"),
    sa.column("other_text"),
    sa.column("signature"),
    sa.column("signature_type"),
    sa.column("relation"),
)


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
    recent_case = sa.select(Case.household_id).where(
        sa.or_(Case.status != "closed", Case.closed_at > cutoff)
    )
    candidates = db.session.scalars(
        sa.select(Household).where(
            Household.status == "closed",
            Household.closed_at <= cutoff,
            # (name is ciphertext in SQL: the plain dedup key marks a purged household)
            ~Household.dedup_key.startswith("purged-"),
            Household.id.not_in(recent_case),
        )
    ).all()
    for household in candidates:
        _destroy(household)
    result = Purged(households=len(candidates))
    result.access_logs = db.session.execute(
        sa.delete(AccessLog).where(
            AccessLog.at < now - timedelta(days=config["ACCESS_LOG_RETENTION_DAYS"])
        )
    ).rowcount
    result.permission_events = db.session.execute(
        sa.delete(PermissionEvent).where(
            PermissionEvent.at < now - timedelta(days=config["PERMISSION_LOG_RETENTION_DAYS"])
        )
    ).rowcount
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


def _destroy(household: Household) -> None:
    household.name = PURGED
    household.name_index = f"purged-{household.id}"
    household.dedup_key = f"purged-{household.id}"
    household.phone = household.note = household.address_detail = household.postal_code = None
    household.road_address = PURGED
    household.lon = household.lat = None
    household.preferred_hours = []
    household.risk_sources = []
    empty = json.dumps({})
    for report in db.session.scalars(
        sa.select(CheckReport).where(CheckReport.household_id == household.id)
    ):
        report.answers = empty
    case_ids = sa.select(Case.id).where(Case.household_id == household.id)
    db.session.execute(
        sa.update(CaseEvent).where(CaseEvent.case_id.in_(case_ids)).values(note=None)
    )
    db.session.execute(
        sa.update(_VISITS)
        .where(_VISITS.c.household_id == household.id)
        .values(other_text=None, signature=None, signature_type=None, relation=None)
    )

"""Check reports: the triaged result of a welfare visit, for the owning municipality."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow


class CheckReport(db.Model):
    """One welfare visit's survey as triaged: severity and the rules that fired."""

    __tablename__ = "check_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id"), unique=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    mail_item_id: Mapped[int] = mapped_column(sa.ForeignKey("mail_items.id"))
    form: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int]
    #: The survey's `contact` answer: whom the carrier met (absent: nobody answered).
    contact: Mapped[str] = mapped_column(sa.String(20))
    answers: Mapped[str] = mapped_column(EncryptedText())  # the validated answers, JSON
    #: The visit's outcome and flags (far_from_household, reassigned, ...), as the carrier sent.
    outcome: Mapped[str] = mapped_column(sa.String(24))
    flags: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: emergency | urgent | watch | none
    severity: Mapped[str] = mapped_column(sa.String(10), index=True)
    fired: Mapped[list] = mapped_column(sa.JSON, default=list)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the phone's clock
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Alert(db.Model):
    """An emergency or urgent report brought to the welfare team's attention at once."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("check_reports.id"), unique=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    severity: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OnDuty(db.Model):
    """A social worker on duty for the municipality's alerts (none listed: every one is)."""

    __tablename__ = "on_duty"
    __table_args__ = (sa.UniqueConstraint("municipality_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))


class SchedulerTick(db.Model):
    """A run of the scheduler's probe job: a second twice would show a double scheduler."""

    __tablename__ = "scheduler_ticks"

    id: Mapped[int] = mapped_column(primary_key=True)
    tick: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    runner: Mapped[str] = mapped_column(sa.String(40))

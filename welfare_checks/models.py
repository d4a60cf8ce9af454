"""Check reports: the triaged result of a welfare visit, for the owning municipality."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow


class CheckReport(db.Model):
    """One welfare visit's survey as triaged: severity and the rules that fired."""

    __tablename__ = "check_reports"
    # The inbox's newest report (the staff pages' poll): max(id) of a municipality from the index.
    __table_args__ = (sa.Index("ix_check_reports_municipality_id_id", "municipality_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id"), unique=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"))
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
    # The open alerts of a municipality (the navigation's count, the pages' poll) from the index.
    __table_args__ = (
        sa.Index("ix_alerts_municipality_id_acknowledged_at", "municipality_id", "acknowledged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("check_reports.id"), unique=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"))
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


class Case(db.Model):
    """A follow-up case: a household in need, owned by a social worker until closed."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("check_reports.id"), unique=True)
    severity: Mapped[str] = mapped_column(sa.String(10))
    #: new | in_progress | linked_public | linked_private | no_need | unreachable | closed
    status: Mapped[str] = mapped_column(sa.String(16), default="new", index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)


class CaseEvent(db.Model):
    """One step of a case's history: opened, assigned, a status change, a note, reopened."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    action: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.String(16))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    note: Mapped[str | None] = mapped_column(EncryptedText())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CasePolicy(db.Model):
    """A municipality's case rules: open cases for watch checks too, and its service levels."""

    __tablename__ = "case_policies"

    municipality_id: Mapped[int] = mapped_column(
        sa.ForeignKey("municipalities.id"), primary_key=True
    )
    open_on_watch: Mapped[bool] = mapped_column(default=False)
    #: Hours to a first response by severity, e.g. {"emergency": 4}; missing: the defaults.
    due_hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class AccessReview(db.Model):
    """A municipality's monthly access-log review (접속기록 점검; 안전성 확보조치 기준 제8조)."""

    __tablename__ = "access_log_reviews"
    __table_args__ = (sa.UniqueConstraint("municipality_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    month: Mapped[date]  # the first day of the calendar month (Seoul)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Per account: accesses by action, households as counts, exports, off-hours; findings.
    summary: Mapped[dict] = mapped_column(sa.JSON)
    findings_count: Mapped[int]
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    check_note: Mapped[str | None] = mapped_column(EncryptedText())

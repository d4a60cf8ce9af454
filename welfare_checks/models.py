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

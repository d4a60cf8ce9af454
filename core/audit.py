"""The append-only access log of personal data (개인정보 접속기록; 안전성 확보조치 기준 제8조)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, utcnow


class AccessLog(db.Model):
    """Who (식별자), when (접속일시), where (접속지), whose data (정보주체), what (수행업무)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    #: view | list | create | update | close | import | export | print | decrypt_rotate ...
    action: Mapped[str] = mapped_column(sa.String(32))
    subject_type: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[int | None] = mapped_column(index=True)
    municipality_id: Mapped[int | None] = mapped_column(index=True)
    #: Non-personal context only (field names, counts, reasons); never names or phones.
    detail: Mapped[str | None] = mapped_column(sa.String(500))


@event.listens_for(AccessLog, "before_update")
@event.listens_for(AccessLog, "before_delete")
def _refuse_change(mapper, connection, target) -> None:
    raise RuntimeError("the access log is append-only")


def client_ip() -> str | None:
    """The client address of the current request (ProxyFix decides what to trust)."""
    return request.remote_addr if has_request_context() else None


def record_access(
    account_id: int | None,
    action: str,
    subject_type: str,
    subject_ids: Iterable[int | None],
    municipality_id: int | None,
    detail: str | None = None,
    *,
    ip: str | None = None,
) -> None:
    """Append one access-log row per subject; flushed with the caller's transaction.

    `ip` names where the person connected from when no request is at hand (a job they started).
    """
    now = utcnow().replace(microsecond=0)
    ip = ip or client_ip()
    rows = [
        {
            "at": now,
            "account_id": account_id,
            "ip": ip,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "municipality_id": municipality_id,
            "detail": detail,
        }
        for subject_id in subject_ids
    ]
    if rows:
        # A Core executemany: an import logs 100,000 rows, and the ORM's bulk insert adds
        # per-row bookkeeping that nothing here needs (every row names every column).
        db.session.execute(sa.insert(AccessLog.__table__), rows)

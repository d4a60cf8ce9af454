"""Accounts, API tokens, staff page sessions and the permission-change record."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, utcnow


class Account(db.Model):
    """One person's login; bound to a municipality or a delivery office by role."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(32))
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipalities.id"), index=True
    )
    office_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    #: Work address for alert e-mails. Stored plain, unlike residents' data: a staff member's
    #: work contact is low-risk and must be readable by the worker that sends the mail. It is
    #: still personal data, so it is never logged nor put in an outbox payload.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sessions and tokens issued before this instant are dead (disable, password change).
    sessions_valid_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(db.Model):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(db.Model):
    """A staff page session: the cookie carries only its random id, stored here as SHA-256."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PermissionEvent(db.Model):
    """Append-only record of every grant, change and revocation of access (kept >= 3 years)."""

    __tablename__ = "permission_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    #: grant | change | revoke | disable | enable | revoke_tokens | unlock | reset_password
    action: Mapped[str] = mapped_column(sa.String(32))
    old_role: Mapped[str | None] = mapped_column(sa.String(32))
    new_role: Mapped[str | None] = mapped_column(sa.String(32))
    #: "municipality:3" / "office:1" / None: the tenant before and after.
    old_scope: Mapped[str | None] = mapped_column(sa.String(40))
    new_scope: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(45))

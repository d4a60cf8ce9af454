"""Mail tables: templates, mailings, registered numbers, items, tracking, letters, webhooks."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow


class LetterTemplate(db.Model):
    """A municipality's letter text with merge fields ({addressee}, {address}, ...)."""

    __tablename__ = "letter_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    body: Mapped[str] = mapped_column(sa.Text)
    #: The municipality's contact printed in letters (team, phone).
    contact: Mapped[str] = mapped_column(sa.String(200))
    #: Welfare programmes on offer, one per line.
    programmes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Mailing(db.Model):
    """One welfare mailing: chosen households, a letter and a send date."""

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("letter_templates.id"))
    #: {"household_ids": [...]} or a saved filter {"risk_source", "household_type", ...}.
    selection: Mapped[dict] = mapped_column(sa.JSON)
    send_date: Mapped[date]
    #: draft | submitted | cancelled
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    #: The template as it was at submission (later template edits do not change sent letters).
    body_snapshot: Mapped[str | None] = mapped_column(sa.Text)
    item_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RegisteredNumberCounter(db.Model):
    """The next free serial of each year's registered numbers (allocated in blocks)."""

    __tablename__ = "registered_number_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    next_serial: Mapped[int] = mapped_column(sa.BigInteger)


class MailItem(db.Model):
    """One registered letter to one household, bound to its office and carrier district."""

    __tablename__ = "mail_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    registered_number: Mapped[str] = mapped_column(sa.String(13), unique=True)
    mailing_id: Mapped[int] = mapped_column(sa.ForeignKey("mailings.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("carrier_districts.id"), index=True)
    #: Derived from the events (municipalities.tracking); stored for queries.
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    #: The working day the item is next due on a round (set when it reaches the office, on a
    #: redelivery, and when a day's plan could not fit it); None when not at the office.
    due_on: Mapped[date | None] = mapped_column(index=True)
    #: Why a returned item came back: moved | address_unknown | refused | absent_limit | ...
    return_reason: Mapped[str | None] = mapped_column(sa.String(20))
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("letter_batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TrackingEvent(db.Model):
    """One step of an item's journey: what, when, where and who."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("mail_items.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    place: Mapped[str | None] = mapped_column(sa.String(100))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    #: Non-personal detail (e.g. "2nd attempt"); never names.
    detail: Mapped[str | None] = mapped_column(sa.String(200))


class LetterBatch(db.Model):
    """The print-ready letters of one mailing for one delivery office."""

    __tablename__ = "letter_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(sa.ForeignKey("mailings.id"), index=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_offices.id"))
    #: queued | producing | produced | failed
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    item_count: Mapped[int] = mapped_column(default=0)
    #: Letters rendered so far while producing (the mailing page's progress bar).
    rendered_count: Mapped[int] = mapped_column(default=0, server_default="0")
    page_count: Mapped[int | None]
    pdf_path: Mapped[str | None] = mapped_column(sa.String(300))
    manifest_path: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    produced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookEndpoint(db.Model):
    """A municipality's own system that receives signed item status changes."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    secret: Mapped[str] = mapped_column(EncryptedText())
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(db.Model):
    """The delivery log: one row per attempt to POST one event to one endpoint."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id"), index=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox.id"), index=True)
    event_id: Mapped[str] = mapped_column(sa.String(40))
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(300))
    duration_ms: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

"""Carriers' phones: enrolment codes, devices and their tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow


class EnrolmentCode(db.Model):
    """A one-time code a dispatcher gives a carrier to enrol a phone; only its hash is kept."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Device(db.Model):
    """An enrolled phone of a carrier; revoking it cuts it off at once."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(100))
    platform: Mapped[str | None] = mapped_column(sa.String(20))
    fcm_token: Mapped[str | None] = mapped_column(EncryptedText())
    fcm_token_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))


class DeviceToken(db.Model):
    """An access or refresh token of a device; refresh tokens rotate within a family."""

    __tablename__ = "device_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id"), index=True)
    #: access | refresh
    kind: Mapped[str] = mapped_column(sa.String(8))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A refresh token is used once; a second use means it was stolen (the device is cut off).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PushDelivery(db.Model):
    """A push message delivered to one device: a retried message skips devices already served."""

    __tablename__ = "push_deliveries"
    __table_args__ = (sa.UniqueConstraint("message_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox.id"), index=True)
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Visit(db.Model):
    """What a carrier recorded at a door: outcome, position, survey; kept even when flagged.

    `client_uuid` is the app's key for the record: a replay with the same payload gets the
    stored answer back, a different payload under the same key is refused.
    """

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("devices.id"))
    plan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("route_plans.id"))
    stop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("plan_stops.id"), index=True)
    mail_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mail_items.id"), index=True)
    office_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("office_items.id"))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    #: The municipality that owns the welfare item (its social workers see the visit).
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipalities.id"), index=True
    )
    outcome: Mapped[str] = mapped_column(sa.String(24))
    relation: Mapped[str | None] = mapped_column(sa.String(40))
    other_text: Mapped[str | None] = mapped_column(EncryptedText())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the phone's clock
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lon: Mapped[float]
    lat: Mapped[float]
    accuracy_m: Mapped[float]
    distance_m: Mapped[float | None]
    #: far_from_household | reassigned | item_not_open | recorded_in_future
    flags: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: The survey's form and version; its answers are in the visit's check report.
    survey_form: Mapped[str | None] = mapped_column(sa.String(40))
    survey_version: Mapped[int | None]
    signature_type: Mapped[str | None] = mapped_column(sa.String(20))
    signature: Mapped[str | None] = mapped_column(EncryptedText())  # base64
    response: Mapped[dict] = mapped_column(sa.JSON, default=dict)

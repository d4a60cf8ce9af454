"""Municipalities (the tenants) and their at-risk household registry."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow


class Municipality(db.Model):
    """A 지자체 with its agreement (협약) with the post office."""

    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 행정표준코드 of the si/gun/gu (5 digits).
    code: Mapped[str] = mapped_column(sa.String(10), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: The sender identity printed on letters: department, return address, phone, contact.
    department: Mapped[str | None] = mapped_column(sa.String(100))
    road_address: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(5))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    contact_person: Mapped[str | None] = mapped_column(sa.String(50))
    #: none | pending | active | suspended | ended
    agreement_status: Mapped[str] = mapped_column(sa.String(16), default="none")
    agreement_start: Mapped[date | None]
    agreement_end: Mapped[date | None]
    #: Minutes within which an urgent welfare visit to one of its households is due, counted
    #: from its insertion into the day's rounds (from the first shift's start before that).
    urgent_due_minutes: Mapped[int] = mapped_column(default=120, server_default="120")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Household(db.Model):
    """A household suspected of being in crisis, registered by one municipality."""

    __tablename__ = "households"
    __table_args__ = (
        # The same household (normalized name + address) is registered once per municipality.
        sa.UniqueConstraint("municipality_id", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(EncryptedText())
    #: HMAC blind index of the normalized name, for exact-match search.
    name_index: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: HMAC blind index of normalized name + road address + detail, for dedup.
    dedup_key: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(EncryptedText())
    note: Mapped[str | None] = mapped_column(EncryptedText())
    road_address: Mapped[str] = mapped_column(sa.String(200))
    address_detail: Mapped[str | None] = mapped_column(sa.String(100))
    postal_code: Mapped[str | None] = mapped_column(sa.String(5))
    household_type: Mapped[str] = mapped_column(sa.String(32), default="other")
    risk_sources: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: Hours the household prefers visits, [["HH:MM", "HH:MM"], ...] (Seoul time); empty: any.
    preferred_hours: Mapped[list] = mapped_column(sa.JSON, default=list)
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    #: given (from the file or form) | pending | geocoded | not_found
    geocode_status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    office_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("carrier_districts.id"), index=True
    )
    #: assigned | outside_districts | not_geocoded
    assignment_status: Mapped[str] = mapped_column(sa.String(20), default="not_geocoded")
    #: active | closed
    status: Mapped[str] = mapped_column(sa.String(10), default="active", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str | None] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class GeocodeCache(db.Model):
    """Answers of the geocoder per normalized address, so each address is asked once."""

    __tablename__ = "geocode_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: found | not_found
    status: Mapped[str] = mapped_column(sa.String(16))
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

"""The post's network: delivery offices, carrier districts and carriers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, utcnow


class DeliveryOffice(db.Model):
    """A delivery post office (집배국) whose carriers start and end at its depot."""

    __tablename__ = "delivery_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    road_address: Mapped[str] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(5))
    #: Weekdays the office delivers on (Monday 0 ... Sunday 6); Korean public holidays never.
    delivery_weekdays: Mapped[list[int]] = mapped_column(
        sa.JSON, default=lambda: [0, 1, 2, 3, 4], server_default=sa.text("'[0, 1, 2, 3, 4]'")
    )
    depot_lon: Mapped[float]
    depot_lat: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CarrierDistrict(db.Model):
    """A carrier district (집배구) of one office: a polygon in lon/lat, stored as GeoJSON."""

    __tablename__ = "carrier_districts"
    __table_args__ = (sa.UniqueConstraint("office_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(100))
    geometry: Mapped[dict] = mapped_column(sa.JSON)
    area_m2: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Carrier(db.Model):
    """A carrier (집배원): an account (which binds the office) with its home district."""

    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), unique=True)
    home_district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("carrier_districts.id"))
    employee_no: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: How the carrier travels: a routing.vrp.matrix profile (foot, motorbike, van).
    profile: Mapped[str] = mapped_column(sa.String(12), default="motorbike")
    #: The usual shift, minutes after midnight (Seoul), and the lunch break's length.
    shift_start_min: Mapped[int] = mapped_column(default=9 * 60)
    shift_end_min: Mapped[int] = mapped_column(default=18 * 60)
    lunch_minutes: Mapped[int] = mapped_column(default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

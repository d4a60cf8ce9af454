"""Office items and route plans: a plan's routes, its stops and what it handed out."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import EncryptedText
from core.db import UTCDateTime, db, utcnow
from routing.plans.states import PlanStatus


class OfficeItem(db.Model):
    """Another registered item of the office's day (from its own systems), delivered on a round."""

    __tablename__ = "office_items"
    __table_args__ = (sa.UniqueConstraint("office_id", "day", "registered_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    day: Mapped[date] = mapped_column(index=True)
    registered_number: Mapped[str] = mapped_column(sa.String(13))
    addressee: Mapped[str] = mapped_column(EncryptedText())
    road_address: Mapped[str] = mapped_column(sa.String(200))
    address_detail: Mapped[str | None] = mapped_column(sa.String(100))
    lon: Mapped[float]
    lat: Mapped[float]
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("carrier_districts.id"))
    service_s: Mapped[int | None]
    #: Preferred hours as [["HH:MM", "HH:MM"], ...], or empty.
    windows: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: due | delivered | absent | returned
    status: Mapped[str] = mapped_column(sa.String(16), default="due")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoutePlan(db.Model):
    """One office's plan for one day: solved by the worker, edited, published to carriers."""

    __tablename__ = "route_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_offices.id"), index=True)
    day: Mapped[date] = mapped_column(index=True)
    #: A PlanStatus: discarded is replaced before publishing; superseded (older data) is a
    #: published plan replaced by another of its day.
    status: Mapped[str] = mapped_column(sa.String(12), default=PlanStatus.QUEUED.value, index=True)
    #: A SearchStatus of a published plan being searched again: the plan keeps serving its
    #: carriers as published until the search's answer replaces its routes.
    job_status: Mapped[str | None] = mapped_column(sa.String(12))
    #: Bumped by every change; edits must name the version they saw.
    version: Mapped[int] = mapped_column(default=1)
    time_limit_s: Mapped[int]
    #: The solver's figures of the last solve (VROOM summary) and its search status.
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.String(300))
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))


class PlanRoute(db.Model):
    """A carrier's route in a plan: the vehicle it was planned as and the route's figures."""

    __tablename__ = "plan_routes"
    __table_args__ = (sa.UniqueConstraint("plan_id", "carrier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("route_plans.id"), index=True)
    carrier_id: Mapped[int] = mapped_column(sa.ForeignKey("carriers.id"), index=True)
    profile: Mapped[str] = mapped_column(sa.String(12))
    shift_start_s: Mapped[int]
    shift_end_s: Mapped[int]
    lunch_s: Mapped[int]
    #: Figures of the timed route (seconds after midnight, metres); None before it is timed.
    start_s: Mapped[int | None]
    end_s: Mapped[int | None]
    lunch_start_s: Mapped[int | None]
    distance_m: Mapped[int] = mapped_column(default=0)
    travel_s: Mapped[int] = mapped_column(default=0)
    service_s: Mapped[int] = mapped_column(default=0)
    waiting_s: Mapped[int] = mapped_column(default=0)


class PlanStop(db.Model):
    """One stop of a plan: a welfare item or an office item, on a route or unassigned."""

    __tablename__ = "plan_stops"
    __table_args__ = (
        # An item is on at most one open plan (not superseded, its day not over): the database
        # refuses a second claim whatever path inserts it.
        sa.Index(
            "uq_plan_stops_claimed_mail_item",
            "mail_item_id",
            unique=True,
            sqlite_where=sa.text("claimed"),
            postgresql_where=sa.text("claimed"),
        ),
        sa.Index(
            "uq_plan_stops_claimed_office_item",
            "office_item_id",
            unique=True,
            sqlite_where=sa.text("claimed"),
            postgresql_where=sa.text("claimed"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("route_plans.id"), index=True)
    #: welfare | registered
    kind: Mapped[str] = mapped_column(sa.String(12))
    mail_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mail_items.id"), index=True)
    office_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("office_items.id"))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("carrier_districts.id"))
    lon: Mapped[float]
    lat: Mapped[float]
    service_s: Mapped[int]
    windows: Mapped[list] = mapped_column(sa.JSON, default=list)  # [[start_s, end_s], ...]
    priority: Mapped[int]
    #: Carriers the stop prefers (district's, last visitor's), best first.
    preferred_carriers: Mapped[list] = mapped_column(sa.JSON, default=list)
    urgent: Mapped[bool] = mapped_column(default=False)
    carrier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("carriers.id"), index=True)
    position: Mapped[int | None]
    locked: Mapped[bool] = mapped_column(default=False)
    arrival_s: Mapped[int | None]
    waiting_s: Mapped[int | None]
    late: Mapped[bool] = mapped_column(default=False)
    #: An urgent visit's due time (seconds after midnight); served after it, the stop is late.
    due_s: Mapped[int | None]
    #: Why an urgent visit is served after its due time.
    late_reason: Mapped[str | None] = mapped_column(sa.String(200))
    unassigned_reason: Mapped[str | None] = mapped_column(sa.String(200))
    #: True while the plan is open (not superseded, its day not over); None once released.
    claimed: Mapped[bool | None] = mapped_column(default=True)


class RouteHandout(db.Model):
    """An item handed to a carrier on a published plan version: who may record its visit.

    Written when a plan is published and whenever a published plan's routes change; never
    updated or deleted, so a stop moved to a colleague while the phone was offline is still
    known to have been the first carrier's.
    """

    __tablename__ = "route_handouts"
    __table_args__ = (
        sa.Index("ix_route_handouts_carrier_mail_item", "carrier_id", "mail_item_id"),
        sa.Index("ix_route_handouts_carrier_office_item", "carrier_id", "office_item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("route_plans.id"), index=True)
    stop_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_stops.id"))
    carrier_id: Mapped[int] = mapped_column(sa.ForeignKey("carriers.id"))
    mail_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mail_items.id"))
    office_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("office_items.id"))
    #: The plan version that handed it out.
    version: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

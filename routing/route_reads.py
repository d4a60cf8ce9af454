"""What the carrier app reads of the routes: a carrier's published route of a day with its stops,
the stop of a scanned number, and the stop a visit to an item belongs to.

Phones ask all day: each read is one statement, built once, over only the columns it needs. A
welfare stop carries its mail item's id; what its door shows is the mail's to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from core.db import db
from municipalities.mail.stops import item_of_number
from postal.directory import carrier_of_account
from routing.models import OfficeItem, PlanRoute, PlanStop, RouteHandout, RoutePlan
from routing.plans.states import HANDED_OUT, PlanStatus


@dataclass(frozen=True)
class RouteStop:
    """A stop of a published route; the door facts (number to addressee) are its office item's,
    None on a welfare stop (mail_item_id)."""

    stop_id: int
    position: int | None
    arrival_s: int | None
    kind: str
    urgent: bool
    lon: float
    lat: float
    #: [[start_s, end_s], ...]
    windows: list
    mail_item_id: int | None
    registered_number: str | None
    status: str | None
    addressee: str | None
    road_address: str | None
    address_detail: str | None


@dataclass(frozen=True)
class CarrierRoute:
    """A carrier's route in the office's published plan of a day (no plan: no id, no stops)."""

    plan_id: int | None
    version: int | None
    start_s: int | None
    end_s: int | None
    stops: list[RouteStop]


@dataclass(frozen=True)
class VisitedStop:
    """The stop a carrier's visit to an item belongs to: their own, else (reassigned) the
    newest."""

    stop_id: int
    plan_id: int
    reassigned: bool


_CALLER = carrier_of_account(sa.bindparam("account_id"))
_PUBLISHED = sa.and_(
    RoutePlan.office_id == sa.bindparam("office_id"),
    RoutePlan.day == sa.bindparam("day"),
    RoutePlan.status == PlanStatus.PUBLISHED,
)
_STOP = (
    PlanStop.id.label("stop_id"),
    PlanStop.position,
    PlanStop.arrival_s,
    PlanStop.kind,
    PlanStop.urgent,
    PlanStop.lon,
    PlanStop.lat,
    PlanStop.windows,
    PlanStop.mail_item_id,
    OfficeItem.registered_number,
    OfficeItem.status,
    OfficeItem.addressee,
    OfficeItem.road_address,
    OfficeItem.address_detail,
)
_CALLER_ROW = _CALLER.subquery("caller")
_ROUTE_HEAD = (
    _CALLER_ROW.c.id,
    RoutePlan.id,
    RoutePlan.version,
    PlanRoute.start_s,
    PlanRoute.end_s,
)
# In one statement, each row repeating the head: the caller's carrier row, the day's published
# plan (if any), the caller's route in it, then one of its stops. No carrier row, no row at all.
_ROUTE = (
    sa.select(*_ROUTE_HEAD, *_STOP)
    .select_from(_CALLER_ROW)
    .outerjoin(RoutePlan, _PUBLISHED)
    .outerjoin(
        PlanRoute,
        sa.and_(PlanRoute.plan_id == RoutePlan.id, PlanRoute.carrier_id == _CALLER_ROW.c.id),
    )
    .outerjoin(
        PlanStop,
        sa.and_(PlanStop.plan_id == RoutePlan.id, PlanStop.carrier_id == _CALLER_ROW.c.id),
    )
    .outerjoin(OfficeItem, OfficeItem.id == PlanStop.office_item_id)
    .order_by(PlanStop.position)
)
_SCAN = (
    sa.select(*_STOP)
    .join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
    .outerjoin(OfficeItem, OfficeItem.id == PlanStop.office_item_id)
    .where(
        _PUBLISHED,
        PlanStop.carrier_id == _CALLER.scalar_subquery(),
        sa.or_(
            PlanStop.mail_item_id.in_(item_of_number(sa.bindparam("number"))),
            OfficeItem.registered_number == sa.bindparam("number"),
        ),
    )
)
# An item's stops on routes handed out (published or since superseded), newest first (a stop of
# today's plan wins over an older one of the same item), each marked whether it is the caller's
# now, and whether any published version ever gave the item to the caller (route_handouts):
# only then may the caller record its visit.
_NEWEST = (RoutePlan.day.desc(), RoutePlan.published_at.desc())
_HANDED_OUT = (
    sa.select(
        PlanStop.id.label("stop_id"),
        PlanStop.plan_id,
        (PlanStop.carrier_id == _CALLER.scalar_subquery()).label("own"),
    )
    .join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
    .where(RoutePlan.status.in_(HANDED_OUT), PlanStop.carrier_id.is_not(None))
)


def _handed_to_caller(item_column: Any, item_id: Any) -> sa.Label[bool]:
    return (
        sa.exists()
        .where(item_column == item_id, RouteHandout.carrier_id == _CALLER.scalar_subquery())
        .label("handed")
    )


_MAIL_ITEM_STOPS = (
    _HANDED_OUT.add_columns(_handed_to_caller(RouteHandout.mail_item_id, sa.bindparam("item_id")))
    .where(PlanStop.mail_item_id == sa.bindparam("item_id"))
    .order_by(*_NEWEST)
)
_OFFICE_ITEM_STOPS = (
    _HANDED_OUT.add_columns(
        OfficeItem, _handed_to_caller(RouteHandout.office_item_id, OfficeItem.id)
    )
    .join(OfficeItem, OfficeItem.id == PlanStop.office_item_id)
    .where(
        OfficeItem.registered_number == sa.bindparam("number"),
        OfficeItem.office_id == sa.bindparam("office_id"),
    )
    .order_by(OfficeItem.day.desc(), *_NEWEST)
    .options(sa.orm.defer(OfficeItem.addressee))  # the item's status changes; its name is not read
)


def published_route(account_id: int, office_id: int, day: date) -> CarrierRoute | None:
    """The account's route in the office's published plan of the day, its stops in order; None
    when the account is no carrier."""
    params = {"account_id": account_id, "office_id": office_id, "day": day}
    rows = db.session.execute(_ROUTE, params).all()
    if not rows:
        return None
    head = len(_ROUTE_HEAD)
    _, plan_id, version, start_s, end_s = rows[0][:head]
    stops = [RouteStop(*row[head:]) for row in rows if row.stop_id is not None]
    return CarrierRoute(plan_id, version, start_s, end_s, stops)


def stop_of_number(account_id: int, office_id: int, day: date, number: str) -> RouteStop | None:
    """The stop holding this registered number (welfare or office item) on the account's route
    in the office's published plan of the day, or None."""
    params = {"account_id": account_id, "office_id": office_id, "day": day, "number": number}
    row = db.session.execute(_SCAN, params).first()
    return None if row is None else RouteStop(*row)


def mail_item_visited(account_id: int, mail_item_id: int) -> VisitedStop | None:
    """Where the account's visit to a welfare item belongs; None when no published version ever
    gave the item to the account's carrier."""
    params = {"account_id": account_id, "item_id": mail_item_id}
    return _visited(db.session.execute(_MAIL_ITEM_STOPS, params).all())


def office_item_visited(
    account_id: int, office_id: int, number: str
) -> tuple[OfficeItem, VisitedStop] | None:
    """The office's item with this number on routes handed out (the newest day's) and where the
    account's visit to it belongs; None when it was never the account's carrier's."""
    params = {"account_id": account_id, "office_id": office_id, "number": number}
    rows = db.session.execute(_OFFICE_ITEM_STOPS, params).all()
    if not rows:
        return None
    # A number can come back on another day as another office item: the newest one.
    item = rows[0].OfficeItem
    stop = _visited([row for row in rows if row.OfficeItem is item])
    return None if stop is None else (item, stop)


def _visited(rows: list[sa.Row]) -> VisitedStop | None:
    """The caller's stop among an item's stops (newest first), else the newest; None when no
    published version ever gave the item to the caller (a colleague's item is not theirs)."""
    if not rows or not rows[0].handed:
        return None
    mine = next((row for row in rows if row.own), None)
    # Not (or no longer) on the caller's route, moved to a colleague while the phone was
    # offline: the newest stop, marked reassigned.
    stop = mine or rows[0]
    return VisitedStop(stop.stop_id, stop.plan_id, reassigned=mine is None)

"""A plan's routes and stops as stored: in route order, which are done, and moving one."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import db
from core.errors import Invalid
from municipalities.mail.stops import open_items
from routing.models import OfficeItem, PlanRoute, PlanStop
from routing.vrp.answers import (
    REASON_CAPACITY,
    REASON_GENERIC,
    REASON_LOCKED,
    REASON_NOT_ROUTED,
    REASON_RANGE,
    REASON_SKILLS,
    REASON_WINDOW,
)

# Why a stop is on no route, shown to the dispatcher: the solver's reasons and planning's own.
REASONS = {
    REASON_WINDOW: "희망 시간에 갈 집배원이 없습니다. (No carrier in time.)",
    REASON_GENERIC: "근무 시간에 들어가지 않습니다. (Does not fit the shifts.)",
    REASON_LOCKED: "고정된 집배원이 배달할 수 없습니다. (Its carrier cannot.)",
    REASON_NOT_ROUTED: "배정되지 않았습니다. (Not on any route.)",
    REASON_SKILLS: "배달할 수 있는 집배원이 없습니다. (No carrier can take it.)",
    REASON_CAPACITY: "집배원이 실을 수 있는 양을 넘습니다. (Too much to carry.)",
    REASON_RANGE: "집배원의 이동 한도를 넘습니다. (Beyond every carrier's range.)",
    "passed": "희망 시간이 이미 지났습니다. (Its preferred hours have passed.)",
    "rolled_over": "다음 배달일로 넘어갔습니다. (Rolled over to the next delivery day.)",
}


def plan_routes(plan_id: int) -> list[PlanRoute]:
    """The plan's routes, one per carrier, in a stable order."""
    return list(
        db.session.scalars(
            sa.select(PlanRoute).where(PlanRoute.plan_id == plan_id).order_by(PlanRoute.id)
        )
    )


def plan_stops(plan_id: int) -> list[PlanStop]:
    """The plan's stops, routed or not, in a stable order."""
    return list(
        db.session.scalars(
            sa.select(PlanStop).where(PlanStop.plan_id == plan_id).order_by(PlanStop.id)
        )
    )


def ordered(stops: list[PlanStop], carrier_id: int) -> list[PlanStop]:
    """The carrier's stops in route order."""
    on_route = [s for s in stops if s.carrier_id == carrier_id and s.position is not None]
    return sorted(on_route, key=lambda s: s.position)


def route_orders(plan_id: int) -> dict[int, list[int]]:
    """Each carrier's stop ids in route order."""
    stops = plan_stops(plan_id)
    return {
        r.carrier_id: [s.id for s in ordered(stops, r.carrier_id)] for r in plan_routes(plan_id)
    }


def done_stop_ids(stops: list[PlanStop]) -> set[int]:
    """Stops already visited on their route: pinned where and when it happened."""
    closed = closed_stop_ids(stops)
    return {s.id for s in stops if s.arrival_s is not None and s.id in closed}


def mail_item_ids(stops: list[PlanStop]) -> list[int]:
    """The welfare mail items of the stops."""
    return [s.mail_item_id for s in stops if s.mail_item_id is not None]


def closed_stop_ids(stops: list[PlanStop]) -> set[int]:
    """Stops whose item left the office's hands (visited, or closed some other way)."""
    open_mail = open_items(mail_item_ids(stops))
    office_ids = [s.office_item_id for s in stops if s.office_item_id is not None]
    open_office = set(
        db.session.scalars(
            sa.select(OfficeItem.id).where(
                OfficeItem.id.in_(office_ids), OfficeItem.status == "due"
            )
        )
    )
    return {
        s.id
        for s in stops
        if (s.mail_item_id is not None and s.mail_item_id not in open_mail)
        or (s.office_item_id is not None and s.office_item_id not in open_office)
    }


def place(
    plan_id: int,
    stops: list[PlanStop],
    stop: PlanStop,
    carrier_id: int | None,
    position: int | None,
) -> None:
    """Put the stop on the carrier's route at `position` (None: last), or off every route."""
    if carrier_id is not None and carrier_id not in {r.carrier_id for r in plan_routes(plan_id)}:
        raise Invalid(fields={"carrier_id": ["이 계획의 집배원이 아닙니다. (Not on this plan.)"]})
    if stop.carrier_id is not None:
        rest = [s for s in ordered(stops, stop.carrier_id) if s.id != stop.id]
        for index, other in enumerate(rest):
            other.position = index
    stop.carrier_id = carrier_id
    if carrier_id is None:
        stop.position, stop.locked = None, False
        stop.unassigned_reason = REASONS[REASON_NOT_ROUTED]
        return
    target = [s for s in ordered(stops, carrier_id) if s.id != stop.id]
    index = len(target) if position is None else min(position, len(target))
    target.insert(index, stop)
    for i, other in enumerate(target):
        other.position = i
    stop.unassigned_reason = None

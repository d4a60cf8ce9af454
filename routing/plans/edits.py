"""A dispatcher's changes to a solved plan, each at the version they read.

Moving and (un)locking a stop re-time the routes at once, without a search, and so does an
urgent visit that fits into the routes as they stand; re-optimising queues a search, and so does
an urgent visit that does not fit; publishing hands the plan to its carriers. A change to a
published plan is handed out again and pushed to the carriers whose route changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from core.auth.principal import Principal
from core.db import db, utcnow
from core.errors import Conflict, Invalid, NotFound
from core.inputs import UNSET, Unset
from municipalities.mail.stops import DUE_STATUSES, ItemToPlan, item_to_plan, roll_over
from municipalities.services import urgent_due_minutes
from postal.directory import home_districts, office_by_id
from postal.services import next_delivery_day
from routing import postal_model
from routing.models import OfficeItem, PlanStop, RoutePlan
from routing.plans import days
from routing.plans.access import editable_plan
from routing.plans.claims import claim
from routing.plans.handout import hand_out, notify_changes, push_to_carrier
from routing.plans.problem import build_problem, retime
from routing.plans.settings import Settings
from routing.plans.start import last_carriers, preferred_carriers, welfare_stop
from routing.plans.states import PlanStatus, set_status
from routing.plans.stops import (
    done_stop_ids,
    mail_item_ids,
    place,
    plan_routes,
    plan_stops,
    route_orders,
)
from routing.plans.worker import queue_search
from routing.vrp.insertion import LATE_OTHERS, LATE_UNREACHABLE, Insertion, insert_into_routes
from routing.vrp.matrix import MatrixError


@dataclass(frozen=True)
class StopEdit:
    """What to change of a stop of the plan read at `version` (UNSET: unchanged)."""

    version: int
    #: The carrier whose route takes the stop (None: off every route).
    carrier_id: int | None | Unset = UNSET
    #: The place on the route, 0 first (UNSET with a carrier: last).
    position: int | Unset = UNSET
    locked: bool | Unset = UNSET


def edit_stop(principal: Principal, plan_id: int, stop_id: int, edit: StopEdit) -> RoutePlan:
    """Move a stop to another carrier or position (or off every route), or (un)lock it."""
    plan = editable_plan(principal, plan_id, edit.version)
    stops = plan_stops(plan.id)
    stop = next((s for s in stops if s.id == stop_id), None)
    if stop is None:
        raise NotFound()
    if stop.id in done_stop_ids(stops):
        raise Conflict("이미 방문한 곳은 옮길 수 없습니다. (This stop was already visited.)")
    before = route_orders(plan.id)
    position = None if edit.position is UNSET else edit.position
    if edit.carrier_id is not UNSET:
        if edit.carrier_id is not None and not stop.claimed:
            claim(plan, stop)  # left off when published: back on a route if no plan has it now
        place(plan.id, stops, stop, edit.carrier_id, position)
    elif position is not None:
        if stop.carrier_id is None:
            raise Invalid(
                fields={"position": ["배정되지 않은 곳입니다. (The stop is unassigned.)"]}
            )
        place(plan.id, stops, stop, stop.carrier_id, position)
    if edit.locked is not UNSET:
        if edit.locked and stop.carrier_id is None:
            raise Invalid(fields={"locked": ["배정된 곳만 고정합니다. (Only routed stops lock.)"]})
        stop.locked = edit.locked
    return _edited(principal, plan, before, urgent=False)


@dataclass(frozen=True)
class Reoptimisation:
    """A new search of the plan read at `version`."""

    version: int
    #: None: the plan's time limit.
    time_limit_s: int | None = None


def _edited(
    principal: Principal, plan: RoutePlan, before: dict[int, list[int]], *, urgent: bool
) -> RoutePlan:
    """Re-time an edited plan and, once published, hand it out and tell the carriers moved."""
    db.session.flush()
    retime(plan)
    plan.version += 1
    if plan.status == PlanStatus.PUBLISHED:
        hand_out(plan, principal.account_id)
        notify_changes(plan, before, urgent=urgent)
    return plan


def reoptimise(principal: Principal, plan_id: int, search: Reoptimisation) -> RoutePlan:
    """Queue a new search from the current routes; locked stops keep carrier and order."""
    plan = editable_plan(principal, plan_id, search.version)
    if days.is_over(plan.day):
        raise Conflict("지난 날의 계획입니다. (The plan's day has passed.)")
    if search.time_limit_s:
        plan.time_limit_s = min(search.time_limit_s, Settings.current().time_limit_max_s)
    queue_search(plan, "optimise")
    return plan


def publish(principal: Principal, plan_id: int, version: int) -> RoutePlan:
    """Hand the plan to the carriers: items go out for delivery, what did not fit rolls over."""
    plan = editable_plan(principal, plan_id, version)
    if plan.status == PlanStatus.PUBLISHED:
        raise Conflict("이미 배포한 계획입니다. (Already published.)")
    next_day = next_delivery_day(office_by_id(plan.office_id), plan.day + timedelta(days=1))
    left_off = [s for s in plan_stops(plan.id) if s.carrier_id is None]
    for stop in left_off:
        stop.claimed = None  # not on a route: free for the next day's plan
        if stop.office_item_id is not None:
            _roll_office_item(stop.office_item_id, next_day)
    roll_over(mail_item_ids(left_off), next_day)
    set_status(plan, PlanStatus.PUBLISHED)
    plan.published_at, plan.published_by = utcnow(), principal.account_id
    plan.version += 1
    hand_out(plan, principal.account_id)
    for route in plan_routes(plan.id):
        if route.start_s is not None:
            push_to_carrier(plan, route.carrier_id, "route_published")
    return plan


def _roll_office_item(item_id: int, next_day: date) -> None:
    item = db.session.get(OfficeItem, item_id)
    clash = db.session.scalar(
        sa.select(OfficeItem.id).where(
            OfficeItem.office_id == item.office_id,
            OfficeItem.day == next_day,
            OfficeItem.registered_number == item.registered_number,
        )
    )
    if clash is None:  # imported for the next day already: that row stands for it
        item.day = next_day


@dataclass(frozen=True)
class UrgentVisit:
    """A welfare item at the office to visit today, added to the plan read at `version`."""

    version: int
    item_id: int


# Why an urgent visit is late, as the dispatcher reads it (routing.vrp.insertion's reasons).
LATE_REASONS = {
    LATE_OTHERS: "제시간에 가려면 다른 방문이 늦어지거나 근무가 넘칩니다. "
    "(In time only by making other visits late or a shift overrun.)",
    LATE_UNREACHABLE: "제시간에 닿는 경로가 없습니다. (No route reaches it in time.)",
}


def insert_urgent(principal: Principal, plan_id: int, urgent: UrgentVisit) -> RoutePlan:
    """Add an urgent welfare visit to a plan: into the live routes at once, or, when no route
    can take it without making another stop late, by a search (the plan's search is queued).

    At once: where it adds the least travel among the places that serve it by its due time,
    else at the earliest place, late with the reason. Improving the routes after that is the
    dispatcher's call (reoptimise).
    """
    plan = editable_plan(principal, plan_id, urgent.version)
    now_s = days.seconds_into(plan.day)
    if now_s is None:
        raise Conflict("지난 날의 계획입니다. (The plan's day has passed.)")
    item = item_to_plan(urgent.item_id, plan.office_id)
    if item is None:
        raise NotFound()
    if item.status not in DUE_STATUSES:
        raise Conflict("배달할 수 있는 상태가 아닙니다. (The item is not at the office.)")
    if item.lon is None:
        raise Conflict("가구의 좌표가 없습니다. (The household has no position.)")
    stop = _urgent_stop(plan, item, now_s)
    insertion = _fit_into_routes(plan, stop, now_s)
    if insertion is None:
        queue_search(plan, "insert")
        return plan
    if insertion.late_reason is not None:
        # Promised as early as the routes allow: a later search keeps it no later than that.
        stop.windows = [[stop.windows[0][0], insertion.begin]]
        stop.late_reason = LATE_REASONS[insertion.late_reason]
    before = route_orders(plan.id)
    order = before[insertion.vehicle]
    position = 0 if insertion.after is None else order.index(insertion.after) + 1
    place(plan.id, plan_stops(plan.id), stop, insertion.vehicle, position)
    return _edited(principal, plan, before, urgent=True)


def _urgent_stop(plan: RoutePlan, item: ItemToPlan, now_s: int) -> PlanStop:
    """The item's stop on the plan (new, or left off a route), urgent and due from now."""
    existing = db.session.scalar(
        sa.select(PlanStop).where(
            PlanStop.plan_id == plan.id, PlanStop.mail_item_id == item.item_id
        )
    )
    if existing is not None and existing.carrier_id is not None:
        raise Conflict("이미 경로에 있습니다. (Already on a route.)")
    stop = existing or welfare_stop(item, Settings.current(), postal_model.URGENT_PRIORITY)
    stop.plan_id, stop.urgent = plan.id, True
    if not stop.claimed:
        claim(plan, stop)
    routes = plan_routes(plan.id)
    if existing is None:
        homes = home_districts(route.carrier_id for route in routes)
        last = last_carriers(plan.office_id, [item.household_id]).get(item.household_id)
        stop.preferred_carriers = preferred_carriers(stop.district_id, last, homes)
        db.session.add(stop)
    # An emergency: due within the municipality's time, its household's hours set aside. The
    # clock starts when the first shift does (nobody can go before).
    opens = max(now_s, min((route.shift_start_s for route in routes), default=now_s))
    stop.due_s = opens + 60 * urgent_due_minutes(item.household_id)
    stop.windows, stop.late_reason = [[opens, stop.due_s]], None
    db.session.flush()
    return stop


def _fit_into_routes(plan: RoutePlan, stop: PlanStop, now_s: int) -> Insertion | None:
    """Where the stop fits into the routes as they stand from now on (None: nowhere)."""
    settings = Settings.current()
    built = build_problem(plan, settings, keep_routes=True, now_s=now_s)
    done = done_stop_ids(plan_stops(plan.id))
    try:
        return insert_into_routes(built.problem, stop.id, settings.osrm_url, done)
    except MatrixError:  # the road network did not answer: the worker's search retries it
        return None

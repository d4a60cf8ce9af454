"""A plan as the dispatcher reads it: its state and figures, its routes and stops (HH:MM)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.audit import record_access
from core.auth.principal import Principal
from core.clock import format_hhmm
from core.db import db, utcnow
from municipalities.mail.stops import ItemPlace, places_of
from postal.directory import carrier_names
from routing.models import OfficeItem, PlanRoute, PlanStop, RoutePlan
from routing.plans.states import BUSY, PlanStatus, SearchStatus, search_status
from routing.plans.stops import done_stop_ids, mail_item_ids, ordered, plan_routes, plan_stops


def progress(plan: RoutePlan, now: datetime | None = None) -> int | None:
    """Percent done: 0 queued, by elapsed time while solving, 100 when answered."""
    state = search_status(plan)
    if state == SearchStatus.QUEUED:
        return 0
    if state == SearchStatus.SOLVING:
        elapsed = ((now or utcnow()) - plan.started_at).total_seconds()
        return max(0, min(99, round(100 * elapsed / plan.time_limit_s)))
    return None if plan.status == PlanStatus.FAILED else 100


def summarize(plan: RoutePlan) -> dict[str, Any]:
    """A plan's state and figures, without its stops."""
    counts = db.session.execute(
        sa.select(sa.func.count(PlanStop.id), sa.func.count(PlanStop.carrier_id)).where(
            PlanStop.plan_id == plan.id
        )
    ).one()
    return {
        "id": plan.id,
        "office_id": plan.office_id,
        "day": plan.day,
        "status": PlanStatus(plan.status),
        "search": search_status(plan),
        "version": plan.version,
        "progress": progress(plan),
        "error": plan.error,
        "time_limit_s": plan.time_limit_s,
        "stops": counts[0],
        "unassigned": counts[0] - counts[1] if plan.status not in BUSY else 0,
        "summary": {**plan.summary, "working": working_times(plan.id)} if plan.summary else {},
        "created_at": plan.created_at,
        "finished_at": plan.finished_at,
        "published_at": plan.published_at,
    }


def working_s(route: PlanRoute) -> int:
    """A carrier's working time: the round from departure to return, lunch left out."""
    lunch = route.lunch_s if route.lunch_start_s is not None else 0
    return route.travel_s + route.service_s + route.waiting_s - lunch


def working_times(plan_id: int) -> dict[str, Any]:
    """Each carrier's working time and the spread: the longest over the shortest working day.

    The spread is None while some carrier on shift has no work at all.
    """
    times = [(route.carrier_id, working_s(route)) for route in plan_routes(plan_id)]
    longest = max((t for _, t in times), default=0)
    shortest = min((t for _, t in times), default=0)
    return {
        "carriers": [{"carrier_id": carrier, "working_s": t} for carrier, t in times],
        "longest_s": longest,
        "shortest_s": shortest,
        "spread": round(longest / shortest, 2) if shortest else None,
    }


def describe(principal: Principal, plan: RoutePlan) -> dict[str, Any]:
    """The plan as its dispatcher sees it: every route, the unassigned stops, the figures."""
    stops = plan_stops(plan.id)
    done = done_stop_ids(stops)
    welfare = places_of(mail_item_ids(stops))
    places = _places(stops, welfare)
    stored_routes = plan_routes(plan.id)
    names = carrier_names(route.carrier_id for route in stored_routes)
    _log_read(principal, plan, welfare.values())
    routes = []
    for route in stored_routes:
        routes.append(
            {
                "carrier_id": route.carrier_id,
                "carrier_name": names.get(route.carrier_id, ""),
                "profile": route.profile,
                "shift": _range(route.shift_start_s, route.shift_end_s),
                "start": _hhmm(route.start_s),
                "end": _hhmm(route.end_s),
                "lunch": _range(route.lunch_start_s, route.lunch_start_s + route.lunch_s)
                if route.lunch_start_s is not None
                else None,
                "distance_m": route.distance_m,
                "travel_s": route.travel_s,
                "service_s": route.service_s,
                "waiting_s": route.waiting_s,
                "working_s": working_s(route),
                "stops": [_stop_out(s, places, done) for s in ordered(stops, route.carrier_id)],
            }
        )
    unassigned = [s for s in stops if s.carrier_id is None]
    return {
        **summarize(plan),
        "routes": routes,
        "unassigned_stops": [_stop_out(s, places, done) for s in unassigned],
    }


def _log_read(principal: Principal, plan: RoutePlan, welfare: Iterable[ItemPlace]) -> None:
    """Reading a plan shows welfare households' addresses: access-logged per municipality."""
    households: dict[int, list[int]] = {}
    for place in welfare:
        households.setdefault(place.municipality_id, []).append(place.household_id)
    for municipality_id, ids in households.items():
        record_access(
            principal.account_id, "read", "household", ids, municipality_id, f"plan={plan.id}"
        )


def _places(
    stops: list[PlanStop], welfare: dict[int, ItemPlace]
) -> dict[int, tuple[str, str, str | None]]:
    """Registered number and address of each stop."""
    other = [s.office_item_id for s in stops if s.office_item_id is not None]
    office_rows = db.session.execute(
        sa.select(
            OfficeItem.id,
            OfficeItem.registered_number,
            OfficeItem.road_address,
            OfficeItem.address_detail,
        ).where(OfficeItem.id.in_(other))
    )
    by_office = {row[0]: tuple(row[1:]) for row in office_rows}
    by_item = {
        item_id: (place.registered_number, place.road_address, place.address_detail)
        for item_id, place in welfare.items()
    }
    return {
        s.id: by_item[s.mail_item_id] if s.mail_item_id else by_office[s.office_item_id]
        for s in stops
    }


def _stop_out(stop: PlanStop, places: dict, done: set[int]) -> dict[str, Any]:
    number, address, detail = places[stop.id]
    return {
        "id": stop.id,
        "kind": stop.kind,
        "registered_number": number,
        "road_address": address,
        "address_detail": detail,
        "location": [stop.lon, stop.lat],
        "district_id": stop.district_id,
        "service_s": stop.service_s,
        "windows": [_range(a, b) for a, b in stop.windows or []],
        "priority": stop.priority,
        "urgent": stop.urgent,
        "locked": stop.locked,
        "done": stop.id in done,
        "position": stop.position,
        "arrival": _hhmm(stop.arrival_s),
        "arrival_s": stop.arrival_s,
        "waiting_s": stop.waiting_s,
        "late": stop.late,
        "due": _hhmm(stop.due_s),
        "late_reason": stop.late_reason,
        "preferred_carriers": stop.preferred_carriers or [],
        "unassigned_reason": stop.unassigned_reason,
    }


def _hhmm(seconds: int | None) -> str | None:
    return None if seconds is None else format_hhmm(seconds)


def _range(start: int | None, end: int | None) -> str | None:
    if start is None or end is None:
        return None
    return f"{format_hhmm(start)}-{format_hhmm(end)}"

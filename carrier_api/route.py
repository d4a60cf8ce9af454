"""A carrier's day as the app sees it: the published route's stops, and scanning an item.

A stop carries what the door needs (registered number, kind, addressee, address, position,
planned time) and nothing else: no risk sources, no survey history, no case notes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from core.audit import record_access
from core.auth.principal import Principal
from core.auth.roles import Role
from core.db import db
from core.errors import NotFound
from municipalities.mail import checked_number
from municipalities.models import Household, MailItem
from routing.models import Carrier, OfficeItem, PlanRoute, PlanStop, RoutePlan
from routing.postal_model import format_hhmm


@dataclass(frozen=True)
class CarrierRoute:
    """The carrier's published route of a day (plan None: nothing published yet)."""

    day: date
    plan: RoutePlan | None
    route: PlanRoute | None
    stops: list[PlanStop]


def carrier_of(principal: Principal) -> Carrier:
    """The Carrier row of a carrier principal; 404 for anyone else (no route to show)."""
    carrier = None
    if principal.role == Role.CARRIER:
        carrier = db.session.scalar(
            sa.select(Carrier).where(Carrier.account_id == principal.account_id)
        )
    if carrier is None:
        raise NotFound()
    return carrier


def route_of(principal: Principal, day: date) -> CarrierRoute:
    """The carrier's own route in the office's published plan of the day."""
    carrier = carrier_of(principal)
    plan = db.session.scalar(
        sa.select(RoutePlan).where(
            RoutePlan.office_id == principal.office_id,
            RoutePlan.day == day,
            RoutePlan.status == "published",
        )
    )
    if plan is None:
        return CarrierRoute(day, None, None, [])
    route = db.session.scalar(
        sa.select(PlanRoute).where(PlanRoute.plan_id == plan.id, PlanRoute.carrier_id == carrier.id)
    )
    stops = db.session.scalars(
        sa.select(PlanStop)
        .where(PlanStop.plan_id == plan.id, PlanStop.carrier_id == carrier.id)
        .order_by(PlanStop.position)
    )
    return CarrierRoute(day, plan, route, list(stops))


def stops_out(principal: Principal, stops: list[PlanStop]) -> list[dict[str, Any]]:
    """The stops as the app gets them; reading addressees' names is access-logged."""
    welfare = {s.mail_item_id for s in stops if s.mail_item_id is not None}
    other = {s.office_item_id for s in stops if s.office_item_id is not None}
    by_item, by_office = {}, {}
    if welfare:  # each query only when needed: a scan is one stop, of one kind
        rows = db.session.execute(
            sa.select(MailItem, Household)
            .join(Household, Household.id == MailItem.household_id)
            .where(MailItem.id.in_(welfare))
        )
        by_item = {item.id: (item, household) for item, household in rows}
    if other:
        query = sa.select(OfficeItem).where(OfficeItem.id.in_(other))
        by_office = {item.id: item for item in db.session.scalars(query)}
    out, seen = [], {}
    for stop in stops:
        if stop.mail_item_id is not None:
            item, household = by_item[stop.mail_item_id]
            number, status = item.registered_number, item.status
            name, address, detail = household.name, household.road_address, household.address_detail
            seen.setdefault(household.municipality_id, []).append(household.id)
        else:
            office_item = by_office[stop.office_item_id]
            number, status = office_item.registered_number, office_item.status
            name, address = office_item.addressee, office_item.road_address
            detail = office_item.address_detail
        out.append(
            {
                "stop_id": stop.id,
                "position": stop.position,
                "planned_arrival": None if stop.arrival_s is None else format_hhmm(stop.arrival_s),
                "kind": stop.kind,
                "urgent": stop.urgent,
                "registered_number": number,
                "item_status": status,
                "addressee": name,
                "road_address": address,
                "address_detail": detail,
                "location": [stop.lon, stop.lat],
                "windows": [f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in stop.windows or []],
                "survey_required": stop.kind == "welfare",
            }
        )
    for municipality_id, household_ids in seen.items():
        record_access(
            principal.account_id, "read", "household", household_ids, municipality_id, "route"
        )
    return out


def route_body(principal: Principal, day: date) -> dict[str, Any]:
    """The route as the app gets it (its ETag is etag_of this body)."""
    carrier_route = route_of(principal, day)
    plan, route = carrier_route.plan, carrier_route.route
    body = {
        "day": day.isoformat(),
        "plan_id": plan.id if plan else None,
        "version": plan.version if plan else None,
        "start": format_hhmm(route.start_s) if route and route.start_s is not None else None,
        "end": format_hhmm(route.end_s) if route and route.end_s is not None else None,
        "stops": stops_out(principal, carrier_route.stops),
    }
    return body


def etag_of(body: dict[str, Any]) -> str:
    """A strong ETag of a JSON body."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def scan(principal: Principal, text: str, day: date) -> dict[str, Any]:
    """The stop of the carrier's route holding this registered number, or 404."""
    number = checked_number(text)
    if principal.role != Role.CARRIER:
        raise NotFound()
    stop = db.session.scalar(
        sa.select(PlanStop)
        .join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
        .join(Carrier, Carrier.id == PlanStop.carrier_id)
        .outerjoin(MailItem, MailItem.id == PlanStop.mail_item_id)
        .outerjoin(OfficeItem, OfficeItem.id == PlanStop.office_item_id)
        .where(
            RoutePlan.office_id == principal.office_id,
            RoutePlan.day == day,
            RoutePlan.status == "published",
            Carrier.account_id == principal.account_id,
            sa.or_(MailItem.registered_number == number, OfficeItem.registered_number == number),
        )
    )
    if stop is None:
        raise NotFound()
    return stops_out(principal, [stop])[0]

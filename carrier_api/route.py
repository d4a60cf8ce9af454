"""A carrier's day as the app sees it: the published route's stops, and scanning an item.

A stop carries what the door needs (registered number, kind, addressee, address, position,
planned time) and nothing else: no risk sources, no survey history, no case notes.
"""

from __future__ import annotations

import hashlib
import json
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

# Phones ask for their route and scan items all day: each answer is one query over only the
# columns the door needs (no household's other fields decrypted, no ORM objects), built once.
_DOOR = (
    sa.select(
        PlanStop.id,
        PlanStop.position,
        PlanStop.arrival_s,
        PlanStop.kind,
        PlanStop.urgent,
        PlanStop.lon,
        PlanStop.lat,
        PlanStop.windows,
        # A stop holds a welfare item (with its household) or an office item, never both.
        sa.func.coalesce(MailItem.registered_number, OfficeItem.registered_number).label("number"),
        sa.func.coalesce(MailItem.status, OfficeItem.status).label("status"),
        Household.name,
        OfficeItem.addressee,
        sa.func.coalesce(Household.road_address, OfficeItem.road_address).label("road_address"),
        sa.case(
            (PlanStop.mail_item_id.is_not(None), Household.address_detail),
            else_=OfficeItem.address_detail,
        ).label("address_detail"),
        Household.id.label("household_id"),
        Household.municipality_id,
    )
    .outerjoin(MailItem, MailItem.id == PlanStop.mail_item_id)
    .outerjoin(Household, Household.id == MailItem.household_id)
    .outerjoin(OfficeItem, OfficeItem.id == PlanStop.office_item_id)
)
_CALLER = Carrier.account_id == sa.bindparam("account_id")
_PUBLISHED = sa.and_(
    RoutePlan.office_id == sa.bindparam("office_id"),
    RoutePlan.day == sa.bindparam("day"),
    RoutePlan.status == "published",
)
# The caller's carrier row, the day's published plan (if any) and the caller's route in it.
_ROUTE = (
    sa.select(Carrier.id, RoutePlan.id, RoutePlan.version, PlanRoute.start_s, PlanRoute.end_s)
    .select_from(Carrier)
    .outerjoin(RoutePlan, _PUBLISHED)
    .outerjoin(
        PlanRoute, sa.and_(PlanRoute.plan_id == RoutePlan.id, PlanRoute.carrier_id == Carrier.id)
    )
    .where(_CALLER)
)
_STOPS = _DOOR.where(
    PlanStop.plan_id == sa.bindparam("plan_id"), PlanStop.carrier_id == sa.bindparam("carrier_id")
).order_by(PlanStop.position)
_SCAN = (
    _DOOR.join(RoutePlan, RoutePlan.id == PlanStop.plan_id)
    .join(Carrier, Carrier.id == PlanStop.carrier_id)
    .where(
        _PUBLISHED,
        _CALLER,
        sa.or_(
            MailItem.registered_number == sa.bindparam("number"),
            OfficeItem.registered_number == sa.bindparam("number"),
        ),
    )
)


def _stops_out(principal: Principal, rows: list[sa.Row]) -> list[dict[str, Any]]:
    """The stops as the app gets them; reading addressees' names is access-logged."""
    out, seen = [], {}
    for row in rows:
        if row.household_id is not None:
            seen.setdefault(row.municipality_id, []).append(row.household_id)
        out.append(
            {
                "stop_id": row.id,
                "position": row.position,
                "planned_arrival": None if row.arrival_s is None else format_hhmm(row.arrival_s),
                "kind": row.kind,
                "urgent": row.urgent,
                "registered_number": row.number,
                "item_status": row.status,
                "addressee": row.name if row.household_id is not None else row.addressee,
                "road_address": row.road_address,
                "address_detail": row.address_detail,
                "location": [row.lon, row.lat],
                "windows": [f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in row.windows or []],
                "survey_required": row.kind == "welfare",
            }
        )
    for municipality_id, household_ids in seen.items():
        record_access(
            principal.account_id, "read", "household", household_ids, municipality_id, "route"
        )
    return out


def route_body(principal: Principal, day: date) -> dict[str, Any]:
    """The carrier's own route in the office's published plan of the day, as the app gets it."""
    found = None
    if principal.role == Role.CARRIER:
        found = db.session.execute(
            _ROUTE,
            {"account_id": principal.account_id, "office_id": principal.office_id, "day": day},
        ).first()
    if found is None:
        raise NotFound()  # not a carrier: no route to show
    carrier_id, plan_id, version, start_s, end_s = found
    stops = []
    if plan_id is not None:
        rows = db.session.execute(_STOPS, {"plan_id": plan_id, "carrier_id": carrier_id}).all()
        stops = _stops_out(principal, rows)
    return {
        "day": day.isoformat(),
        "plan_id": plan_id,
        "version": version,
        "start": None if start_s is None else format_hhmm(start_s),
        "end": None if end_s is None else format_hhmm(end_s),
        "stops": stops,
    }


def encoded(body: dict[str, Any]) -> tuple[bytes, str]:
    """A JSON body as sent, and its strong ETag (the same body always encodes the same)."""
    payload = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return payload, hashlib.sha256(payload).hexdigest()[:32]


def scan(principal: Principal, text: str, day: date) -> dict[str, Any]:
    """The stop of the carrier's route holding this registered number, or 404."""
    number = checked_number(text)
    if principal.role != Role.CARRIER:
        raise NotFound()
    rows = db.session.execute(
        _SCAN,
        {
            "account_id": principal.account_id,
            "office_id": principal.office_id,
            "day": day,
            "number": number,
        },
    ).all()
    if not rows:
        raise NotFound()
    return _stops_out(principal, rows[:1])[0]

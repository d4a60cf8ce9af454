"""A carrier's day as the app sees it: the published route's stops, and scanning an item.

A stop carries what the door needs (registered number, kind, addressee, address, position,
planned time) and nothing else: no risk sources, no survey history, no case notes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from core.audit import record_access
from core.auth.principal import Principal
from core.auth.roles import Role
from core.clock import format_hhmm
from core.errors import NotFound
from municipalities.mail.services import checked_number
from municipalities.mail.stops import doors_of
from routing.route_reads import RouteStop, published_route, stop_of_number


def _stops_out(principal: Principal, stops: list[RouteStop]) -> list[dict[str, Any]]:
    """The stops as the app gets them; reading addressees' names is access-logged."""
    # A stop holds a welfare item (the mail's, with its household) or an office item.
    doors = doors_of(stop.mail_item_id for stop in stops if stop.mail_item_id is not None)
    out, seen = [], {}
    for stop in stops:
        welfare = doors.get(stop.mail_item_id)
        if welfare is not None:
            seen.setdefault(welfare.municipality_id, []).append(welfare.household_id)
        door = welfare or stop
        out.append(
            {
                "stop_id": stop.stop_id,
                "position": stop.position,
                "planned_arrival": None if stop.arrival_s is None else format_hhmm(stop.arrival_s),
                "kind": stop.kind,
                "urgent": stop.urgent,
                "registered_number": door.registered_number,
                "item_status": door.status,
                "addressee": door.addressee,
                "road_address": door.road_address,
                "address_detail": door.address_detail,
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
    """The carrier's own route in the office's published plan of the day, as the app gets it."""
    route = None
    if principal.role == Role.CARRIER:
        route = published_route(principal.account_id, principal.office_id, day)
    if route is None:
        raise NotFound()  # not a carrier: no route to show
    return {
        "day": day.isoformat(),
        "plan_id": route.plan_id,
        "version": route.version,
        "start": None if route.start_s is None else format_hhmm(route.start_s),
        "end": None if route.end_s is None else format_hhmm(route.end_s),
        "stops": _stops_out(principal, route.stops),
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
    stop = stop_of_number(principal.account_id, principal.office_id, day, number)
    if stop is None:
        raise NotFound()
    return _stops_out(principal, [stop])[0]

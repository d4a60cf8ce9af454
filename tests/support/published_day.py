"""A published day of an office with hundreds of stops, timed but built without a search.

Each carrier takes a sector around the depot, visited nearest-first; one stop in ten is a
welfare visit, the rest registered mail; every fifth stop has an hour's window around its time;
what the routes reach before `now_s` is delivered already. Tests and bench/urgent_insertion.py
share it.
"""

from __future__ import annotations

import math
import random
from datetime import date

from core.db import db
from municipalities.mail.models import MailItem
from municipalities.mail.registered_numbers import make_number
from postal.models import Carrier, CarrierDistrict
from routing.models import OfficeItem, PlanStop, RoutePlan
from routing.plans.problem import retime
from routing.plans.stops import plan_stops
from tests.support.factories import (
    Tenant,
    make_carrier,
    make_district,
    make_due_item,
    publish_routes,
    square,
)

WELFARE_EVERY = 10
WINDOW_EVERY = 5
SERVICE_S = 60  # registered mail handed over at the door
SPAN = 0.04  # degrees around the depot: about 3.5 x 4.4 km


def published_day(
    tenant: Tenant, day: date, *, stops: int = 300, carriers: int = 6, now_s: int = 11 * 3600
) -> RoutePlan:
    """The tenant office's published plan of `day`, under way at `now_s`."""
    office = tenant.office
    depot = (office.depot_lon, office.depot_lat)
    district = make_district(office, square(depot[0] - SPAN, depot[1] - SPAN, 2 * SPAN))
    rng = random.Random(stops)
    points = [
        (depot[0] + rng.uniform(-SPAN, SPAN), depot[1] + rng.uniform(-SPAN, SPAN))
        for _ in range(stops)
    ]
    points.sort(key=lambda p: math.atan2(p[1] - depot[1], p[0] - depot[0]))
    routes: dict[Carrier, list[MailItem | OfficeItem]] = {}
    size = math.ceil(stops / carriers)
    for k in range(carriers):
        sector = _nearest_first(depot, points[k * size : (k + 1) * size])
        routes[make_carrier(office, district)] = [
            _item(tenant, day, district, point, k * size + i) for i, point in enumerate(sector)
        ]
    plan = publish_routes(office, day, routes, service_s=SERVICE_S)
    retime(plan)
    timed = plan_stops(plan.id)
    for stop in timed[::WINDOW_EVERY]:
        stop.windows = [[stop.arrival_s - 1800, stop.arrival_s + 1800]]
    for stop in timed:
        if stop.arrival_s < now_s:
            _deliver(stop)
    db.session.flush()
    retime(plan)
    return plan


def _nearest_first(
    start: tuple[float, float], points: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The points in the order a carrier going always to the nearest next would visit them."""
    left, here, order = list(points), start, []
    while left:
        here = min(left, key=lambda p: math.dist(p, here))
        left.remove(here)
        order.append(here)
    return order


def _item(
    tenant: Tenant, day: date, district: CarrierDistrict, point: tuple[float, float], n: int
) -> MailItem | OfficeItem:
    """A welfare item (one in WELFARE_EVERY) or a registered office item at the point."""
    if n % WELFARE_EVERY == 0:
        return make_due_item(tenant, point, day, district)
    item = OfficeItem(
        office_id=tenant.office.id,
        day=day,
        registered_number=make_number(2027, n + 1, "6"),
        addressee="수취인",
        road_address=f"서울특별시 시험구 우정로 {n}",
        lon=point[0],
        lat=point[1],
        district_id=district.id,
        status="due",
    )
    db.session.add(item)
    db.session.flush()
    return item


def _deliver(stop: PlanStop) -> None:
    """The stop's item left the office's hands: the carrier has been there."""
    if stop.office_item_id is not None:
        db.session.get(OfficeItem, stop.office_item_id).status = "delivered"
    else:
        db.session.get(MailItem, stop.mail_item_id).status = "delivered"

"""An urgent visit into a published day of 300 stops: on a route in the answer, by its due time."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.clock import SEOUL, seoul_today
from core.db import db
from core.outbox import ALERTS, OutboxMessage, deliver_due
from municipalities.mail.services import next_working_day
from postal.models import Carrier, CarrierDistrict
from routing.models import PlanRoute
from routing.plans import days
from tests.support.desk import sign_in
from tests.support.factories import make_due_item
from tests.support.fakes.fcm import fcm_on  # noqa: F401
from tests.support.published_day import published_day

# Pushes are queued only while FCM is configured (core/push.py): here at a local fake.
pytestmark = pytest.mark.usefixtures("fcm_on")
DAY = next_working_day(seoul_today() + timedelta(days=1))
NOW_S = 11 * 3600


@pytest.fixture
def day(world, monkeypatch):
    """Tenant a's published day of 300 stops, at 11:00 with the morning's stops delivered."""
    plan = published_day(world.a, DAY, now_s=NOW_S)
    db.session.commit()
    now = datetime.combine(DAY, time(11, 0), tzinfo=SEOUL)
    monkeypatch.setattr(days, "seoul_now", lambda: now)
    return {"tenant": world.a, "plan": plan.id}


def read(client, day) -> dict:
    url = f"/api/v1/plans/{day['plan']}"
    return client.get(url, headers=day["tenant"].headers(Role.DISPATCHER)).json


def urgent_item(day, offset: tuple[float, float] = (0.003, 0.002)):
    """A welfare item at the office for a household near the depot (plus offset degrees)."""
    office = day["tenant"].office
    district = db.session.scalars(
        sa.select(CarrierDistrict).where(CarrierDistrict.office_id == office.id)
    ).first()
    where = (office.depot_lon + offset[0], office.depot_lat + offset[1])
    item = make_due_item(day["tenant"], where, DAY, district)
    db.session.commit()
    return item


def insert(client, day, item) -> tuple[int, dict]:
    response = client.post(
        f"/api/v1/plans/{day['plan']}/urgent",
        json={"version": read(client, day)["version"], "item_id": item.id},
        headers=day["tenant"].headers(Role.DISPATCHER),
    )
    return response.status_code, response.json


def stops_of(plan: dict) -> dict[int, dict]:
    routed = {
        s["id"]: s | {"carrier_id": r["carrier_id"]} for r in plan["routes"] for s in r["stops"]
    }
    return routed | {s["id"]: s | {"carrier_id": None} for s in plan["unassigned_stops"]}


def the_visit(plan: dict, item) -> dict:
    [stop] = [
        s for s in stops_of(plan).values() if s["registered_number"] == item.registered_number
    ]
    return stop


def pending_pushes() -> list[OutboxMessage]:
    return db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.kind == "push", OutboxMessage.status == "pending"
        )
    ).all()


def test_the_visit_is_on_a_route_in_the_answer_by_its_due_time_and_nothing_else_is_late(
    client, day
):
    before = read(client, day)
    assert len(stops_of(before)) == 300 and not before["unassigned_stops"]
    late_before = {i for i, s in stops_of(before).items() if s["late"]}
    item = urgent_item(day)
    status, plan = insert(client, day, item)
    assert status == 200, plan
    visit = the_visit(plan, item)
    assert visit["urgent"] and visit["carrier_id"] is not None
    assert visit["due"] == "13:00"  # 2 h from 11:00, the default
    assert NOW_S <= visit["arrival_s"] + visit["waiting_s"] <= NOW_S + 2 * 3600
    assert not visit["late"] and visit["late_reason"] is None
    assert read(client, day) == plan  # what the dispatcher reads from now on
    after = stops_of(plan)
    assert not plan["unassigned_stops"]
    assert {i for i, s in after.items() if s["late"]} <= late_before
    # Only the route that took it changed, by that one stop; its carrier is told, urgently.
    orders = {r["carrier_id"]: [s["id"] for s in r["stops"]] for r in before["routes"]}
    changed = [
        r for r in plan["routes"] if [s["id"] for s in r["stops"]] != orders[r["carrier_id"]]
    ]
    assert [r["carrier_id"] for r in changed] == [visit["carrier_id"]]
    assert [s["id"] for s in changed[0]["stops"] if s["id"] != visit["id"]] == orders[
        visit["carrier_id"]
    ]
    [push] = pending_pushes()
    carrier = db.session.get(Carrier, visit["carrier_id"])
    assert push.payload["account_id"] == carrier.account_id and push.queue == ALERTS
    assert push.payload["event"] == "route_changed" and push.payload["data"]["urgent"] is True


def test_a_visit_no_route_reaches_in_time_is_served_earliest_and_late_with_the_reason(
    client, day, world
):
    world.a.municipality.urgent_due_minutes = 30
    db.session.commit()
    item = urgent_item(day, offset=(0.09, 0.09))  # about 13 km from the depot
    status, plan = insert(client, day, item)
    assert status == 200, plan
    visit = the_visit(plan, item)
    assert visit["carrier_id"] is not None and visit["due"] == "11:30"
    assert visit["late"] and visit["arrival_s"] > NOW_S + 30 * 60
    # Its window is now that promise: a later search keeps it no later.
    promised = visit["arrival_s"] + visit["waiting_s"]
    assert visit["windows"] == [f"11:00-{promised // 3600:02d}:{promised % 3600 // 60:02d}"]
    assert visit["late_reason"].startswith("제시간에 닿는 경로가 없습니다")
    assert not plan["unassigned_stops"]
    # The dispatcher's page says it beside the stop.
    sign_in(client, day["tenant"].accounts[Role.DISPATCHER])
    page = client.get(f"/dispatch/plans/{day['plan']}").text
    assert f'<small class="late-reason">{visit["late_reason"]}</small>' in page


def test_each_municipality_sets_its_due_time_through_the_api(client, day, world):
    url = f"/api/v1/municipalities/{world.a.municipality.id}"
    refused = client.patch(url, json={"urgent_due_minutes": 10}, headers=world.admin_headers())
    assert refused.status_code == 422 and "urgent_due_minutes" in str(refused.json)
    changed = client.patch(url, json={"urgent_due_minutes": 60}, headers=world.admin_headers())
    assert changed.status_code == 200 and changed.json["urgent_due_minutes"] == 60
    item = urgent_item(day)
    status, plan = insert(client, day, item)
    assert status == 200 and the_visit(plan, item)["due"] == "12:00"


def test_when_no_route_can_take_it_a_search_fits_it_in(client, day):
    # Every shift ends when its route does: any detour would overrun one.
    for route in db.session.scalars(sa.select(PlanRoute).where(PlanRoute.plan_id == day["plan"])):
        route.shift_end_s = route.end_s
    db.session.commit()
    item = urgent_item(day)
    status, queued = insert(client, day, item)
    assert status == 202 and queued["search"] == "queued", queued
    deliver_due()  # the worker's search
    plan = read(client, day)
    assert plan["search"] is None and plan["status"] == "published"
    visit = the_visit(plan, item)
    assert visit["carrier_id"] is not None or visit["unassigned_reason"]


def test_a_late_visit_stays_on_a_route_when_the_dispatcher_re_optimises(client, day, world):
    world.a.municipality.urgent_due_minutes = 30
    db.session.commit()
    item = urgent_item(day, offset=(0.09, 0.09))
    status, inserted = insert(client, day, item)
    promised = the_visit(inserted, item)
    # Seconds enough for a first plan of 300 stops even on a busy machine.
    search = {"version": inserted["version"], "time_limit_s": 5}
    response = client.post(
        f"/api/v1/plans/{day['plan']}/optimise",
        json=search,
        headers=day["tenant"].headers(Role.DISPATCHER),
    )
    assert status == 200 and response.status_code == 202, response.json
    deliver_due()  # the worker's search
    visit = the_visit(read(client, day), item)
    assert visit["carrier_id"] is not None and visit["late"] and visit["late_reason"]
    assert visit["arrival_s"] + visit["waiting_s"] <= promised["arrival_s"] + promised["waiting_s"]

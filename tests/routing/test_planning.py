"""The dispatcher's planning workflow through the API and the outbox worker, on a real solver."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.auth.roles import Role
from core.auth.services import issue_token
from core.clock import SEOUL, is_public_holiday, seoul_today
from core.db import db
from core.outbox import OutboxMessage, deliver_due
from municipalities.mail.models import MailItem
from municipalities.mail.services import next_working_day
from routing.models import PlanStop
from routing.plans import days
from tests.support.factories import auth, make_carrier, make_district, make_due_item, square
from tests.support.fakes.fcm import fcm_on  # noqa: F401

# Pushes are queued only while FCM is configured (core/push.py): here at a local fake.
pytestmark = pytest.mark.usefixtures("fcm_on")
DAY = next_working_day(seoul_today() + timedelta(days=1))
NEXT_DAY = next_working_day(DAY + timedelta(days=1))
WEST, EAST = (126.953, 37.505), (126.967, 37.505)


@pytest.fixture
def office(world):
    """Tenant a's office with a west and an east district and a carrier living in each."""
    tenant = world.a
    west = make_district(tenant.office, square(126.95, 37.50, 0.01))
    east = make_district(tenant.office, square(126.96, 37.50, 0.01))
    carriers = {
        "west": make_carrier(tenant.office, west),
        "east": make_carrier(tenant.office, east),
    }
    return {"tenant": tenant, "west": west, "east": east, "carriers": carriers}


def spread(centre: tuple[float, float], n: int) -> list[tuple[float, float]]:
    return [(centre[0] + 0.0007 * (i % 4), centre[1] + 0.0007 * (i // 4)) for i in range(n)]


def items(office, side: str, n: int, **fields) -> list[MailItem]:
    centre = WEST if side == "west" else EAST
    district = office[side]
    return [make_due_item(office["tenant"], p, DAY, district, **fields) for p in spread(centre, n)]


def headers(office, role=Role.DISPATCHER) -> dict:
    return office["tenant"].headers(role)


def start(client, office, **body) -> dict:
    db.session.commit()
    payload = {"day": DAY.isoformat(), "time_limit_s": 1} | body
    url = f"/api/v1/offices/{office['tenant'].office.id}/plans"
    response = client.post(url, json=payload, headers=headers(office))
    assert response.status_code == 202, response.json
    assert response.headers["Location"] == f"/api/v1/plans/{response.json['id']}"
    return response.json


def solved(client, office, plan_id: int) -> dict:
    """Run the worker and read the plan back."""
    assert deliver_due().sent >= 1
    plan = client.get(f"/api/v1/plans/{plan_id}", headers=headers(office)).json
    assert plan["status"] in ("ready", "published"), plan
    return plan


def orders(plan: dict) -> dict[int, list[int]]:
    return {r["carrier_id"]: [s["id"] for s in r["stops"]] for r in plan["routes"]}


def test_a_plan_is_a_job_that_the_worker_solves_into_timed_routes(client, office):
    items(office, "west", 6)
    items(office, "east", 6)
    job = start(client, office)
    assert job["status"] == "queued" and job["progress"] == 0 and job["stops"] == 12
    plan = solved(client, office, job["id"])
    assert plan["progress"] == 100 and plan["unassigned"] == 0 and not plan["unassigned_stops"]
    routed = [s for r in plan["routes"] for s in r["stops"]]
    assert len(routed) == 12 and len({s["id"] for s in routed}) == 12
    for route in plan["routes"]:
        if not route["stops"]:
            continue
        assert [s["position"] for s in route["stops"]] == list(range(len(route["stops"])))
        arrivals = [s["arrival_s"] for s in route["stops"]]
        assert (
            arrivals == sorted(arrivals) and route["start"] >= "09:00" and route["end"] <= "18:00"
        )
        assert route["lunch"] is not None and route["distance_m"] > 0
        assert all(s["kind"] == "welfare" and s["service_s"] == 600 for s in route["stops"])
        assert all(len(s["registered_number"]) == 13 and s["road_address"] for s in route["stops"])
    assert plan["summary"]["routes"] >= 1 and "computing_times" in plan["summary"]


def test_each_stop_prefers_its_districts_carrier(client, office):
    # Both carriers start at the same depot: without preferences geography alone decides.
    west = items(office, "west", 5)
    east = items(office, "east", 5)
    plan = solved(client, office, start(client, office)["id"])
    carrier = {s["registered_number"]: r["carrier_id"] for r in plan["routes"] for s in r["stops"]}
    assert {carrier[i.registered_number] for i in west} == {office["carriers"]["west"].id}
    assert {carrier[i.registered_number] for i in east} == {office["carriers"]["east"].id}


def test_a_welfare_household_prefers_the_carrier_who_visited_it_last(client, office):
    [item] = items(office, "west", 1)
    first = solved(client, office, start(client, office)["id"])
    [stop_id] = [s for order in orders(first).values() for s in order]
    east = office["carriers"]["east"].id
    moved = client.patch(
        f"/api/v1/plans/{first['id']}/stops/{stop_id}",
        json={"version": first["version"], "carrier_id": east},
        headers=headers(office),
    )
    assert moved.status_code == 200, moved.json
    published = client.post(
        f"/api/v1/plans/{first['id']}/publish",
        json={"version": moved.json["version"]},
        headers=headers(office),
    )
    assert published.status_code == 200, published.json
    # The household's next letter: its carrier is now the east one, outside its district.
    again = make_due_item(office["tenant"], WEST, DAY, office["west"])
    again.household_id = item.household_id
    second = start(client, office, day=NEXT_DAY.isoformat())
    stops = db.session.scalars(sa.select(PlanStop).where(PlanStop.plan_id == second["id"]))
    # The first letter is out on the published plan: only the new one is planned again.
    assert [(s.mail_item_id, s.preferred_carriers) for s in stops] == [(again.id, [east])]


def test_preferred_hours_become_time_windows(client, office):
    items(office, "west", 4)
    [late] = items(office, "east", 1, preferred_hours=[["15:00", "16:00"]])
    plan = solved(client, office, start(client, office)["id"])
    stop = next(
        s
        for r in plan["routes"]
        for s in r["stops"]
        if s["registered_number"] == late.registered_number
    )
    assert stop["windows"] == ["15:00-16:00"]
    assert 15 * 3600 <= stop["arrival_s"] + stop["waiting_s"] <= 16 * 3600


def test_plans_only_on_the_offices_delivery_days(client, office):
    saturday = DAY + timedelta(days=(5 - DAY.weekday()) % 7)
    while is_public_holiday(saturday):
        saturday += timedelta(days=7)
    url = f"/api/v1/offices/{office['tenant'].office.id}/plans"
    db.session.commit()
    for day in (saturday, saturday + timedelta(days=1)):
        refused = client.post(url, json={"day": day.isoformat()}, headers=headers(office))
        assert refused.status_code == 422, refused.json
        [message] = refused.json["error"]["fields"]["day"]
        assert day.isoformat() in message and next_working_day(day).isoformat() in message
    office["tenant"].office.delivery_weekdays = [0, 1, 2, 3, 4, 5]
    items(office, "west", 1)
    assert start(client, office, day=saturday.isoformat())["status"] == "queued"
    sunday = (saturday + timedelta(days=1)).isoformat()
    sunday = client.post(url, json={"day": sunday}, headers=headers(office))
    assert sunday.status_code == 422


def test_what_does_not_fit_is_unassigned_with_a_reason_and_rolls_to_the_next_working_day(
    client, office
):
    # One carrier with 45 minutes after the morning's sorting (30) and no lunch: at most a few
    # 10-minute visits fit.
    short = office["carriers"]["west"]
    short.shift_start_min, short.shift_end_min, short.lunch_minutes = 9 * 60, 10 * 60 + 15, 0
    due = items(office, "west", 8)
    plan = solved(client, office, start(client, office, carrier_ids=[short.id])["id"])
    left = plan["unassigned_stops"]
    assert 0 < len(left) < 8 and plan["unassigned"] == len(left)
    assert all("근무 시간" in s["unassigned_reason"] for s in left)
    published = client.post(
        f"/api/v1/plans/{plan['id']}/publish",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    assert published.status_code == 200 and published.json["status"] == "published"
    left_numbers = {s["registered_number"] for s in left}
    for item in due:
        db.session.refresh(item)
        if item.registered_number in left_numbers:
            assert item.status == "at_office"
            assert item.due_on == next_working_day(DAY + timedelta(days=1))
        else:
            assert item.status == "out_for_delivery" and item.due_on == DAY


def test_editing_moves_and_locks_stops_and_re_times_the_routes(client, office):
    items(office, "west", 4)
    items(office, "east", 4)
    plan = solved(client, office, start(client, office)["id"])
    west, east = office["carriers"]["west"].id, office["carriers"]["east"].id
    stop = orders(plan)[east][-1]
    url = f"/api/v1/plans/{plan['id']}/stops/{stop}"
    body = {"version": plan["version"], "carrier_id": west, "position": 0, "locked": True}
    edited = client.patch(url, json=body, headers=headers(office))
    assert edited.status_code == 200, edited.json
    after = edited.json
    assert orders(after)[west][0] == stop and stop not in orders(after)[east]
    assert after["version"] > plan["version"] and after["summary"]["edited"] is True
    first = next(r for r in after["routes"] if r["carrier_id"] == west)["stops"][0]
    assert first["locked"] and first["arrival_s"] > 9 * 3600
    stale = client.patch(url, json=body, headers=headers(office))
    assert stale.status_code == 409 and stale.json["error"]["code"] == "stale_plan"
    # Re-optimising keeps the locked stop with its carrier, whatever geography says.
    optimise = client.post(
        f"/api/v1/plans/{plan['id']}/optimise",
        json={"version": after["version"]},
        headers=headers(office),
    )
    assert optimise.status_code == 202 and optimise.json["status"] == "queued"
    busy = client.patch(
        url, json=body | {"version": optimise.json["version"]}, headers=headers(office)
    )
    assert busy.status_code == 409 and busy.json["error"]["code"] == "plan_busy"
    again = solved(client, office, plan["id"])
    assert stop in orders(again)[west]


def test_bad_requests_name_the_field(client, office, world):
    items(office, "west", 1)
    db.session.commit()
    url = f"/api/v1/offices/{office['tenant'].office.id}/plans"
    past = client.post(url, json={"day": "2020-01-06"}, headers=headers(office))
    assert past.status_code == 422 and "day" in past.json["error"]["fields"]
    foreign = make_carrier(world.b.office)
    db.session.commit()
    wrong = client.post(
        url, json={"day": DAY.isoformat(), "carrier_ids": [foreign.id]}, headers=headers(office)
    )
    assert wrong.status_code == 422 and "carrier_ids" in wrong.json["error"]["fields"]
    too_long = client.post(
        url, json={"day": DAY.isoformat(), "time_limit_s": 3000}, headers=headers(office)
    )
    assert too_long.status_code == 422 and "time_limit_s" in too_long.json["error"]["fields"]
    other = client.post(
        f"/api/v1/offices/{world.b.office.id}/plans",
        json={"day": DAY.isoformat()},
        headers=headers(office),
    )
    assert other.status_code == 404


def test_a_published_plan_reaches_its_carriers_and_only_their_own_route(client, office):
    items(office, "west", 3)
    items(office, "east", 3)
    plan = solved(client, office, start(client, office)["id"])
    west = office["carriers"]["west"]
    db.session.commit()
    carrier_headers = auth(issue_token(db.session.get(Account, west.account_id)))
    db.session.commit()
    hidden = client.get(f"/api/v1/plans/{plan['id']}", headers=carrier_headers)
    assert hidden.status_code == 404  # not published yet
    client.post(
        f"/api/v1/plans/{plan['id']}/publish",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    pushes = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "push"))
    assert sorted(m.payload["account_id"] for m in pushes) == sorted(
        c.account_id for c in office["carriers"].values()
    )
    # Carriers read their own route through the carrier app, never the office's plan.
    staff_view = client.get(f"/api/v1/plans/{plan['id']}", headers=carrier_headers)
    assert staff_view.status_code == 404
    seen = client.get(f"/api/v1/carrier/route?day={DAY.isoformat()}", headers=carrier_headers)
    own = next(r for r in plan["routes"] if r["carrier_id"] == west.id)["stops"]
    assert [s["registered_number"] for s in seen.json["stops"]] == [
        s["registered_number"] for s in own
    ]
    assert deliver_due().sent == 2  # the pushes


def test_an_urgent_visit_mid_day_changes_only_the_route_that_absorbs_it(
    client, office, monkeypatch
):
    items(office, "west", 4)
    items(office, "east", 4)
    plan = solved(client, office, start(client, office)["id"])
    client.post(
        f"/api/v1/plans/{plan['id']}/publish",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    deliver_due()  # the publication's pushes
    before = client.get(f"/api/v1/plans/{plan['id']}", headers=headers(office)).json
    noon = datetime.combine(DAY, time(11, 0), tzinfo=SEOUL)
    monkeypatch.setattr(days, "seoul_now", lambda: noon)
    urgent = make_due_item(office["tenant"], (EAST[0] + 0.001, EAST[1]), DAY, office["east"])
    db.session.commit()
    response = client.post(
        f"/api/v1/plans/{plan['id']}/urgent",
        json={"version": before["version"], "item_id": urgent.id},
        headers=headers(office),
    )
    assert response.status_code == 200, response.json  # fitted into the routes at once
    after = response.json
    assert after["status"] == "published" and after["search"] is None
    changed = [c for c, order in orders(after).items() if order != orders(before)[c]]
    assert len(changed) == 1
    [route] = [r for r in after["routes"] if r["carrier_id"] == changed[0]]
    new = [s for s in route["stops"] if s["registered_number"] == urgent.registered_number]
    assert new and new[0]["urgent"] and new[0]["arrival_s"] + new[0]["waiting_s"] >= 11 * 3600
    assert [s for s in orders(after)[changed[0]] if s != new[0]["id"]] == orders(before)[changed[0]]
    pushes = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.kind == "push", OutboxMessage.status == "pending"
        )
    ).all()
    account = {c.id: c.account_id for c in office["carriers"].values()}[changed[0]]
    assert [(m.payload["account_id"], m.payload["event"]) for m in pushes] == [
        (account, "route_changed")
    ]
    assert pushes[0].payload["data"]["urgent"] is True


def test_carriers_shift_profile_and_households_hours_are_set_through_the_api(client, office):
    carrier = office["carriers"]["west"]
    db.session.commit()
    url = f"/api/v1/carriers/{carrier.id}"
    changed = client.patch(
        url,
        json={"shift": "08:30-17:30", "profile": "van", "lunch_minutes": 30},
        headers=headers(office),
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["shift"], changed.json["profile"], changed.json["lunch_minutes"]) == (
        "08:30-17:30",
        "van",
        30,
    )
    assert changed.json["home_district_id"] == office["west"].id  # untouched
    for bad in ({"shift": "18:00-09:00"}, {"profile": "rocket"}, {"lunch_minutes": 500}):
        refused = client.patch(url, json=bad, headers=headers(office))
        assert refused.status_code == 422 and set(bad) <= set(refused.json["error"]["fields"])
    social = office["tenant"].headers(Role.SOCIAL_WORKER)
    body = {"name": "시간가구", "road_address": "서울특별시 시험구 희망로 9"}
    bad = client.post(
        "/api/v1/households", json=body | {"preferred_hours": ["25:00-26:00"]}, headers=social
    )
    assert bad.status_code == 422 and "preferred_hours" in bad.json["error"]["fields"]
    made = client.post(
        "/api/v1/households", json=body | {"preferred_hours": ["14:00-17:00"]}, headers=social
    )
    assert made.status_code == 201 and made.json["preferred_hours"] == ["14:00-17:00"]

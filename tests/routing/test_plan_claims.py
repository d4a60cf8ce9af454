"""An item is on at most one open plan, and a published plan serves its carriers while redone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.auth.services import issue_token
from core.clock import SEOUL
from core.db import db
from core.outbox import deliver_due
from municipalities.mail.models import MailItem
from routing.models import PlanStop, RoutePlan
from routing.plans import days, worker
from tests.carrier_api.test_carrier_route import carrier_headers, published
from tests.carrier_api.test_visits import post, record
from tests.routing.test_planning import (  # noqa: F401 - the office fixture
    DAY,
    NEXT_DAY,
    headers,
    items,
    office,
    solved,
    start,
)
from tests.support.factories import (
    Tenant,
    auth,
    make_account,
    make_carrier,
    make_district,
    make_due_item,
    make_municipality,
    make_office,
    square,
)

ROUTE = f"/api/v1/carrier/route?day={DAY.isoformat()}"


def claims() -> dict[int, int]:
    """Open plans holding each welfare item."""
    rows = db.session.execute(
        sa.select(PlanStop.mail_item_id, sa.func.count())
        .where(PlanStop.claimed.is_(True), PlanStop.mail_item_id.is_not(None))
        .group_by(PlanStop.mail_item_id)
    )
    return {item: n for item, n in rows}


def test_items_out_on_a_published_plan_are_not_planned_again_until_their_day_is_over(
    client,
    office,  # noqa: F811
    monkeypatch,
):
    plan = published(client, office)
    routed = {s["registered_number"] for r in plan["routes"] for s in r["stops"]}
    [fresh] = items(office, "west", 1)
    tomorrow = start(client, office, day=NEXT_DAY.isoformat())
    assert tomorrow["stops"] == 1  # only the new letter: the others are out today
    assert set(claims().values()) == {1}
    # Planning the published day again is refused: it is changed, not planned twice.
    again = client.post(
        f"/api/v1/offices/{office['tenant'].office.id}/plans",
        json={"day": DAY.isoformat(), "time_limit_s": 1},
        headers=headers(office),
    )
    assert again.status_code == 409 and f"#{plan['id']}" in again.json["error"]["message"]
    # Once the day is over, what was not visited rolls over to the next plan.
    after = datetime.combine(NEXT_DAY, time(7), SEOUL)
    monkeypatch.setattr(days, "seoul_now", lambda: after)
    replanned = start(client, office, day=NEXT_DAY.isoformat())
    assert replanned["stops"] == len(routed) + 1
    assert db.session.get(RoutePlan, tomorrow["id"]).status == "discarded"
    assert set(claims().values()) == {1} and len(claims()) == len(routed) + 1
    assert fresh.id in claims()


def test_a_new_plan_of_a_day_replaces_its_draft_and_the_draft_answer_is_dropped(client, office):  # noqa: F811
    items(office, "west", 3)
    first = start(client, office)
    second = start(client, office)
    assert db.session.get(RoutePlan, first["id"]).status == "discarded"
    # The discarded plan's solve finds it replaced and stores nothing.
    assert solved(client, office, second["id"])["stops"] == 3
    assert db.session.get(RoutePlan, first["id"]).status == "discarded"
    assert set(claims().values()) == {1} and len(claims()) == 3


def test_a_stop_left_off_when_published_goes_back_on_only_if_no_other_plan_has_it(client, office):  # noqa: F811
    items(office, "west", 2)
    plan = solved(client, office, start(client, office)["id"])
    stop = plan["routes"][0]["stops"] or plan["routes"][1]["stops"]
    stop = stop[0]
    url = f"/api/v1/plans/{plan['id']}"
    off = client.patch(
        f"{url}/stops/{stop['id']}",
        json={"version": plan["version"], "carrier_id": None},
        headers=headers(office),
    )
    assert off.status_code == 200, off.json
    done = client.post(
        f"{url}/publish", json={"version": off.json["version"]}, headers=headers(office)
    )
    assert done.status_code == 200
    tomorrow = start(client, office, day=NEXT_DAY.isoformat())
    assert tomorrow["stops"] == 1  # the left-off letter rolled over to the next plan
    carrier = office["carriers"]["west"].id
    back = client.patch(
        f"{url}/stops/{stop['id']}",
        json={"version": done.json["version"], "carrier_id": carrier},
        headers=headers(office),
    )
    assert back.status_code == 409 and f"#{tomorrow['id']}" in back.json["error"]["message"]
    assert set(claims().values()) == {1}


def test_a_published_plan_being_optimised_again_keeps_serving_its_carriers(client, office):  # noqa: F811
    plan = published(client, office)
    west = office["carriers"]["west"]
    route = client.get(ROUTE, headers=carrier_headers(west)).json
    assert route["stops"]
    redo = client.post(
        f"/api/v1/plans/{plan['id']}/optimise",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    assert redo.status_code == 202, redo.json
    assert redo.json["status"] == "published" and redo.json["search"] == "queued"
    during = client.get(ROUTE, headers=carrier_headers(west)).json
    assert [s["stop_id"] for s in during["stops"]] == [s["stop_id"] for s in route["stops"]]
    day = {"headers": carrier_headers(west)}
    visited = post(client, day, record(route["stops"][0]["registered_number"]))
    assert visited.status_code == 201 and "reassigned" not in visited.json["flags"]
    busy = client.post(
        f"/api/v1/plans/{plan['id']}/publish",
        json={"version": redo.json["version"]},
        headers=headers(office),
    )
    assert busy.status_code == 409
    assert deliver_due().sent >= 1
    after = client.get(f"/api/v1/plans/{plan['id']}", headers=headers(office)).json
    assert after["status"] == "published" and after["search"] is None
    visited_stop = next(
        s for r in after["routes"] for s in r["stops"] if s["id"] == route["stops"][0]["stop_id"]
    )
    assert visited_stop["done"]


def test_a_stop_visited_while_the_search_ran_stays_with_the_carrier_who_visited_it(
    client,
    office,  # noqa: F811
    monkeypatch,
):
    plan = published(client, office)
    west, east = office["carriers"]["west"], office["carriers"]["east"]
    route = client.get(ROUTE, headers=carrier_headers(west)).json
    number = route["stops"][0]["registered_number"]
    stop_id = route["stops"][0]["stop_id"]
    redo = client.post(
        f"/api/v1/plans/{plan['id']}/optimise",
        json={"version": plan["version"]},
        headers=headers(office),
    )
    assert redo.status_code == 202
    real = worker.solve_large

    def visit_meanwhile(problem, *args, **kwargs):
        """The west carrier delivers while the search runs, whose answer gives it to east."""
        answer = real(problem, *args, **kwargs)
        response = post(client, {"headers": carrier_headers(west)}, record(number))
        assert response.status_code == 201
        for answered in answer["routes"]:
            answered["steps"] = [
                s for s in answered["steps"] if s.get("id") != stop_id or s["type"] != "job"
            ]
        east_route = next(r for r in answer["routes"] if r["vehicle"] == east.id)
        job = {"type": "job", "id": stop_id, "arrival": 40_000, "waiting_time": 0}
        east_route["steps"].insert(1, job)
        return answer

    monkeypatch.setattr(worker, "solve_large", visit_meanwhile)
    assert deliver_due().sent >= 1
    db.session.expire_all()
    stop = db.session.get(PlanStop, stop_id)
    assert stop.carrier_id == west.id
    assert db.session.get(RoutePlan, plan["id"]).job_status is None


@pytest.mark.no_db_rollback
@pytest.mark.parametrize("second_day", ["same", "next"])
def test_two_dispatchers_planning_at_once_never_put_an_item_on_two_open_plans(
    fresh_app, second_day
):
    app, _ = fresh_app
    with app.app_context():
        tenant = Tenant(make_municipality(), make_office(depot_lon=126.96, depot_lat=37.51))
        district = make_district(tenant.office, square(126.95, 37.50, 0.02))
        make_carrier(tenant.office, district)
        for n in range(12):
            make_due_item(tenant, (126.951 + 0.001 * n, 37.505), DAY, district)
        tokens = [
            issue_token(make_account(Role.DISPATCHER, office_id=tenant.office.id)) for _ in range(2)
        ]
        office_id = tenant.office.id
        db.session.commit()
    days = [DAY, DAY if second_day == "same" else NEXT_DAY]
    barrier = threading.Barrier(2)

    def plan(index: int) -> int:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            f"/api/v1/offices/{office_id}/plans",
            json={"day": days[index].isoformat(), "time_limit_s": 1},
            headers=auth(tokens[index]),
        )
        return response.status_code

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(plan, range(2))) == [202, 202]
    with app.app_context():
        held = claims()
        assert len(held) == 12 and set(held.values()) == {1}
        open_plans = db.session.scalars(
            sa.select(RoutePlan).where(RoutePlan.status != "discarded")
        ).all()
        assert len(open_plans) == (1 if second_day == "same" else 2)
        assert db.session.scalar(sa.select(sa.func.count(MailItem.id))) == 12


def test_the_database_refuses_a_second_claim_whatever_path_inserts_it(client, office):  # noqa: F811
    [item] = items(office, "west", 1)
    first = start(client, office)
    stop = PlanStop(
        plan_id=first["id"],
        kind="welfare",
        mail_item_id=item.id,
        lon=0.0,
        lat=0.0,
        service_s=1,
        priority=1,
    )
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(stop)
        db.session.flush()

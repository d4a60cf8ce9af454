"""The postal objective on a plan: every carrier on shift gets a fair share, rounds leave after
sorting, and the plan shows each carrier's working time and the spread (API and page)."""

from __future__ import annotations

import pytest

from core.auth.roles import Role
from core.outbox import deliver_due
from tests.routing.test_planning import DAY, EAST, WEST, spread
from tests.support.desk import sign_in
from tests.support.factories import make_carrier, make_district, make_due_item, square
from tests.support.fakes.fcm import fcm_on  # noqa: F401

pytestmark = pytest.mark.usefixtures("fcm_on")


@pytest.fixture
def office(world):
    """A west district with two carriers living in it (as on the demo day) and an east one."""
    tenant = world.a
    west = make_district(tenant.office, square(126.95, 37.50, 0.01))
    east = make_district(tenant.office, square(126.96, 37.50, 0.01))
    carriers = [make_carrier(tenant.office, west), make_carrier(tenant.office, west)]
    carriers.append(make_carrier(tenant.office, east))
    for point in spread(WEST, 12):
        make_due_item(tenant, point, DAY, west)
    for point in spread(EAST, 6):
        make_due_item(tenant, point, DAY, east)
    return {"tenant": tenant, "carriers": carriers}


def planned(client, office) -> dict:
    """Plan the day through the API, run the worker, read the plan back."""
    headers = office["tenant"].headers(Role.DISPATCHER)
    url = f"/api/v1/offices/{office['tenant'].office.id}/plans"
    started = client.post(url, json={"day": DAY.isoformat(), "time_limit_s": 3}, headers=headers)
    assert started.status_code == 202, started.json
    assert deliver_due().sent >= 1
    plan = client.get(f"/api/v1/plans/{started.json['id']}", headers=headers).json
    assert plan["status"] == "ready" and plan["unassigned"] == 0, plan
    return plan


def test_every_carrier_on_shift_gets_a_fair_share_and_leaves_after_sorting(client, office):
    plan = planned(client, office)
    counts = {r["carrier_id"]: len(r["stops"]) for r in plan["routes"]}
    assert set(counts) == {c.id for c in office["carriers"]}
    # 18 visits of 10 minutes for three carriers: six each, give or take the band.
    assert min(counts.values()) >= 4, counts
    # Shifts start at 09:00; the morning's sorting takes ROUTING_SORTING_MINUTES (30).
    assert {r["start"] for r in plan["routes"]} == {"09:30"}
    assert all(r["stops"][0]["arrival"] >= "09:30" for r in plan["routes"])

    working = plan["summary"]["working"]
    assert {c["carrier_id"]: c["working_s"] for c in working["carriers"]} == {
        r["carrier_id"]: r["working_s"] for r in plan["routes"]
    }
    assert working["longest_s"] == max(r["working_s"] for r in plan["routes"])
    assert working["shortest_s"] == min(r["working_s"] for r in plan["routes"]) > 0
    assert working["spread"] <= 1.5


def test_the_plan_page_shows_each_carriers_working_time_and_the_spread(client, office):
    plan = planned(client, office)
    sign_in(client, office["tenant"].accounts[Role.DISPATCHER])
    page = client.get(f"/dispatch/plans/{plan['id']}").text
    assert "작업 시간 (최장 / 최단)" in page and 'id="plan-spread"' in page
    assert f">{plan['summary']['working']['spread']}<" in page
    assert page.count("<dt>작업 시간</dt>") == len(plan["routes"])

"""Every read or write of personal data is access-logged: plans, office items, unassigned
households and case notes (the reads and writes an outside audit found unlogged)."""

from __future__ import annotations

import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from municipalities.mail.models import MailItem
from tests.carrier_api.test_carrier_route import published
from tests.carrier_api.test_visits import day, post, record  # noqa: F401
from tests.routing.test_planning import DAY, headers, office  # noqa: F401
from tests.support.desk import sign_in
from tests.welfare_checks.test_check_reports import social


def logged(action: str, subject_type: str, account_id: int) -> list[AccessLog]:
    return list(
        db.session.scalars(
            sa.select(AccessLog).where(
                AccessLog.action == action,
                AccessLog.subject_type == subject_type,
                AccessLog.account_id == account_id,
            )
        )
    )


def welfare_households(plan: dict) -> set[int]:
    numbers = {s["registered_number"] for r in plan["routes"] for s in r["stops"]}
    rows = db.session.scalars(
        sa.select(MailItem.household_id).where(MailItem.registered_number.in_(numbers))
    )
    return set(rows)


def test_reading_a_plan_logs_the_households_whose_addresses_it_shows(client, office):  # noqa: F811
    plan = published(client, office)
    dispatcher = office["tenant"].accounts[Role.DISPATCHER]
    before = len(logged("read", "household", dispatcher.id))
    assert client.get(f"/api/v1/plans/{plan['id']}", headers=headers(office)).status_code == 200
    rows = logged("read", "household", dispatcher.id)[before:]
    assert {r.subject_id for r in rows} == welfare_households(plan)
    assert {r.detail for r in rows} == {f"plan={plan['id']}"}
    assert {r.municipality_id for r in rows} == {office["tenant"].municipality.id}

    sign_in(client, dispatcher)
    assert client.get(f"/dispatch/plans/{plan['id']}").status_code == 200
    assert len(logged("read", "household", dispatcher.id)) == before + 2 * len(rows)


def test_reading_the_offices_items_is_logged(client, office):  # noqa: F811
    url = f"/api/v1/offices/{office['tenant'].office.id}/items"
    body = {
        "day": DAY.isoformat(),
        "items": [
            {
                "registered_number": "6260000000016",
                "addressee": "홍길동",
                "road_address": "서울특별시 시험구 우정로 1",
                "location": [126.955, 37.505],
            }
        ],
    }
    stored = client.post(url, json=body, headers=headers(office))
    assert stored.status_code == 201, stored.json
    listed = client.get(f"{url}?day={DAY.isoformat()}", headers=headers(office))
    assert listed.status_code == 200 and len(listed.json) == 1
    dispatcher = office["tenant"].accounts[Role.DISPATCHER]
    [row] = logged("read", "office_item", dispatcher.id)
    assert row.subject_id == stored.json[0]["id"]


def test_listing_unassigned_households_is_logged(client, world):
    headers = world.a.headers(Role.SOCIAL_WORKER)
    household = {
        "name": "박민수",
        "road_address": "경상북도 먼군 바깥로 1",
        "household_type": "single_elderly",
        "risk_sources": ["electricity_arrears"],
        "location": [128.5, 35.8],
    }
    created = client.post("/api/v1/households", json=household, headers=headers)
    assert created.status_code == 201, created.json
    listed = client.get("/api/v1/households/unassigned", headers=headers)
    assert [h["id"] for h in listed.json["items"]] == [created.json["id"]]
    worker = world.a.accounts[Role.SOCIAL_WORKER]
    assert [r.subject_id for r in logged("list", "household", worker.id)] == [created.json["id"]]


def test_a_case_note_is_logged(client, day):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    [case] = client.get("/api/v1/cases", headers=social(day)).json["items"]
    note = client.post(
        f"/api/v1/cases/{case['id']}/notes", json={"text": "전화 상담함"}, headers=social(day)
    )
    assert note.status_code == 201
    worker = day["tenant"].accounts[Role.SOCIAL_WORKER]
    [row] = logged("note", "household", worker.id)
    assert row.subject_id == case["household_id"] and row.detail == f"case={case['id']}"


def test_a_carriers_survey_is_logged_as_a_write_of_the_households_data(client, day):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    [row] = logged("survey", "household", day["west"].account_id)
    item = db.session.scalar(
        sa.select(MailItem).where(MailItem.registered_number == day["numbers"][0])
    )
    assert row.subject_id == item.household_id and row.detail.startswith("visit=")


def test_addresses_are_searched_by_post_never_in_a_url(client, world):
    headers = world.a.headers(Role.SOCIAL_WORKER)
    in_url = client.get("/api/v1/households?address=희망로", headers=headers)
    assert in_url.status_code == 422 and "address" in in_url.json["error"]["fields"]["query"]
    posted = client.post("/api/v1/households/search", json={"address": "희망로"}, headers=headers)
    assert posted.status_code == 200
    spec = client.get("/api/v1/openapi.json").json
    listed = spec["paths"]["/api/v1/households"]["get"]["parameters"]
    assert "address" not in {parameter["name"] for parameter in listed}

"""The household registry through the API: CRUD, search, assignment, access log, privacy."""

from __future__ import annotations

import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from municipalities.models import Household

NEW = {
    "name": "김순자",
    "road_address": "서울특별시 시험구 희망로 12",
    "address_detail": "101동 202호",
    "postal_code": "06234",
    "phone": "010-2345-6789",
    "household_type": "single_elderly",
    "risk_sources": ["electricity_arrears", "health_insurance_arrears"],
    "location": [126.96, 37.51],
    "note": "낮 시간 부재가 잦음",
}


def create(client, tenant, body=None, role=Role.SOCIAL_WORKER):
    return client.post("/api/v1/households", json=body or NEW, headers=tenant.headers(role))


def test_create_read_update_close(client, world):
    created = create(client, world.a)
    assert created.status_code == 201, created.json
    household = created.json
    assert household["phone"] == "+821023456789"
    assert household["assignment_status"] == "assigned"
    assert household["office_id"] == world.a.office.id
    assert household["location"] == [126.96, 37.51]
    url = f"/api/v1/households/{household['id']}"
    headers = world.a.headers(Role.SOCIAL_WORKER)
    assert client.get(url, headers=headers).json["name"] == "김순자"
    updated = client.patch(url, json={"version": 1, "note": "오전에 방문"}, headers=headers)
    assert updated.status_code == 200 and updated.json["note"] == "오전에 방문"
    stale = client.patch(url, json={"version": 1, "note": "늦은 수정"}, headers=headers)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "stale_version"
    closed = client.post(f"{url}/close", json={"reason": "moved"}, headers=headers)
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    assert client.post(f"{url}/close", json={"reason": "moved"}, headers=headers).status_code == 409


def test_bad_fields_are_named(client, world):
    body = NEW | {"phone": "12345", "postal_code": "12", "location": [150.0, 10.0]}
    response = create(client, world.a, body)
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert {"phone", "postal_code"} <= set(fields)
    assert "location" in fields or "lon" in fields


def test_unknown_and_mass_assignment_fields_are_refused(client, world):
    for extra in ({"municipality_id": world.b.municipality.id}, {"status": "closed"}, {"id": 5}):
        response = create(client, world.a, NEW | extra)
        assert response.status_code == 422
        assert set(extra) <= set(response.json["error"]["fields"])


def test_same_household_is_not_registered_twice(client, world):
    assert create(client, world.a).status_code == 201
    again = create(client, world.a, NEW | {"name": " 김순자 ", "phone": None})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate_household"
    # Another municipality may register the same person (their registries are separate).
    assert create(client, world.b, NEW | {"location": [127.06, 37.51]}).status_code == 201


def test_outside_every_district_is_listed_with_reason(client, world):
    outside = create(client, world.a, NEW | {"location": [128.5, 35.8]})
    assert outside.json["assignment_status"] == "outside_districts"
    missing = create(client, world.a, NEW | {"name": "박영호", "location": None})
    assert missing.json["assignment_status"] == "not_geocoded"
    listed = client.get(
        "/api/v1/households/unassigned", headers=world.a.headers(Role.SOCIAL_WORKER)
    ).json
    reasons = {item["id"]: item["reason"] for item in listed["items"]}
    assert set(reasons) == {outside.json["id"], missing.json["id"]}
    assert "집배구" in reasons[outside.json["id"]]


def test_search_by_name_uses_a_post_body_and_filters(client, world):
    create(client, world.a)
    create(client, world.a, NEW | {"name": "이민호", "household_type": "disabled_member"})
    headers = world.a.headers(Role.SOCIAL_WORKER)
    found = client.post("/api/v1/households/search", json={"name": "김순자"}, headers=headers)
    assert [h["name"] for h in found.json["items"]] == ["김순자"]
    by_type = client.get("/api/v1/households?household_type=disabled_member", headers=headers)
    assert [h["name"] for h in by_type.json["items"]] == ["이민호"]
    by_risk = client.get("/api/v1/households?risk_source=electricity_arrears", headers=headers)
    assert by_risk.json["meta"]["total"] == 2
    # The name filter does not exist on the GET: names stay out of URLs and logs.
    assert client.get("/api/v1/households?name=x", headers=headers).status_code == 422


def test_roles(client, world):
    household = create(client, world.a).json
    url = f"/api/v1/households/{household['id']}"
    auditor = world.a.headers(Role.AUDITOR)
    assert client.get(url, headers=auditor).status_code == 200
    assert client.patch(url, json={"version": 1, "note": "x"}, headers=auditor).status_code == 403
    assert create(client, world.a, NEW | {"name": "최"}, role=Role.AUDITOR).status_code == 403
    for role in (Role.DISPATCHER, Role.CARRIER):
        assert client.get(url, headers=world.a.headers(role)).status_code == 404
    assert client.get(url, headers=world.admin_headers()).status_code == 404


def test_every_read_and_change_is_access_logged(client, world):
    household = create(client, world.a).json
    headers = world.a.headers(Role.SOCIAL_WORKER)
    client.get(f"/api/v1/households/{household['id']}", headers=headers)
    client.get("/api/v1/households", headers=headers)
    client.patch(
        f"/api/v1/households/{household['id']}", json={"version": 1, "phone": None}, headers=headers
    )
    rows = db.session.scalars(
        sa.select(AccessLog).where(AccessLog.subject_id == household["id"]).order_by(AccessLog.id)
    ).all()
    assert [r.action for r in rows] == ["create", "view", "list", "update"]
    account = world.a.accounts[Role.SOCIAL_WORKER].id
    for row in rows:
        assert row.account_id == account
        assert row.ip == "127.0.0.1"
        assert row.at.microsecond == 0 and row.at.tzinfo is not None
        assert row.municipality_id == world.a.municipality.id
        assert "김순자" not in (row.detail or "")


def test_personal_fields_are_encrypted_in_the_table(client, world):
    household = create(client, world.a).json
    raw = db.session.execute(
        sa.text("SELECT name, phone, note FROM households WHERE id = :id"), {"id": household["id"]}
    ).one()
    assert "김순자" not in raw.name and "2345" not in raw.phone and "부재" not in raw.note
    stored = db.session.get(Household, household["id"])
    assert stored.name == "김순자"


def test_responses_with_personal_data_are_not_stored(client, world):
    household = create(client, world.a).json
    response = client.get(
        f"/api/v1/households/{household['id']}", headers=world.a.headers(Role.SOCIAL_WORKER)
    )
    assert response.headers["Cache-Control"] == "no-store"


def test_nul_characters_are_refused_with_the_field_named(client, world):
    headers = world.a.headers(Role.SOCIAL_WORKER)
    response = client.post(
        "/api/v1/households/search", json={"address": "희망\x00로"}, headers=headers
    )
    assert response.status_code == 422 and "address" in response.json["error"]["fields"]
    created = create(client, world.a, NEW | {"note": "a\x00b"})
    assert created.status_code == 422 and "note" in created.json["error"]["fields"]

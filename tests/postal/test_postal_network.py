"""The postal network through the API and CLI: offices, districts (and reassignment), carriers."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from shapely.geometry import shape

from core.auth.models import Account
from core.auth.roles import Role
from core.db import db
from postal.models import Carrier, CarrierDistrict
from tests.support.factories import square

CARRIER_PASSWORD = "carrier horse battery staple 42"
OFFICE = {
    "code": "SEOUL-9",
    "name": "시험중앙우체국",
    "road_address": "서울특별시 시험구 우정로 9",
    "postal_code": "06001",
    "depot": [127.2, 37.5],
}


def feature(code, name, geometry) -> dict:
    properties = {"name": name} if code is None else {"code": code, "name": name}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def district_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(CarrierDistrict.id)))


def put_districts(client, world, office_id: int, geojson: dict, headers=None):
    return client.put(
        f"/api/v1/offices/{office_id}/districts",
        json=geojson,
        headers=headers or world.admin_headers(),
    )


def household_at(client, world, lon: float, lat: float, name: str = "구역밖") -> dict:
    response = client.post(
        "/api/v1/households",
        json={
            "name": name,
            "road_address": f"서울특별시 시험구 {name}로 1",
            "location": [lon, lat],
        },
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 201, response.json
    return response.json


def get_household(client, world, household_id: int) -> dict:
    return client.get(
        f"/api/v1/households/{household_id}", headers=world.a.headers(Role.SOCIAL_WORKER)
    ).json


# Tenant a's district covers [126.95, 126.97] x [37.50, 37.52]; b's [127.05, 127.07] x same.
BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[127.30, 37.50], [127.31, 37.51], [127.31, 37.50], [127.30, 37.51], [127.30, 37.50]]
    ],
}
INVALID_UPLOAD = collection(
    feature("BOW", "꼬인 구역", BOWTIE),
    feature("OVER", "겹친 구역", square(127.06, 37.51, 0.02)),  # overlaps tenant b's district
    feature(None, "코드 없음", square(127.40, 37.50)),
    feature("PT", "점", {"type": "Point", "coordinates": [127.5, 37.5]}),
)
INVALID_PROBLEMS = {
    (0, "geometry_invalid"),
    (1, "overlap"),
    (2, "code_missing"),
    (3, "geometry_type"),
}


# --- offices ---------------------------------------------------------------------------------


def test_system_admin_creates_offices_others_cannot(client, world):
    created = client.post("/api/v1/offices", json=OFFICE, headers=world.admin_headers())
    assert created.status_code == 201, created.json
    assert created.json["depot"] == [127.2, 37.5] and created.json["code"] == "SEOUL-9"
    again = client.post("/api/v1/offices", json=OFFICE, headers=world.admin_headers())
    assert again.status_code == 409 and "code" in again.json["error"]["fields"]
    for role in (Role.DISPATCHER, Role.MUNICIPAL_ADMIN):
        body = OFFICE | {"code": f"X-{role.value[:5]}"}
        response = client.post("/api/v1/offices", json=body, headers=world.a.headers(role))
        assert response.status_code == 403


def test_office_input_is_checked(client, world):
    for body, field in (
        (OFFICE | {"depot": [127.2]}, "depot"),
        (OFFICE | {"code": "세종"}, "code"),
        (OFFICE | {"postal_code": "123"}, "postal_code"),
        ({k: v for k, v in OFFICE.items() if k != "name"}, "name"),
    ):
        response = client.post("/api/v1/offices", json=body, headers=world.admin_headers())
        assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_dispatcher_sees_own_office_only(client, world):
    headers = world.a.headers(Role.DISPATCHER)
    listed = client.get("/api/v1/offices", headers=headers).json
    assert [office["id"] for office in listed["items"]] == [world.a.office.id]
    assert client.get(f"/api/v1/offices/{world.a.office.id}", headers=headers).status_code == 200
    for url in (
        f"/api/v1/offices/{world.b.office.id}",
        f"/api/v1/offices/{world.b.office.id}/districts",
        f"/api/v1/offices/{world.b.office.id}/districts.geojson",
        f"/api/v1/offices/{world.b.office.id}/carriers",
    ):
        assert client.get(url, headers=headers).status_code == 404, url
    other_district = db.session.scalar(
        sa.select(CarrierDistrict.id).where(CarrierDistrict.office_id == world.b.office.id)
    )
    assert client.get(f"/api/v1/districts/{other_district}", headers=headers).status_code == 404
    all_offices = client.get("/api/v1/offices", headers=world.admin_headers()).json
    assert {world.a.office.id, world.b.office.id} <= {o["id"] for o in all_offices["items"]}


def test_only_system_admin_changes_an_office(client, world):
    url = f"/api/v1/offices/{world.a.office.id}"
    own = client.patch(url, json={"name": "새 이름"}, headers=world.a.headers(Role.DISPATCHER))
    assert own.status_code == 403
    other = client.patch(url, json={"name": "새 이름"}, headers=world.b.headers(Role.DISPATCHER))
    assert other.status_code == 404
    changed = client.patch(url, json={"depot": [126.99, 37.49]}, headers=world.admin_headers())
    assert changed.status_code == 200 and changed.json["depot"] == [126.99, 37.49]


def test_cli_creates_an_office(runner, world):
    args = ["offices", "create", "--code", "CLI-1", "--name", "명령우체국", "--address", "가상로 1"]
    result = runner.invoke(args=[*args, "--lon", "127.1", "--lat", "37.4"])
    assert result.exit_code == 0, result.output
    assert "CLI-1" in result.output
    again = runner.invoke(args=[*args, "--lon", "127.1", "--lat", "37.4"])
    assert again.exit_code != 0 and "code" in again.output


# --- districts -------------------------------------------------------------------------------


def test_valid_districts_upload_loads(client, world):
    upload = collection(
        feature("N1", "북 1구", square(127.20, 37.60)),
        feature("N2", "북 2구", square(127.21, 37.60)),  # shares a border with N1
    )
    response = put_districts(client, world, world.a.office.id, upload)

    assert response.status_code == 200, response.json
    assert [(d["code"], d["office_id"]) for d in response.json] == [
        ("N1", world.a.office.id),
        ("N2", world.a.office.id),
    ]
    assert 700_000 < response.json[0]["area_m2"] < 1_000_000  # 0.01° square at 37.6°N
    listed = client.get(
        f"/api/v1/offices/{world.a.office.id}/districts",
        headers=world.a.headers(Role.DISPATCHER),
    ).json
    assert {"N1", "N2"} <= {d["code"] for d in listed}


def test_only_system_admin_uploads_districts(client, world):
    upload = collection(feature("N1", "북 1구", square(127.20, 37.60)))
    before = district_count()
    response = put_districts(
        client, world, world.a.office.id, upload, headers=world.a.headers(Role.DISPATCHER)
    )
    assert response.status_code == 403
    assert district_count() == before


def test_invalid_districts_upload_names_every_problem_and_writes_nothing(client, world):
    before = district_count()

    response = put_districts(client, world, world.a.office.id, INVALID_UPLOAD)

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "districts_invalid"
    problems = error["fields"]["features"]
    assert {(p["feature"], p["problem"]) for p in problems} == INVALID_PROBLEMS
    assert all(p["message"] for p in problems)
    overlap = next(p for p in problems if p["problem"] == "overlap")
    assert "m²" in overlap["message"]
    assert district_count() == before


def test_district_code_of_another_office_is_refused(client, runner, world, tmp_path):
    code_of_b = db.session.scalar(
        sa.select(CarrierDistrict.code).where(CarrierDistrict.office_id == world.b.office.id)
    )
    before = district_count()
    upload = collection(
        feature("FRESH", "새 코드", square(127.30, 37.60)),
        feature(code_of_b, "남의 코드", square(127.20, 37.60)),
    )

    response = put_districts(client, world, world.a.office.id, upload)

    assert response.status_code == 422
    (problem,) = response.json["error"]["fields"]["features"]
    assert (problem["feature"], problem["code"]) == (1, code_of_b)
    assert problem["problem"] == "code_used_by_other_office" and problem["message"]
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(upload))
    result = runner.invoke(args=["districts", "load", str(path), "--office", world.a.office.code])
    assert result.exit_code != 0
    assert f"feature 1 ({code_of_b}): " in result.output and "another office" in result.output
    assert district_count() == before


def test_not_geojson_is_422(client, world):
    for body in ({"type": "Point", "coordinates": [127, 37]}, {"features": []}, [1, 2]):
        response = put_districts(client, world, world.a.office.id, body)
        assert response.status_code == 422, body


def test_cli_loads_valid_file_and_names_every_problem_of_an_invalid_one(runner, world, tmp_path):
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(collection(feature("C1", "명령 1구", square(127.2, 37.6)))))
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(INVALID_UPLOAD))
    code = world.a.office.code
    before = district_count()

    refused = runner.invoke(args=["districts", "load", str(bad), "--office", code])

    assert refused.exit_code != 0
    for index, _problem in INVALID_PROBLEMS:
        assert f"feature {index} " in refused.output
    assert "Self-intersection" in refused.output and "Point" in refused.output
    assert district_count() == before

    loaded = runner.invoke(args=["districts", "load", str(good), "--office", code])
    assert loaded.exit_code == 0, loaded.output
    assert "Loaded 1 districts" in loaded.output
    assert district_count() == before + 1


def test_cli_load_fails_clearly_on_unknown_office_and_not_json(runner, world, tmp_path):
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(collection(feature("C1", "명령 1구", square(127.2, 37.6)))))
    unknown = runner.invoke(args=["districts", "load", str(good), "--office", "NOPE"])
    assert unknown.exit_code != 0 and "NOPE" in unknown.output
    text = tmp_path / "text.geojson"
    text.write_text("{not json")
    broken = runner.invoke(args=["districts", "load", str(text), "--office", world.a.office.code])
    assert broken.exit_code != 0 and "not JSON" in broken.output


def test_households_are_reassigned_when_districts_change(client, world):
    household = household_at(client, world, 127.205, 37.605)
    assert household["assignment_status"] == "outside_districts"
    assert household["district_id"] is None

    loaded = put_districts(
        client, world, world.a.office.id, collection(feature("R1", "새 구역", square(127.2, 37.6)))
    )
    assert loaded.status_code == 200, loaded.json
    assigned = get_household(client, world, household["id"])
    assert assigned["assignment_status"] == "assigned"
    assert assigned["district_id"] == loaded.json[0]["id"]
    assert assigned["office_id"] == world.a.office.id

    # The same code with a polygon elsewhere replaces the district: the household is out again.
    moved = put_districts(
        client, world, world.a.office.id, collection(feature("R1", "새 구역", square(127.3, 37.6)))
    )
    assert moved.status_code == 200 and moved.json[0]["id"] == loaded.json[0]["id"]
    outside = get_household(client, world, household["id"])
    assert outside["assignment_status"] == "outside_districts"
    assert outside["district_id"] is None and outside["office_id"] is None


def test_households_follow_a_district_to_another_office_via_cli(runner, client, world, tmp_path):
    household = household_at(client, world, 127.405, 37.605, name="명령구역")
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(collection(feature("Q1", "큐 구역", square(127.4, 37.6)))))

    result = runner.invoke(args=["districts", "load", str(path), "--office", world.b.office.code])

    assert result.exit_code == 0, result.output
    assigned = get_household(client, world, household["id"])
    assert assigned["assignment_status"] == "assigned"
    assert assigned["office_id"] == world.b.office.id


def test_geojson_export_round_trips(client, world):
    upload = collection(
        feature("E1", "내보내기 1구", square(127.20, 37.60)),
        feature(
            "E2",
            "섬 구역",
            {
                "type": "MultiPolygon",
                "coordinates": [
                    square(127.25, 37.60)["coordinates"],
                    square(127.27, 37.60)["coordinates"],
                ],
            },
        ),
    )
    loaded = put_districts(client, world, world.a.office.id, upload)
    assert loaded.status_code == 200
    headers = world.a.headers(Role.DISPATCHER)
    url = f"/api/v1/offices/{world.a.office.id}/districts"

    exported = client.get(f"{url}.geojson", headers=headers)

    assert exported.status_code == 200
    data = exported.json
    assert data["type"] == "FeatureCollection"
    by_code = {f["properties"]["code"]: f for f in data["features"]}
    assert {"E1", "E2"} <= set(by_code)
    for sent in upload["features"]:
        got = by_code[sent["properties"]["code"]]
        assert got["properties"]["name"] == sent["properties"]["name"]
        assert shape(got["geometry"]).equals(shape(sent["geometry"]))
    before = {d["code"]: d for d in client.get(url, headers=headers).json}

    again = put_districts(client, world, world.a.office.id, data)

    assert again.status_code == 200, again.json
    after = {d["code"]: d for d in client.get(url, headers=headers).json}
    assert set(after) == set(before)
    for code, district in before.items():
        assert after[code]["id"] == district["id"]
        assert shape(after[code]["geometry"]).equals(shape(district["geometry"]))


# --- carriers --------------------------------------------------------------------------------


def district_of(tenant) -> int:
    return db.session.scalar(
        sa.select(CarrierDistrict.id).where(CarrierDistrict.office_id == tenant.office.id)
    )


def new_carrier(username: str, employee_no: str, home_district_id) -> dict:
    return {
        "username": username,
        "display_name": "김집배",
        "password": CARRIER_PASSWORD,
        "employee_no": employee_no,
        "home_district_id": home_district_id,
    }


def test_carriers_create_list_and_move(client, world):
    url = f"/api/v1/offices/{world.a.office.id}/carriers"
    home = district_of(world.a)
    body = new_carrier("carrier.kim", "E-1001", home)

    assert client.post(url, json=body, headers=world.a.headers(Role.DISPATCHER)).status_code == 403
    foreign = client.post(
        url, json=body | {"home_district_id": district_of(world.b)}, headers=world.admin_headers()
    )
    assert foreign.status_code == 422
    assert "home_district_id" in foreign.json["error"]["fields"]
    assert db.session.scalar(sa.select(Account.id).where(Account.username == "carrier.kim")) is None

    created = client.post(url, json=body, headers=world.admin_headers())
    assert created.status_code == 201, created.json
    carrier = created.json
    assert carrier["office_id"] == world.a.office.id and carrier["home_district_id"] == home
    taken = client.post(url, json=body | {"username": "carrier.lee"}, headers=world.admin_headers())
    assert taken.status_code == 409 and "employee_no" in taken.json["error"]["fields"]

    dispatcher = world.a.headers(Role.DISPATCHER)
    listed = client.get(url, headers=dispatcher).json
    assert [c["employee_no"] for c in listed] == ["E-1001"]
    other = world.b.headers(Role.DISPATCHER)
    assert client.get(url, headers=other).status_code == 404
    item = f"/api/v1/carriers/{carrier['id']}"
    assert client.get(item, headers=other).status_code == 404
    assert client.patch(item, json={"home_district_id": None}, headers=other).status_code == 404

    second = put_districts(
        client,
        world,
        world.a.office.id,
        collection(feature("H2", "둘째 구역", square(127.2, 37.6))),
    ).json[0]["id"]
    moved = client.patch(item, json={"home_district_id": second}, headers=dispatcher)
    assert moved.status_code == 200 and moved.json["home_district_id"] == second
    refused = client.patch(
        item, json={"home_district_id": district_of(world.b)}, headers=dispatcher
    )
    assert refused.status_code == 422 and "home_district_id" in refused.json["error"]["fields"]
    assert db.session.get(Carrier, carrier["id"]).home_district_id == second

    login = client.post(
        "/api/v1/auth/token", json={"username": "carrier.kim", "password": CARRIER_PASSWORD}
    )
    assert login.status_code == 201
    assert login.json["account"]["role"] == "carrier"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "A B"}, "username"),
        ({"employee_no": ""}, "employee_no"),
        ({"home_district_id": 0}, "home_district_id"),
        ({"password": "short"}, "password"),
    ],
)
def test_carrier_input_is_checked(client, world, change, field):
    url = f"/api/v1/offices/{world.a.office.id}/carriers"
    body = new_carrier("carrier.park", "E-2001", None) | change
    response = client.post(url, json=body, headers=world.admin_headers())
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]

"""The postal network's pages through the Flask test client: offices, districts, carriers."""

from __future__ import annotations

import json
import re
from io import BytesIO

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.auth.roles import Role
from core.db import db
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from tests.support.desk import HTML, assert_pages_refused, csrf_of, page_routes, post_form, sign_in
from tests.support.factories import World, make_carrier, make_district, square

OFFICES = "/admin/offices/"
NEW = {
    "code": "GN01",
    "name": "강남우체국",
    "road_address": "서울특별시 강남구 테헤란로 1",
    "postal_code": "06236",
    "lon": "127.028",
    "lat": "37.498",
    "delivery_weekdays": ["0", "1", "2", "3", "4"],
}


def feature(code: str, name: str, geometry: dict) -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry}


def geojson(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


class Network:
    """The world, a's office with a carrier living in its district, and the people who act."""

    def __init__(self, world: World):
        self.world = world
        self.office = world.a.office
        self.district = district_of(self.office.id)
        self.carrier = make_carrier(self.office, self.district)
        self.other = make_carrier(world.b.office)

    @property
    def dispatcher(self) -> Account:
        return self.world.a.accounts[Role.DISPATCHER]

    def carrier_name(self) -> str:
        return db.session.get(Account, self.carrier.account_id).display_name


def district_of(office_id: int) -> CarrierDistrict:
    return db.session.scalar(
        sa.select(CarrierDistrict).where(CarrierDistrict.office_id == office_id)
    )


def districts(office_id: int) -> dict[str, CarrierDistrict]:
    db.session.expire_all()
    found = sa.select(CarrierDistrict).where(CarrierDistrict.office_id == office_id)
    return {district.code: district for district in db.session.scalars(found)}


def office_named(code: str) -> DeliveryOffice | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(DeliveryOffice).where(DeliveryOffice.code == code))


def fresh_carrier(carrier_id: int) -> Carrier:
    db.session.expire_all()
    return db.session.get(Carrier, carrier_id)


def stored(carrier_id: int) -> tuple:
    """What the carriers page edits, as stored now."""
    carrier = fresh_carrier(carrier_id)
    return (
        carrier.home_district_id,
        carrier.profile,
        carrier.shift_start_min,
        carrier.shift_end_min,
        carrier.lunch_minutes,
    )


@pytest.fixture
def network(world) -> Network:
    made = Network(world)
    db.session.commit()  # the test's SAVEPOINT only: requests end their session
    return made


@pytest.fixture
def admin(client, network):
    sign_in(client, network.world.admin)
    return client


def error_of(html: str, field: str) -> str:
    """The text of the field's error (and what follows it)."""
    assert f'id="{field}-error"' in html, field
    return html.split(f'id="{field}-error"')[1]


def upload(client, office_id: int, content: bytes, mode: str = "load", name: str = "d.geojson"):
    page = f"{OFFICES}{office_id}/districts"
    token = csrf_of(client.get(page).text)
    form = {"csrf_token": token, "mode": mode, "file": (BytesIO(content), name)}
    return client.post(page, data=form, headers=HTML, content_type="multipart/form-data")


# --- Offices ------------------------------------------------------------------------------------


def test_an_admin_lists_adds_and_edits_an_office(admin, network):
    client = admin
    assert "우체국·집배구" in client.get("/").text
    listed = client.get(OFFICES).text
    for office in (network.office, network.world.b.office):
        row = listed.split(f'id="office-{office.id}"')[1].split("</tr>")[0]
        assert office.code in row and office.name in row and "1개" in row and "1명" in row

    added = post_form(client, f"{OFFICES}new", f"{OFFICES}new", NEW)
    assert added.status_code == 302, added.text
    office = office_named("GN01")
    assert (office.name, office.postal_code) == ("강남우체국", "06236")
    assert (office.depot_lon, office.depot_lat) == (127.028, 37.498)
    page = f"{OFFICES}{office.id}"
    assert added.headers["Location"] == page
    html = client.get(page).text
    assert "우체국을 등록했습니다." in html and 'value="강남우체국"' in html

    changed = NEW | {"name": "새강남우체국", "postal_code": "", "lon": "127.03", "code": "IGNORED"}
    assert post_form(client, page, f"{page}/edit", changed).status_code == 302
    office = office_named("GN01")
    assert office.name == "새강남우체국" and office.postal_code is None
    assert office.depot_lon == 127.03
    assert "우체국 정보를 저장했습니다." in client.get(page).text
    assert "새강남우체국" in client.get(OFFICES).text


@pytest.mark.parametrize(
    ("changes", "field", "message", "status"),
    [
        ({"code": "서울 01"}, "code", "영문자, 숫자, _, - 1~20자", 422),
        ({"code": ""}, "code", "필수 항목입니다", 422),
        ({"code": "TAKEN"}, "code", "이미 있는 우체국 코드입니다", 409),
        ({"name": " "}, "name", "필수 항목입니다", 422),
        ({"name": "가" * 101}, "name", "1~100자", 422),
        ({"postal_code": "1234"}, "postal_code", "숫자 5자리", 422),
        ({"lon": "동경 127"}, "lon", "숫자가 아닙니다", 422),
        ({"lat": "nan"}, "lat", "숫자가 아닙니다", 422),
        ({"lon": "37.498", "lat": "127.028"}, "lat", "-90", 422),
        ({"lon": "37.498", "lat": "37.498"}, "depot", "대한민국 범위 밖", 422),
    ],
)
def test_a_bad_new_office_is_refused_at_its_field(admin, network, changes, field, message, status):
    if changes.get("code") == "TAKEN":
        changes = {"code": network.office.code}
    response = post_form(admin, f"{OFFICES}new", f"{OFFICES}new", NEW | changes)
    assert response.status_code == status
    assert message in error_of(response.text, field)
    assert 'aria-invalid="true"' in response.text
    assert office_named("GN01") is None
    assert 'value="강남우체국"' in response.text or field == "name"  # what was typed stays


def test_a_bad_edit_is_refused_at_its_field_and_changes_nothing(admin, network):
    page = f"{OFFICES}{network.office.id}"
    for changes, field in (({"postal_code": "abcde"}, "postal_code"), ({"lat": "91"}, "lat")):
        response = post_form(admin, page, f"{page}/edit", NEW | changes)
        assert response.status_code == 422 and error_of(response.text, field)
        assert 'value="강남우체국"' in response.text  # the form as typed, not as stored
    assert office_named(network.office.code).name == network.office.name


# --- Districts ----------------------------------------------------------------------------------


def map_data(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="districts-map-data">(.*?)</script>', html
    )
    return json.loads(found.group(1))


def test_the_districts_are_drawn_listed_and_downloadable(admin, network):
    page = admin.get(f"{OFFICES}{network.office.id}/districts")
    assert page.status_code == 200
    html = page.text
    district = network.district
    drawn = map_data(html)
    assert drawn["tiles"]["url"] == "" and drawn["depot"] == pytest.approx([126.96, 37.51])
    assert [d["label"] for d in drawn["districts"]] == [f"{district.code} {district.name}"]
    assert drawn["districts"][0]["geometry"] == district.geometry and drawn["checked"] == []
    row = html.split(f'id="district-{district.id}"')[1].split("</tr>")[0]
    assert district.code in row and network.carrier_name() in row and "km²" in row
    assert "leaflet.js" in html and not re.search(r'(src|href)="(https?:)?//', html)

    download = admin.get(f"{OFFICES}{network.office.id}/districts.geojson")
    assert download.status_code == 200 and download.mimetype == "application/geo+json"
    assert f"{network.office.code}-districts.geojson" in download.headers["Content-Disposition"]
    features = download.json["features"]
    assert [f["properties"] for f in features] == [{"code": district.code, "name": district.name}]


def test_a_tile_server_is_passed_to_the_map(app, admin, network):
    url = "https://{s}.tiles.example.go.kr/{z}/{x}/{y}.png"
    app.config.update(MAP_TILE_URL=url, MAP_TILE_ATTRIBUTION="© 예시 지도")
    try:
        page = admin.get(f"{OFFICES}{network.office.id}/districts")
    finally:
        app.config.update(MAP_TILE_URL="", MAP_TILE_ATTRIBUTION="")
    assert map_data(page.text)["tiles"] == {"url": url, "attribution": "© 예시 지도"}
    assert "https://*.tiles.example.go.kr" in page.headers["Content-Security-Policy"]


def test_a_file_is_checked_without_change_then_loaded(admin, network):
    office_id = network.office.id
    before = districts(office_id)
    content = geojson(
        feature(network.district.code, "바뀐 구역", square(126.95, 37.50, 0.01)),
        feature("NEW1", "새 구역", square(126.96, 37.50, 0.01)),
    )
    checked = upload(admin, office_id, b"\xef\xbb\xbf" + content, mode="check")
    assert checked.status_code == 200, checked.text
    report = checked.text.split('id="check-report"')[1]
    assert "구역 2개를 불러올 수 있습니다" in report
    assert "같은 코드의 구역을 바꿈" in report and "새 구역" in report
    assert len(map_data(checked.text)["checked"]) == 2
    assert {code: d.name for code, d in districts(office_id).items()} == {
        code: d.name for code, d in before.items()
    }

    loaded = upload(admin, office_id, content)
    assert loaded.status_code == 302, loaded.text
    after = districts(office_id)
    assert set(after) == {network.district.code, "NEW1"}
    assert after[network.district.code].name == "바뀐 구역"
    assert after["NEW1"].area_m2 == pytest.approx(988_000, rel=0.02)
    html = admin.get(loaded.headers["Location"]).text
    assert "구역 2개를 불러왔습니다: 새 구역 1, 바뀐 구역 1." in html


def polygon(*corners: tuple[float, float]) -> dict:
    """A GeoJSON polygon through the corners, closed."""
    return {"type": "Polygon", "coordinates": [[*map(list, corners), list(corners[0])]]}


#: [lat, lon] instead of [lon, lat], and a bow tie (its ring crosses itself).
SWAPPED = polygon((37.5, 126.9), (37.5, 126.91), (37.51, 126.91))
BOW_TIE = polygon((126.95, 37.50), (126.96, 37.51), (126.96, 37.50), (126.95, 37.51))


def problem_rows(html: str) -> list[tuple[str, str, str, str]]:
    """The problems table: (feature, code, problem, message) of each row."""
    table = html.split('id="problems"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [
        tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", tr))
        for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (b"{not json", [("파일 전체", "JSON이 아님", "JSON 형식이 아닙니다")]),
        (
            geojson(
                feature("OK1", "멀쩡한 구역", square(126.99, 37.55, 0.005)),
                feature("LATLON", "뒤바뀐 좌표", SWAPPED),
            ),
            [("1", "대한민국 밖", "[위도, 경도]로 뒤바뀐 것 같습니다")],
        ),
        (
            geojson(
                feature("BOW", "꼬인 구역", BOW_TIE),
                feature("", "코드 없는 구역", square(126.99, 37.50, 0.005)),
            ),
            [("0", "잘못된 폴리곤", "올바른 폴리곤이 아닙니다"), ("1", "코드 없음", "구역 코드")],
        ),
        (
            geojson(feature("BIG", "이웃을 덮는 구역", square(127.04, 37.49, 0.02))),
            [("0", "구역 겹침", "겹칩니다")],
        ),
    ],
)
def test_a_rejected_file_is_reported_feature_by_feature_and_changes_nothing(
    admin, network, content, rows
):
    before = {code: (d.name, d.geometry) for code, d in districts(network.office.id).items()}
    for mode in ("check", "load"):
        response = upload(admin, network.office.id, content, mode=mode)
        assert response.status_code == 422, mode
        assert "아무것도 바꾸지 않았습니다" in response.text
        shown = problem_rows(response.text)
        assert [(number, kind) for number, _, kind, _ in shown] == [row[:2] for row in rows]
        for (*_, message), (*_, expected) in zip(shown, rows, strict=True):
            assert expected in message
    after = {code: (d.name, d.geometry) for code, d in districts(network.office.id).items()}
    assert after == before


def test_a_code_of_another_office_is_refused(admin, network):
    theirs = district_of(network.world.b.office.id).code
    content = geojson(feature(theirs, "남의 코드", square(126.99, 37.55, 0.005)))
    response = upload(admin, network.office.id, content)
    assert response.status_code == 422
    assert "다른 우체국의 코드" in response.text and "다른 우체국이 쓰고 있습니다" in response.text
    assert theirs not in districts(network.office.id)


def test_a_missing_file_or_mode_is_named(admin, network):
    page = f"{OFFICES}{network.office.id}/districts"
    missing = post_form(admin, page, page, {"mode": "load"})
    assert missing.status_code == 422 and "필수 항목입니다" in error_of(missing.text, "file")
    odd = upload(admin, network.office.id, geojson(), mode="replace")
    assert odd.status_code == 422 and "고를 수 있는 값이 아닙니다" in error_of(odd.text, "mode")


# --- Carriers -----------------------------------------------------------------------------------


def carrier_form(carrier: Carrier, **changes) -> dict:
    form = {
        "home_district_id": str(carrier.home_district_id or 0),
        "profile": carrier.profile,
        "shift_start": "09:00",
        "shift_end": "18:00",
        "lunch_minutes": str(carrier.lunch_minutes),
    }
    return form | changes


@pytest.mark.parametrize("who", ["admin", "dispatcher"])
def test_a_carrier_is_edited_by_an_admin_or_their_dispatcher(client, network, who):
    sign_in(client, network.world.admin if who == "admin" else network.dispatcher)
    page = f"{OFFICES}{network.office.id}/carriers"
    html = client.get(page).text
    row = html.split(f'id="carrier-{network.carrier.id}"')[1].split("</tr>")[0]
    assert network.carrier_name() in row and 'value="09:00"' in row and "selected" in row
    other = make_district(network.office, square(126.99, 37.55, 0.005), code="SPARE")
    db.session.commit()
    form = carrier_form(
        network.carrier,
        home_district_id=str(other.id),
        profile="van",
        shift_start="07:30",
        shift_end="16:00",
        lunch_minutes="45",
    )
    saved = post_form(client, page, f"{OFFICES}carriers/{network.carrier.id}", form)
    assert saved.status_code == 302 and saved.headers["Location"] == page
    carrier = fresh_carrier(network.carrier.id)
    assert stored(carrier.id) == (other.id, "van", 450, 960, 45)
    assert "집배원 정보를 저장했습니다." in client.get(page).text
    none = carrier_form(carrier, home_district_id="0", shift_start="07:30", shift_end="16:00")
    assert post_form(client, page, f"{OFFICES}carriers/{carrier.id}", none).status_code == 302
    assert fresh_carrier(carrier.id).home_district_id is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"shift_start": "18:00", "shift_end": "09:00"}, "shift", "끝이 시작보다 늦게"),
        ({"shift_start": "9시"}, "shift", "HH:MM"),
        ({"shift_end": ""}, "shift_end", "필수 항목입니다"),
        ({"lunch_minutes": "200"}, "lunch_minutes", "0~120분"),
        ({"lunch_minutes": "한 시간"}, "lunch_minutes", "숫자가 아닙니다"),
        ({"profile": "bicycle"}, "profile", "고를 수 있는 값이 아닙니다"),
        ({"home_district_id": "FOREIGN"}, "home_district_id", "이 우체국의 구역이 아닙니다"),
    ],
)
def test_a_bad_carrier_edit_is_shown_in_its_row(admin, network, changes, field, message):
    if changes.get("home_district_id") == "FOREIGN":
        changes = {"home_district_id": str(district_of(network.world.b.office.id).id)}
    page = f"{OFFICES}{network.office.id}/carriers"
    snapshot = stored(network.carrier.id)
    form = carrier_form(network.carrier, **changes)
    response = post_form(admin, page, f"{OFFICES}carriers/{network.carrier.id}", form)
    assert response.status_code == 422
    row = response.text.split(f'id="carrier-{network.carrier.id}"')[1].split("</tr>")[0]
    assert message in error_of(row, field) and 'aria-invalid="true"' in row
    assert stored(network.carrier.id) == snapshot


# --- Who may do what ----------------------------------------------------------------------------


def test_a_dispatcher_reads_their_own_office_and_changes_only_its_carriers(client, network):
    sign_in(client, network.dispatcher)
    assert "우체국·집배구" in client.get("/").text
    listed = client.get(OFFICES).text
    assert network.office.name in listed and network.world.b.office.name not in listed
    assert f"{OFFICES}new" not in listed
    own = f"{OFFICES}{network.office.id}"
    assert 'action="' + own + '/edit"' not in client.get(own).text
    page = client.get(f"{own}/districts").text
    assert map_data(page)["districts"] and 'type="file"' not in page
    assert client.get(f"{own}/districts.geojson").status_code == 200

    token = csrf_of(client.get(own).text)
    for path in (f"{OFFICES}new", f"{own}/edit", f"{own}/districts"):
        form = {"csrf_token": token, "mode": "load"} | NEW
        assert client.post(path, data=form, headers=HTML).status_code == 403, path
    assert office_named(network.office.code).name == network.office.name

    theirs = network.world.b.office.id
    for path in ("", "/districts", "/districts.geojson", "/carriers"):
        response = client.get(f"{OFFICES}{theirs}{path}", headers=HTML)
        assert response.status_code == 404 and "찾을 수 없습니다" in response.text
    foreign = carrier_form(network.other, profile="foot") | {"csrf_token": token}
    refused = client.post(f"{OFFICES}carriers/{network.other.id}", data=foreign, headers=HTML)
    assert refused.status_code == 404
    assert fresh_carrier(network.other.id).profile == "motorbike"


def test_an_admin_gets_404_for_what_does_not_exist(admin, network):
    token = csrf_of(admin.get(OFFICES).text)
    for method, path in (
        ("GET", f"{OFFICES}99999999"),
        ("GET", f"{OFFICES}99999999999/districts"),
        ("GET", f"{OFFICES}abc"),
        ("POST", f"{OFFICES}99999999/edit"),
        ("POST", f"{OFFICES}99999999/districts"),
        ("POST", f"{OFFICES}carriers/99999999"),
        ("POST", f"{OFFICES}carriers/-1"),
    ):
        data = NEW | {"csrf_token": token, "mode": "check"} | carrier_form(network.carrier)
        response = admin.open(path, method=method, data=data, headers=HTML)
        assert response.status_code == 404, (method, path)


def test_every_office_page_is_for_admins_and_dispatchers_only(app, client, network):
    routes = page_routes(app, "office_pages")
    assert len(routes) >= 9
    roles = (Role.SOCIAL_WORKER, Role.CARRIER, Role.MUNICIPAL_ADMIN, Role.AUDITOR)
    outsiders = [network.world.a.accounts[role] for role in roles]
    assert_pages_refused(client, routes, outsiders, ("우체국·집배구",))


def test_the_pages_switch_to_english(admin, network):
    admin.get(f"/language/en?next={OFFICES}")
    listed = admin.get(OFFICES).text
    assert "Delivery offices" in listed and "Register an office" in listed
    content = geojson(feature("X", "", square(126.99, 37.55, 0.005)))
    refused = upload(admin, network.office.id, content)
    assert refused.status_code == 422
    assert "Name missing" in refused.text and "properties.name is missing" in refused.text
    assert "Nothing was changed" in refused.text

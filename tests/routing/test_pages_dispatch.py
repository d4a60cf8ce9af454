"""The dispatcher's pages through the Flask test client: plan, edit, publish, map, phones."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from carrier_api.models import Device, EnrolmentCode
from core.auth.models import Account
from core.auth.roles import Role
from core.auth.services import issue_token
from core.clock import seoul_today
from core.db import db, utcnow
from core.outbox import deliver_due
from core.web import tile_sources
from municipalities.mail.services import next_working_day
from routing.models import PlanStop, RoutePlan
from tests.support.desk import HTML, assert_pages_refused, csrf_of, page_routes, post_form, sign_in
from tests.support.factories import (
    auth,
    build_world,
    make_carrier,
    make_district,
    make_due_item,
    square,
)

DAY = next_working_day(seoul_today() + timedelta(days=1))
WEST, EAST = (126.953, 37.505), (126.967, 37.505)


class Dispatch:
    """Tenant a's office: a west and an east district, a carrier living in each, due items."""

    def __init__(self, per_side: int = 3):
        self.world = build_world()
        tenant = self.world.a
        self.office = tenant.office
        self.west = make_district(tenant.office, square(126.95, 37.50, 0.01), name="서쪽구역")
        self.east = make_district(tenant.office, square(126.96, 37.50, 0.01), name="동쪽구역")
        self.carriers = {
            "west": make_carrier(tenant.office, self.west),
            "east": make_carrier(tenant.office, self.east),
        }
        for i in range(per_side):
            for centre, district in ((WEST, self.west), (EAST, self.east)):
                location = (centre[0] + 0.0007 * i, centre[1])
                make_due_item(tenant, location, DAY, district)

    @property
    def dispatcher(self) -> Account:
        return self.world.a.accounts[Role.DISPATCHER]

    def name(self, side: str) -> str:
        return db.session.get(Account, self.carriers[side].account_id).display_name


@pytest.fixture
def dispatch(app, db_session) -> Dispatch:
    made = Dispatch()
    db.session.commit()  # the test's SAVEPOINT only: requests end their session
    return made


def day_page(dispatch: Dispatch) -> str:
    return f"/dispatch/offices/{dispatch.office.id}?day={DAY.isoformat()}"


def start(client, dispatch: Dispatch, **form) -> int:
    """Start a plan through the day page's form; the plan's id."""
    carriers = [str(c.id) for c in dispatch.carriers.values()]
    data = {"day": DAY.isoformat(), "time_limit_s": "1", "carrier_ids": carriers} | form
    url = f"/dispatch/offices/{dispatch.office.id}/plans"
    response = post_form(client, day_page(dispatch), url, data)
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def solved(client, dispatch: Dispatch) -> int:
    plan_id = start(client, dispatch)
    assert deliver_due().sent >= 1
    return plan_id


def plan_of(plan_id: int) -> RoutePlan:
    db.session.expire_all()
    return db.session.get(RoutePlan, plan_id)


def stops_of(plan_id: int, carrier_id: int | None) -> list[PlanStop]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(PlanStop)
            .where(PlanStop.plan_id == plan_id, PlanStop.carrier_id == carrier_id)
            .order_by(PlanStop.position, PlanStop.id)
        )
    )


def map_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="plan-map-data">(.*?)</script>', html)
    return json.loads(found.group(1))


@pytest.fixture
def signed_in(client, dispatch):
    sign_in(client, dispatch.dispatcher)
    return client


def test_a_dispatcher_starts_a_plan_follows_it_and_reads_the_routes(signed_in, dispatch):
    client = signed_in
    assert client.get("/dispatch/").headers["Location"] == f"/dispatch/offices/{dispatch.office.id}"
    day = client.get(day_page(dispatch)).text
    assert "이 날의 계획이 아직 없습니다." in day
    assert day.count('name="carrier_ids"') == 2 and day.count("checked") == 2
    assert "배달 계획" in client.get("/").text  # in the dispatcher's navigation

    plan_id = start(client, dispatch)
    page = client.get(f"/dispatch/plans/{plan_id}").text
    assert "계획을 시작했습니다." in page and 'id="plan-progress"' in page
    assert "plan-map-data" not in page  # no routes to draw yet
    progress = client.get(f"/dispatch/plans/{plan_id}/progress").json
    assert progress == {
        "status": "queued",
        "search": "queued",
        "version": 2,
        "progress": 0,
        "error": None,
        "label": "계산 대기",
    }

    assert deliver_due().sent == 1
    assert client.get(f"/dispatch/plans/{plan_id}/progress").json["status"] == "ready"
    html = client.get(f"/dispatch/plans/{plan_id}").text
    assert 'id="plan-progress"' not in html and "검토 중" in html
    for side in ("west", "east"):
        assert dispatch.name(side) in html
    assert html.count('<tr id="stop-') == 6 and "모든 곳이 경로에 들어갔습니다." in html
    assert "총 이동 거리" in html and " km" in html
    drawn = map_data(html)
    assert {"서쪽구역", "동쪽구역"} <= {d["name"] for d in drawn["districts"]}
    assert sum(len(r["stops"]) for r in drawn["routes"]) == 6 and not drawn["unassigned"]
    assert drawn["tiles"]["url"] == "" and drawn["depot"] == pytest.approx([126.96, 37.51])
    assert f"계획 #{plan_id} 열기" in client.get(day_page(dispatch)).text


def test_a_stop_is_moved_locked_and_the_plan_published_to_the_carriers(signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    page = f"/dispatch/plans/{plan_id}"
    west, east = dispatch.carriers["west"].id, dispatch.carriers["east"].id
    moving = stops_of(plan_id, west)[-1]
    version = plan_of(plan_id).version
    form = {"version": version, "carrier_id": east, "position": "1"}
    moved = post_form(client, page, f"{page}/stops/{moving.id}/move", form)
    assert moved.status_code == 302, moved.text
    assert stops_of(plan_id, east)[0].id == moving.id
    assert "옮기고 다시 계산했습니다." in client.get(page).text

    lock = {"version": version + 1, "locked": "true"}
    assert post_form(client, page, f"{page}/stops/{moving.id}/lock", lock).status_code == 302
    assert stops_of(plan_id, east)[0].locked
    assert "고정 풀기" in client.get(page).text

    unconfirmed = post_form(client, page, f"{page}/publish", {"version": version + 2})
    assert unconfirmed.status_code == 422
    assert "확인란을 선택하세요" in unconfirmed.text.split('id="confirm-error"')[1]
    assert plan_of(plan_id).status == "ready"
    confirmed = {"version": version + 2, "confirm": "yes"}
    assert post_form(client, page, f"{page}/publish", confirmed).status_code == 302
    assert plan_of(plan_id).status == "published"
    assert "집배원에게 배포했습니다." in client.get(page).text

    carrier = db.session.get(Account, dispatch.carriers["east"].account_id)
    route = client.get(f"/api/v1/carrier/route?day={DAY}", headers=auth(issue_token(carrier)))
    assert route.status_code == 200, route.json
    numbers = [s["registered_number"] for s in route.json["stops"]]
    moved_number = db.session.scalar(
        sa.text("select registered_number from mail_items where id = :id"),
        {"id": moving.mail_item_id},
    )
    assert numbers[0] == moved_number


def test_an_unassigned_stop_shows_its_reason_and_can_be_put_back(signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    page = f"/dispatch/plans/{plan_id}"
    stop = stops_of(plan_id, dispatch.carriers["west"].id)[0]
    version = plan_of(plan_id).version
    off = {"version": version, "carrier_id": "0"}
    assert post_form(client, page, f"{page}/stops/{stop.id}/move", off).status_code == 302
    html = client.get(page).text
    assert "배정되지 않았습니다." in html.split('id="unassigned-title"')[1]
    refused = post_form(
        client, page, f"{page}/stops/{stop.id}/lock", {"version": version + 1, "locked": "true"}
    )
    assert refused.status_code == 422 and 'id="locked-error"' in refused.text
    assert "배정된 곳만 고정합니다" in refused.text
    back = {"version": version + 1, "carrier_id": dispatch.carriers["east"].id}
    assert post_form(client, page, f"{page}/stops/{stop.id}/move", back).status_code == 302
    assert stops_of(plan_id, dispatch.carriers["east"].id)[-1].id == stop.id


def test_re_optimising_is_a_job_again(signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    page = f"/dispatch/plans/{plan_id}"
    version = plan_of(plan_id).version
    again = post_form(client, page, f"{page}/optimise", {"version": version, "time_limit_s": "1"})
    assert again.status_code == 302
    assert plan_of(plan_id).status == "queued"
    busy = post_form(client, page, f"{page}/optimise", {"version": version + 1})
    assert busy.status_code == 409 and "계획을 계산하는 중입니다." in busy.text
    assert deliver_due().sent == 1 and plan_of(plan_id).status == "ready"


def test_the_status_badge_says_what_the_search_is_doing(signed_in, dispatch):
    client = signed_in
    plan_id = start(client, dispatch)
    page, progress = f"/dispatch/plans/{plan_id}", f"/dispatch/plans/{plan_id}/progress"
    assert client.get(progress).json["label"] == "계산 대기"
    plan = plan_of(plan_id)
    plan.status, plan.started_at = "solving", utcnow()  # as the worker marks it
    db.session.commit()
    assert client.get(progress).json["label"] == "계산 중"
    assert badge(client.get(page).text, plan_id) == "계산 중"
    plan.status = "queued"
    db.session.commit()
    assert deliver_due().sent == 1
    version = plan_of(plan_id).version
    confirmed = {"version": version, "confirm": "yes"}
    assert post_form(client, page, f"{page}/publish", confirmed).status_code == 302
    again = post_form(client, page, f"{page}/optimise", {"version": version + 1})
    assert again.status_code == 302
    html = client.get(page).text
    assert badge(html, plan_id) == "배포됨 · 다시 계산 대기" and 'id="plan-progress"' in html
    assert client.get(progress).json["status"] == "published"
    assert badge(client.get(day_page(dispatch)).text, plan_id) == "배포됨 · 다시 계산 대기"


def badge(html: str, plan_id: int) -> str:
    found = re.search(rf'id="plan-status-{plan_id}">([^<]*)<', html)
    return found.group(1)


def test_plan_stops_show_the_full_address_on_the_page_and_the_map(signed_in, dispatch):
    client = signed_in
    flat = make_due_item(
        dispatch.world.a, WEST, DAY, dispatch.west, address_detail="가온빌라 102호"
    )
    db.session.commit()
    plan_id = solved(client, dispatch)
    html = client.get(f"/dispatch/plans/{plan_id}").text
    assert "희망로" in html and "가온빌라 102호" in html
    labels = [stop["label"] for route in map_data(html)["routes"] for stop in route["stops"]]
    assert any(label.endswith("가온빌라 102호") for label in labels)
    described = client.get(
        f"/api/v1/plans/{plan_id}", headers=auth(issue_token(dispatch.dispatcher))
    ).json
    stop = next(
        s
        for r in described["routes"]
        for s in r["stops"]
        if s["registered_number"] == flat.registered_number
    )
    assert stop["address_detail"] == "가온빌라 102호"


def test_a_stale_version_is_refused_with_a_clear_message(signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    page = f"/dispatch/plans/{plan_id}"
    stop = stops_of(plan_id, dispatch.carriers["west"].id)[0]
    stale = plan_of(plan_id).version - 1
    for action, form in (
        (f"stops/{stop.id}/move", {"carrier_id": dispatch.carriers["east"].id}),
        (f"stops/{stop.id}/lock", {"locked": "true"}),
        ("optimise", {}),
        ("publish", {"confirm": "yes"}),
    ):
        response = post_form(client, page, f"{page}/{action}", form | {"version": stale})
        assert response.status_code == 409, action
        assert 'id="plan-error"' in response.text
        assert "계획이 그사이 바뀌었습니다. 새로 불러오세요." in response.text
    assert plan_of(plan_id).status == "ready"
    assert stops_of(plan_id, dispatch.carriers["west"].id)[0].id == stop.id


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"carrier_id": "x"}, "carrier_id", "숫자가 아닙니다"),
        ({"carrier_id": "-1"}, "carrier_id", "숫자가 아닙니다"),
        ({}, "carrier_id", "필수 항목입니다"),
        ({"carrier_id": "CARRIER", "position": "abc"}, "position", "숫자가 아닙니다"),
        ({"carrier_id": "CARRIER", "position": "0"}, "position", "숫자가 아닙니다"),
        ({"carrier_id": "CARRIER", "position": "9" * 30}, "position", "숫자가 아닙니다"),
        ({"carrier_id": "FOREIGN"}, "carrier_id", "이 계획의 집배원이 아닙니다"),
        ({"carrier_id": "CARRIER", "version": "x"}, "version", "숫자가 아닙니다"),
    ],
)
def test_bad_move_input_is_shown_next_to_its_field(signed_in, dispatch, form, field, message):
    client = signed_in
    plan_id = solved(client, dispatch)
    page = f"/dispatch/plans/{plan_id}"
    stop = stops_of(plan_id, dispatch.carriers["west"].id)[0]
    foreign = make_carrier(dispatch.world.b.office)
    db.session.commit()
    names = {"CARRIER": dispatch.carriers["east"].id, "FOREIGN": foreign.id}
    data = {"version": plan_of(plan_id).version} | {k: names.get(v, v) for k, v in form.items()}
    before = plan_of(plan_id).version
    response = post_form(client, page, f"{page}/stops/{stop.id}/move", data)
    assert response.status_code == 422
    html = response.text
    assert f'id="{field}-error"' in html and message in html.split(f'id="{field}-error"')[1]
    if field != "version":  # next to the field of the stop that was edited, not another's
        row = html.split(f'id="stop-{stop.id}"')[1].split("</tr>")[0]
        assert f'id="{field}-error"' in row and 'aria-invalid="true"' in row
    assert plan_of(plan_id).version == before  # nothing applied


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"day": "2020-01-06"}, "day", "지난 날의 계획은 만들 수 없습니다"),
        ({"day": "어제"}, "day", "날짜가 아닙니다"),
        ({"day": ""}, "day", "필수 항목입니다"),
        ({"carrier_ids": []}, "carrier_ids", "필수 항목입니다"),
        ({"carrier_ids": ["abc"]}, "carrier_ids", "숫자가 아닙니다"),
        ({"carrier_ids": ["FOREIGN"]}, "carrier_ids", "이 우체국의 집배원이 아닙니다"),
        ({"time_limit_s": "99999"}, "time_limit_s", "240초까지입니다"),
        ({"time_limit_s": "1.5"}, "time_limit_s", "숫자가 아닙니다"),
    ],
)
def test_bad_start_input_is_shown_next_to_its_field(signed_in, dispatch, form, field, message):
    client = signed_in
    foreign = make_carrier(dispatch.world.b.office)
    db.session.commit()
    if form.get("carrier_ids") == ["FOREIGN"]:
        form = {"carrier_ids": [str(foreign.id)]}
    carriers = [str(c.id) for c in dispatch.carriers.values()]
    data = {"day": DAY.isoformat(), "carrier_ids": carriers} | form
    url = f"/dispatch/offices/{dispatch.office.id}/plans"
    response = post_form(client, day_page(dispatch), url, data)
    assert response.status_code == 422
    html = response.text
    assert f'id="{field}-error"' in html and message in html.split(f'id="{field}-error"')[1]
    assert db.session.scalar(sa.select(sa.func.count(RoutePlan.id))) == 0


def test_malformed_urls_and_arguments_are_4xx_never_500(signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    for query in ("day=abc", "day=2024-13-40", "day=%00", "day=" + "9" * 50):
        assert client.get(f"/dispatch/offices/{dispatch.office.id}?{query}").status_code == 200
    token = csrf_of(client.get(f"/dispatch/plans/{plan_id}").text)
    for method, path in (
        ("GET", "/dispatch/plans/abc"),
        ("GET", "/dispatch/plans/99999999999"),
        ("GET", "/dispatch/plans/0/progress"),
        ("GET", "/dispatch/offices/x"),
        ("POST", f"/dispatch/plans/{plan_id}/stops/1.5/move"),
        ("POST", f"/dispatch/plans/{plan_id}/stops/99999999/move"),
        ("POST", f"/dispatch/plans/{plan_id}/stops/-1/lock"),
        ("POST", "/dispatch/devices/carriers/abc/code"),
        ("POST", "/dispatch/devices/0/revoke"),
    ):
        data = {"csrf_token": token, "carrier_id": "1", "locked": "true"}
        data["version"] = str(plan_of(plan_id).version)
        response = client.open(path, method=method, data=data, headers=HTML)
        assert response.status_code == 404, (method, path)


def test_another_office_sees_neither_the_office_nor_its_plans_or_phones(client, dispatch):
    sign_in(client, dispatch.dispatcher)
    plan_id = solved(client, dispatch)
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    stranger = dispatch.world.b.accounts[Role.DISPATCHER]
    sign_in(client, stranger)
    token = csrf_of(client.get("/dispatch/devices/").text)
    stop = stops_of(plan_id, dispatch.carriers["west"].id)[0]
    device = Device(account_id=dispatch.carriers["west"].account_id, label="분실 폰")
    db.session.add(device)
    db.session.commit()
    for method, path in (
        ("GET", f"/dispatch/offices/{dispatch.office.id}"),
        ("GET", f"/dispatch/plans/{plan_id}"),
        ("GET", f"/dispatch/plans/{plan_id}/progress"),
        ("POST", f"/dispatch/plans/{plan_id}/stops/{stop.id}/move"),
        ("POST", f"/dispatch/plans/{plan_id}/publish"),
        ("POST", f"/dispatch/offices/{dispatch.office.id}/plans"),
        ("POST", f"/dispatch/devices/carriers/{dispatch.carriers['west'].id}/code"),
        ("POST", f"/dispatch/devices/{device.id}/revoke"),
    ):
        form = {"csrf_token": token, "version": "3", "carrier_id": "0", "confirm": "yes"}
        form |= {"day": DAY.isoformat(), "carrier_ids": "1"}
        response = client.open(path, method=method, data=form, headers=HTML)
        assert response.status_code == 404, path
        assert "찾을 수 없습니다" in response.text
    assert plan_of(plan_id).status == "ready"
    db.session.expire_all()
    assert db.session.get(Device, device.id).revoked_at is None
    assert not db.session.scalar(sa.select(EnrolmentCode.id))


def test_every_dispatcher_page_is_for_dispatchers_only(app, client, dispatch):
    routes = page_routes(app, "routing_pages", "device_pages")
    assert len(routes) >= 12
    roles = (Role.SOCIAL_WORKER, Role.CARRIER, Role.MUNICIPAL_ADMIN, Role.AUDITOR)
    outsiders = [dispatch.world.a.accounts[role] for role in roles]
    assert_pages_refused(client, routes, outsiders, ("배달 계획", "집배원 기기"))


def test_phones_get_a_one_time_code_and_are_revoked(signed_in, dispatch):
    client = signed_in
    west = dispatch.carriers["west"]
    html = client.get("/dispatch/devices/").text
    assert dispatch.name("west") in html and html.count("등록된 기기가 없습니다.") == 2
    phones = "/dispatch/devices/"
    issued = post_form(client, phones, f"{phones}carriers/{west.id}/code", {})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    code = re.search(r'id="enrolment-code">([A-Z0-9]{5}-[A-Z0-9]{5})<', issued.text).group(1)
    assert code not in client.get("/dispatch/devices/").text  # shown once

    body = {"code": code, "label": "갤럭시 업무폰", "platform": "android"}
    enrolled = client.post("/api/v1/devices/enrol", json=body)
    assert enrolled.status_code == 201, enrolled.json
    access = enrolled.json["access_token"]
    assert client.get("/api/v1/carrier/route", headers=auth(access)).status_code == 200
    page = client.get("/dispatch/devices/").text
    assert "갤럭시 업무폰" in page and "사용 중" in page
    device_id = enrolled.json["device_id"]
    revoked = post_form(client, "/dispatch/devices/", f"/dispatch/devices/{device_id}/revoke", {})
    assert revoked.status_code == 302
    assert "기기를 끊었습니다." in client.get("/dispatch/devices/").text
    assert client.get("/api/v1/carrier/route", headers=auth(access)).status_code == 401


def test_leaflet_is_served_by_the_app_and_the_map_uses_no_other_host(app, signed_in, dispatch):
    client = signed_in
    for asset in ("leaflet.js", "leaflet.css"):
        served = client.get(f"/static/leaflet/{asset}")
        assert served.status_code == 200 and len(served.data) > 10_000
        served.close()
    html = client.get(f"/dispatch/plans/{solved(client, dispatch)}").text
    assert not re.search(r'(src|href)="(https?:)?//', html)
    csp = client.get("/dispatch/").headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp


def test_a_tile_server_is_drawn_and_allowed_by_the_policy(app, signed_in, dispatch):
    client = signed_in
    plan_id = solved(client, dispatch)
    url = "https://{s}.tiles.example.go.kr/{z}/{x}/{y}.png"
    app.config.update(MAP_TILE_URL=url, MAP_TILE_ATTRIBUTION="© 예시 지도")
    try:
        page = client.get(f"/dispatch/plans/{plan_id}")
    finally:
        app.config.update(MAP_TILE_URL="", MAP_TILE_ATTRIBUTION="")
    assert map_data(page.text)["tiles"] == {"url": url, "attribution": "© 예시 지도"}
    assert (
        "img-src 'self' data: https://*.tiles.example.go.kr;"
        in page.headers["Content-Security-Policy"]
    )


def test_tile_sources_of_url_templates():
    assert tile_sources("") == []
    assert tile_sources("/tiles/{z}/{x}/{y}.png") == []  # the app's own host: 'self'
    assert tile_sources("http://127.0.0.1:8080/{z}/{x}/{y}.png") == ["http://127.0.0.1:8080"]

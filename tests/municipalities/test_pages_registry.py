"""The household registry pages through the Flask test client: search, add, edit, close, import."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from core.outbox import deliver_due
from municipalities import household_import
from municipalities.mail.models import MailItem
from municipalities.mail.services import events_of
from municipalities.models import Household
from tests.support.desk import (
    HTML,
    Desk,
    assert_pages_refused,
    csrf_of,
    page_routes,
    post_form,
    set_up_desk,
    sign_in,
)
from tests.support.household_file_builders import bad_cp949_file, to_csv, to_xlsx, valid_rows

JSON = "application/json"

NEW = {
    "name": "홍길순",
    "road_address": "서울특별시 시험구 나눔로 7",
    "address_detail": "101호",
    "household_type": "single_elderly",
    "risk_sources": ["electricity_arrears", "water_arrears"],
    "lon": "126.955",
    "lat": "37.505",
    "phone": "010-2345-6789",
}


@pytest.fixture
def desk(app, db_session) -> Desk:
    desk = set_up_desk(visits=2)
    db.session.commit()  # the test's SAVEPOINT only: requests end their session
    return desk


def admin_of(desk: Desk):
    return desk.world.a.accounts[Role.MUNICIPAL_ADMIN]


def ours(desk: Desk) -> Household:
    """A household of tenant a (the desk's first item's)."""
    municipality = desk.world.a.municipality.id
    return db.session.scalars(
        sa.select(Household).where(Household.municipality_id == municipality)
    ).first()


def fresh(household_id: int) -> Household:
    db.session.expire_all()
    return db.session.get(Household, household_id)


def edit_form(household: Household, **changes) -> dict:
    """The edit form as the page fills it in, with `changes`."""
    form = {
        key: "" if getattr(household, key) is None else str(getattr(household, key))
        for key in ("name", "road_address", "address_detail", "postal_code", "phone", "note")
    }
    form |= {
        "version": str(household.version),
        "household_type": household.household_type,
        "risk_sources": household.risk_sources or [],
        "lon": str(household.lon),
        "lat": str(household.lat),
    }
    return form | changes


def logged(account_id: int, action: str) -> list[int]:
    """The households whose data the account was shown (or changed) by `action`."""
    return list(
        db.session.scalars(
            sa.select(AccessLog.subject_id).where(
                AccessLog.account_id == account_id, AccessLog.action == action
            )
        )
    )


def test_the_list_filters_pages_and_logs_every_household_shown(client, desk):
    sign_in(client, desk.social_worker)
    household = ours(desk)
    page = client.get("/registry/")
    assert page.status_code == 200 and household.name in page.text
    assert household.id in logged(desk.social_worker.id, "list")
    closed = client.get("/registry/?status=closed").text
    assert household.name not in closed and "조건에 맞는 가구가 없습니다." in closed
    theirs = db.session.scalar(
        sa.select(Household.name).where(Household.municipality_id == desk.world.b.municipality.id)
    )
    assert theirs is None or theirs not in page.text


def test_a_name_is_found_through_a_post_and_never_put_in_a_url(client, desk):
    sign_in(client, desk.social_worker)
    household = ours(desk)
    found = post_form(client, "/registry/", "/registry/search", {"name": household.name})
    assert found.status_code == 200
    rows = found.text.split("<tbody>")[1]
    assert f"/registry/{household.id}" in rows and rows.count("<tr>") == 1
    missing = post_form(client, "/registry/", "/registry/search", {"name": "없는사람"})
    assert "조건에 맞는 가구가 없습니다." in missing.text
    assert 'method="post" action="/registry/search"' in client.get("/registry/").text


def test_a_household_is_added_edited_and_closed_through_the_forms(client, desk):
    sign_in(client, desk.social_worker)
    added = post_form(client, "/registry/new", "/registry/new", NEW)
    assert added.status_code == 302, added.text
    household = db.session.scalar(
        sa.select(Household).where(Household.name_index.is_not(None)).order_by(Household.id.desc())
    )
    assert household.name == NEW["name"] and household.risk_sources == NEW["risk_sources"]
    assert (household.lon, household.lat) == (126.955, 37.505)
    page = f"/registry/{household.id}"
    assert added.headers["Location"] == page
    html = client.get(page).text
    assert "전기요금 체납" in html and "가구를 등록했습니다." in html

    form = edit_form(household, phone="010-9876-5432", risk_sources=["gas_arrears"])
    assert post_form(client, page, f"{page}/edit", form).status_code == 302
    changed = fresh(household.id)
    assert changed.version == 2 and changed.risk_sources == ["gas_arrears"]
    assert changed.geocode_status == "given" and changed.lon == 126.955
    detail = db.session.scalar(
        sa.select(AccessLog.detail)
        .where(AccessLog.action == "update")
        .order_by(AccessLog.id.desc())
    )
    assert detail == "fields=phone,risk_sources"  # only what was changed

    stale = post_form(client, page, f"{page}/edit", edit_form(household, version="1"))
    assert stale.status_code == 409 and "다른 사람이 먼저 수정했습니다" in stale.text
    assert fresh(household.id).version == 2

    closed = post_form(client, page, f"{page}/close", {"reason": "moved"})
    assert closed.status_code == 302
    assert fresh(household.id).status == "closed"
    after = client.get(page).text
    assert "전출" in after and f'action="/registry/{household.id}/edit"' not in after


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": ""}, "name", "필수 항목입니다"),
        ({"name": "가" * 101}, "name", "1~100자"),
        ({"phone": "010-12"}, "phone", "전화번호"),
        ({"household_type": "castle"}, "household_type", "고를 수 있는 값이 아닙니다"),
        ({"risk_sources": ["lottery"]}, "risk_sources", "고를 수 있는 값이 아닙니다"),
        ({"lon": "abc"}, "lon", "숫자가 아닙니다"),
        ({"lon": "nan"}, "lon", "숫자가 아닙니다"),
        ({"lat": ""}, "lat", "경도와 위도를 함께"),
        ({"lon": "139.69", "lat": "35.68"}, "location", "범위"),
        ({"postal_code": "AB123"}, "postal_code", "우편번호"),
        ({"note": "a\x00b"}, "note", "NUL"),
        ({"hours_1_from": "25:00", "hours_1_to": "26:00"}, "hours_1", "HH:MM-HH:MM"),
        ({"hours_2_from": "14:00", "hours_2_to": "09:00"}, "hours_2", "끝이 시작보다 늦어야"),
        ({"hours_4_from": "09:00"}, "hours_4", "시작과 끝을 함께"),
    ],
)
def test_bad_input_is_shown_next_to_its_field(client, desk, form, field, message):
    sign_in(client, desk.social_worker)
    household = ours(desk)
    page = f"/registry/{household.id}"
    edited = post_form(client, page, f"{page}/edit", edit_form(household, **form))
    added = post_form(client, "/registry/new", "/registry/new", NEW | form)
    for response in (edited, added):
        assert response.status_code == 422, response.text
        html = response.text
        assert f'id="{field}-error"' in html
        assert message in html.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert fresh(household.id).version == household.version


def test_a_duplicate_and_a_missing_close_reason_are_refused(client, desk):
    sign_in(client, desk.social_worker)
    household = ours(desk)
    assert post_form(client, "/registry/new", "/registry/new", NEW).status_code == 302
    twin = post_form(client, "/registry/new", "/registry/new", NEW | {"name": f" {NEW['name']}"})
    assert twin.status_code == 409 and "이미 등록되어 있습니다" in twin.text
    page = f"/registry/{household.id}"
    refused = post_form(client, page, f"{page}/close", {"reason": ""})
    assert refused.status_code == 422 and 'id="reason-error"' in refused.text
    assert fresh(household.id).status == "active"


def test_a_file_is_checked_row_by_row_and_then_imported_all_or_nothing(client, desk):
    admin = admin_of(desk)
    sign_in(client, admin)
    before = db.session.scalar(sa.select(sa.func.count(Household.id)))
    data, expected = bad_cp949_file()
    token = csrf_of(client.get("/registry/import").text)

    def send(content: bytes, name: str, mode: str):
        form = {"csrf_token": token, "mode": mode, "file": (io.BytesIO(content), name)}
        return client.post("/registry/import", data=form, headers=HTML)

    checked = send(data, "가구.csv", "check")
    assert checked.status_code == 200
    report = checked.text.split('id="import-report"')[1]
    for row in expected:
        assert f"<tr><td>{row}</td>" in report, row
    assert "전화번호" in report and "행 전체" in report and "cp949" in report
    refused = send(data, "가구.csv", "import")
    assert refused.status_code == 302
    job_page = refused.headers["Location"]
    assert re.fullmatch(r"/registry/import/jobs/\d+", job_page)
    waiting = client.get(job_page).text
    assert 'id="job-bar"' in waiting and "대기 중" in waiting and "job_progress.js" in waiting
    deliver_due()
    failed = client.get(job_page).text
    assert "아무것도 가져오지 않았습니다" in failed and 'id="job-bar"' not in failed
    for row in expected:
        assert f"<tr><td>{row}</td>" in failed.split('id="import-report"')[1], row
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == before

    good = send(to_xlsx(valid_rows(5, seed=3)), "가구.xlsx", "import")
    assert good.status_code == 302
    state = client.get(f"{good.headers['Location']}/progress", headers={"Accept": JSON}).json
    assert state["status"] == "queued" and state["finished"] is False
    deliver_due()
    state = client.get(f"{good.headers['Location']}/progress", headers={"Accept": JSON}).json
    assert state["status"] == "done" and state["finished"] is True
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == before + 5
    assert "5가구를 가져왔습니다." in client.get(good.headers["Location"]).text
    assert logged(admin.id, "import")

    for content, name, field in ((b"", "", "file"), (b"\xd0\xcf\x11\xe0junk", "a.xls", "file")):
        bad = send(content, name, "check")
        assert bad.status_code == 422 and f'id="{field}-error"' in bad.text, name
    assert send(to_csv(valid_rows(1)), "a.csv", "bogus").status_code == 422
    sign_in(client, desk.world.b.accounts[Role.MUNICIPAL_ADMIN])
    assert client.get(good.headers["Location"], headers=HTML).status_code == 404


def test_a_big_file_is_checked_by_a_job_whose_page_shows_the_report(client, desk, monkeypatch):
    monkeypatch.setattr(household_import, "INLINE_DRY_RUN_BYTES", {"csv": 100, "xlsx": 100})
    sign_in(client, desk.social_worker)
    before = db.session.scalar(sa.select(sa.func.count(Household.id)))
    data, expected = bad_cp949_file()
    form = {
        "csrf_token": csrf_of(client.get("/registry/import").text),
        "mode": "check",
        "file": (io.BytesIO(data), "가구.csv"),
    }

    checked = client.post("/registry/import", data=form, headers=HTML)
    assert checked.status_code == 302
    assert "가구 파일 검사" in client.get(checked.headers["Location"]).text
    deliver_due()

    page = client.get(checked.headers["Location"]).text
    report = page.split('id="import-report"')[1]
    assert "검사 결과" in report and f"{len(expected)}건의 문제" in report
    assert 'id="job-error"' not in page  # a check that finds problems has not failed
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == before


def test_malformed_urls_and_query_arguments_never_fail(client, desk):
    sign_in(client, desk.social_worker)
    for query in ("page=abc", "page=-3", "page=99999999999999999999", "status=%00", "status=x"):
        assert client.get(f"/registry/?{query}").status_code in (200, 422), query
    for path in ("/registry/abc", "/registry/99999999999", "/registry/0"):
        assert client.get(path, headers=HTML).status_code == 404, path
    assert client.post("/registry/1.5/edit", headers=HTML).status_code in (400, 404)
    page = post_form(client, "/registry/", "/registry/search", {"page": "x", "name": "가\x00"})
    assert page.status_code == 422 and 'id="name-error"' in page.text


def test_another_municipality_s_household_is_not_found(client, desk):
    household = ours(desk)
    sign_in(client, desk.world.b.accounts[Role.SOCIAL_WORKER])
    token = csrf_of(client.get("/registry/").text)
    for method, path in (
        ("GET", f"/registry/{household.id}"),
        ("POST", f"/registry/{household.id}/edit"),
        ("POST", f"/registry/{household.id}/close"),
    ):
        form = {"csrf_token": token, "reason": "moved"} | edit_form(household)
        response = client.open(path, method=method, data=form, headers=HTML)
        assert response.status_code == 404, path
        assert household.name not in response.text
    assert fresh(household.id).status == "active"


def test_every_registry_page_is_for_the_municipal_team_only(app, client, desk):
    routes = page_routes(app, "registry_pages")
    assert len(routes) >= 8
    outsiders = [desk.world.a.accounts[role] for role in (Role.DISPATCHER, Role.CARRIER)]
    assert_pages_refused(client, routes, outsiders, ("가구 명부",))


def test_an_auditor_reads_the_registry_but_changes_nothing(client, desk):
    household = ours(desk)
    sign_in(client, desk.world.a.accounts[Role.AUDITOR])
    page = f"/registry/{household.id}"
    html = client.get(page).text
    assert household.name in html and "/edit" not in html and "가구 등록" not in html
    token = csrf_of(html)
    for path in (f"{page}/edit", f"{page}/close", "/registry/new", "/registry/import"):
        assert client.post(path, data={"csrf_token": token}, headers=HTML).status_code == 403
    assert client.get("/registry/import", headers=HTML).status_code == 403


def test_a_post_without_the_csrf_token_is_refused(client, desk):
    household = ours(desk)
    sign_in(client, desk.social_worker)
    form = {"reason": "moved"}
    response = client.post(f"/registry/{household.id}/close", data=form, headers=HTML)
    assert response.status_code == 400 and "보안 토큰" in response.text
    assert fresh(household.id).status == "active"


def test_the_registry_has_its_english(client, desk):
    sign_in(client, admin_of(desk))
    client.get("/language/en?next=/registry/")
    html = client.get("/registry/import").text
    assert "Import households" in html and "Check only" in html and "가구 파일" not in html
    listed = client.get("/registry/").text
    assert "Household type" in listed and "가구유형" not in listed


def test_an_item_is_tracked_by_its_number_with_its_history(client, desk):
    number = desk.numbers[0]
    item = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == number))
    sign_in(client, desk.social_worker)
    typed = f"{number[:3]}-{number[3:7]} {number[7:]}"  # as people type it
    html = client.get("/registry/items", query_string={"number": typed}).text
    assert number in html and 'id="item-status">배달준비<' in html
    assert html.count("<tr>") == 1 + len(events_of(item))  # the header and every event
    assert item.household_id in logged(desk.social_worker.id, "view")

    typo = number[:-1] + str((int(number[-1]) + 1) % 10)
    wrong = client.get("/registry/items", query_string={"number": typo})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text

    client.get("/language/en?next=/registry/items")
    english = client.get("/registry/items", query_string={"number": number}).text
    assert "Out for delivery" in english and "Delivery history" in english

    sign_in(client, desk.world.b.accounts[Role.SOCIAL_WORKER])
    other = client.get("/registry/items", query_string={"number": number})
    assert other.status_code == 404 and f"#{item.household_id}" not in other.text


def test_preferred_hours_are_edited_as_from_to_rows_and_shown(client, desk):
    sign_in(client, desk.social_worker)
    household = ours(desk)
    version, page = household.version, f"/registry/{household.id}"
    assert 'id="preferred-hours">-<' in client.get(page).text
    hours = {"hours_1_from": "09:00", "hours_1_to": "12:00"}
    hours |= {"hours_3_from": "14:00", "hours_3_to": "18:00"}  # a blank row in between is skipped
    saved = post_form(client, page, f"{page}/edit", edit_form(household, **hours))
    assert saved.status_code == 302
    changed = fresh(household.id)
    assert changed.preferred_hours == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert changed.version == version + 1
    detail = db.session.scalar(
        sa.select(AccessLog.detail)
        .where(AccessLog.action == "update")
        .order_by(AccessLog.id.desc())
    )
    assert detail == "fields=preferred_hours"
    html = client.get(page).text
    assert 'id="preferred-hours">09:00–12:00, 14:00–18:00<' in html
    for field, value in (("hours_1_from", "09:00"), ("hours_2_to", "18:00")):
        assert f'name="{field}" value="{value}"' in html  # the form shows them packed

    earlier = {"version": str(version), "hours_1_from": "08:00", "hours_1_to": "12:00"}
    stale = post_form(client, page, f"{page}/edit", edit_form(household, **earlier))
    assert stale.status_code == 409 and fresh(household.id).preferred_hours[0] == ["09:00", "12:00"]
    cleared = edit_form(fresh(household.id), hours_1_from="", hours_1_to="")
    cleared |= {"hours_2_from": "", "hours_2_to": ""}
    assert post_form(client, page, f"{page}/edit", cleared).status_code == 302
    assert fresh(household.id).preferred_hours == []


def test_a_new_household_keeps_its_preferred_hours_and_a_refusal_keeps_the_typed_rows(client, desk):
    sign_in(client, desk.social_worker)
    typed = NEW | {"hours_1_from": "10:00", "hours_1_to": "11:30", "hours_2_from": "16:00"}
    refused = post_form(client, "/registry/new", "/registry/new", typed)
    assert refused.status_code == 422 and 'id="hours_2-error"' in refused.text
    assert 'name="hours_1_to" value="11:30"' in refused.text
    added = post_form(client, "/registry/new", "/registry/new", typed | {"hours_2_to": "17:00"})
    assert added.status_code == 302
    household = fresh(int(added.headers["Location"].rsplit("/", 1)[1]))
    assert household.preferred_hours == [["10:00", "11:30"], ["16:00", "17:00"]]


def test_preferred_hours_have_their_english(client, desk):
    sign_in(client, desk.social_worker)
    page = f"/registry/{ours(desk).id}"
    client.get(f"/language/en?next={page}")
    html = client.get(page).text
    assert "Preferred visiting hours" in html and "Slot 1 from" in html and "시간대" not in html

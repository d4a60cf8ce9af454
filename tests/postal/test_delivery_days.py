"""Offices' delivery weekdays: the API, the CLI and the admin page edit them; items' due dates and
the planner's day checks follow them."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.clock import SEOUL, NotAWorkingDay
from core.db import db
from municipalities.mail.services import record_event
from municipalities.mail.tracking import EventCode
from postal.models import CarrierDistrict, DeliveryOffice
from postal.services import check_delivery_day, next_delivery_day, office_weekdays
from tests.support.desk import HTML, post_form, sign_in
from tests.support.factories import make_due_item

SATURDAYS_TOO = [0, 1, 2, 3, 4, 5]
OFFICE = {
    "code": "SAT-1",
    "name": "토요배달우체국",
    "road_address": "서울특별시 시험구 우정로 6",
    "depot": [127.2, 37.5],
}
PAGE_FORM = {
    "name": "시험우체국",
    "road_address": "서울특별시 시험구 우정로 1",
    "postal_code": "06000",
    "lon": "127.0",
    "lat": "37.5",
}


def stored_weekdays(office_id: int) -> list[int]:
    db.session.expire_all()
    return db.session.get(DeliveryOffice, office_id).delivery_weekdays


# --- the API -----------------------------------------------------------------------------------


def test_an_office_delivers_monday_to_friday_unless_told_and_the_admin_changes_it(client, world):
    headers = world.admin_headers()
    plain = client.post("/api/v1/offices", json=OFFICE, headers=headers)
    assert plain.status_code == 201 and plain.json["delivery_weekdays"] == [0, 1, 2, 3, 4]
    saturdays = OFFICE | {"code": "SAT-2", "delivery_weekdays": [5, 0, 1, 2, 3, 4]}
    created = client.post("/api/v1/offices", json=saturdays, headers=headers)
    assert created.status_code == 201 and created.json["delivery_weekdays"] == SATURDAYS_TOO

    url = f"/api/v1/offices/{world.a.office.id}"
    changed = client.patch(url, json={"delivery_weekdays": [6, 2]}, headers=headers)
    assert changed.status_code == 200 and changed.json["delivery_weekdays"] == [2, 6]
    assert stored_weekdays(world.a.office.id) == [2, 6]
    read = client.get(url, headers=world.a.headers(Role.DISPATCHER))
    assert read.json["delivery_weekdays"] == [2, 6]
    refused = client.patch(
        url, json={"delivery_weekdays": [0]}, headers=world.a.headers(Role.DISPATCHER)
    )
    assert refused.status_code == 403 and stored_weekdays(world.a.office.id) == [2, 6]


@pytest.mark.parametrize(
    ("weekdays", "message"),
    [
        ([], "하나 이상"),
        ([0, 7], "0(월)부터 6(일)까지"),
        ([-1], "0(월)부터 6(일)까지"),
        ([1, 1], "같은 요일이 두 번"),
        (["1"], "0(월)부터 6(일)까지"),
        ([1.5], "0(월)부터 6(일)까지"),
        ("0,1,2", None),
        (None, None),
    ],
)
def test_bad_weekdays_are_a_422_naming_the_field(client, world, weekdays, message):
    headers, body = world.admin_headers(), {"delivery_weekdays": weekdays}
    created = client.post("/api/v1/offices", json=OFFICE | body, headers=headers)
    changed = client.patch(f"/api/v1/offices/{world.a.office.id}", json=body, headers=headers)
    for response in (created, changed):
        assert response.status_code == 422, response.json
        problem = response.json["error"]["fields"]["delivery_weekdays"]
        assert message is None or message in str(problem)
    assert stored_weekdays(world.a.office.id) == [0, 1, 2, 3, 4]


# --- the CLI -----------------------------------------------------------------------------------


def test_the_cli_takes_the_weekdays_checked_as_the_api_does(runner, world):
    args = ["offices", "create", "--name", "명령우체국", "--address", "가상로 1"]
    args += ["--lon", "127.1", "--lat", "37.4"]
    made = runner.invoke(args=[*args, "--code", "CLI-SAT", "--weekdays", "5,0,1,2,3,4"])
    assert made.exit_code == 0, made.output
    plain = runner.invoke(args=[*args, "--code", "CLI-PLAIN"])
    assert plain.exit_code == 0, plain.output
    rows = db.session.execute(sa.select(DeliveryOffice.code, DeliveryOffice.delivery_weekdays))
    found = {code: weekdays for code, weekdays in rows}
    assert found["CLI-SAT"] == SATURDAYS_TOO and found["CLI-PLAIN"] == [0, 1, 2, 3, 4]
    for bad, message in (("0,7", "0(월)부터 6(일)까지"), ("1,1", "같은 요일"), ("월", "0(월)")):
        refused = runner.invoke(args=[*args, "--code", "CLI-BAD", "--weekdays", bad])
        assert refused.exit_code != 0 and "--weekdays" in refused.output
        assert message in refused.output, refused.output


# --- the admin page ----------------------------------------------------------------------------


def ticked(html: str) -> list[str]:
    """The weekday boxes ticked on a page."""
    return [
        value for value in "0123456" if f'name="delivery_weekdays" value="{value}" checked' in html
    ]


def test_an_admin_ticks_the_delivery_weekdays_of_an_office(client, world):
    office_id = world.a.office.id
    page = f"/admin/offices/{office_id}"
    sign_in(client, world.admin)
    html = client.get(page).text
    assert ticked(html) == ["0", "1", "2", "3", "4"]
    for label in "월화수목금토일":
        assert f"> {label}</label>" in html
    assert "월 화 수 목 금 (공휴일 제외)" in html

    form = PAGE_FORM | {"delivery_weekdays": ["0", "1", "2", "3", "4", "5"]}
    assert post_form(client, page, f"{page}/edit", form).status_code == 302
    assert stored_weekdays(office_id) == SATURDAYS_TOO
    html = client.get(page).text
    assert ticked(html) == ["0", "1", "2", "3", "4", "5"]
    assert "월 화 수 목 금 토 (공휴일 제외)" in html

    none = post_form(client, page, f"{page}/edit", PAGE_FORM)
    assert none.status_code == 422 and ticked(none.text) == []
    error = none.text.split('id="delivery_weekdays-error"')[1]
    assert error.startswith(">배달하는 요일을 하나 이상 고르세요.")
    odd = post_form(client, page, f"{page}/edit", PAGE_FORM | {"delivery_weekdays": ["1", "9"]})
    assert odd.status_code == 422 and ticked(odd.text) == ["1"]  # as posted
    assert "0(월)부터 6(일)까지" in odd.text.split('id="delivery_weekdays-error"')[1]
    assert stored_weekdays(office_id) == SATURDAYS_TOO


def test_a_new_office_starts_ticked_monday_to_friday(client, world):
    sign_in(client, world.admin)
    assert ticked(client.get("/admin/offices/new").text) == ["0", "1", "2", "3", "4"]
    form = PAGE_FORM | {"code": "NEW-SUN", "delivery_weekdays": ["6"]}
    added = post_form(client, "/admin/offices/new", "/admin/offices/new", form)
    assert added.status_code == 302
    office = db.session.scalar(sa.select(DeliveryOffice).where(DeliveryOffice.code == "NEW-SUN"))
    assert office.delivery_weekdays == [6]
    none = post_form(client, "/admin/offices/new", "/admin/offices/new", PAGE_FORM | {"code": "N"})
    assert none.status_code == 422 and 'id="delivery_weekdays-error"' in none.text
    assert ticked(none.text) == [] and 'value="시험우체국"' in none.text  # as posted


def test_a_dispatcher_reads_the_weekdays_without_the_form(client, world):
    sign_in(client, world.a.accounts[Role.DISPATCHER])
    html = client.get(f"/admin/offices/{world.a.office.id}", headers=HTML).text
    assert 'id="office-weekdays">월 화 수 목 금 (공휴일 제외)' in html
    assert 'name="delivery_weekdays"' not in html


# --- items' due dates and the planner's checks -------------------------------------------------


def kst(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), SEOUL)


def due_after(tenant, status: str, events: list[EventCode], day: date) -> date | None:
    """The item's due date after these events on `day`, at the tenant's office."""
    district = db.session.scalar(
        sa.select(CarrierDistrict).where(CarrierDistrict.office_id == tenant.office.id)
    )
    item = make_due_item(tenant, (127.0, 37.5), day, district, status=status)
    for code in events:
        record_event(item, code, actor_id=None, at=kst(day))
    return item.due_on


ARRIVES = ("produced", [EventCode.HANDED_TO_OFFICE])
REDELIVERED = ("out_for_delivery", [EventCode.ABSENT, EventCode.REDELIVERY])


@pytest.mark.parametrize(
    ("case", "day", "monday_to_friday", "saturdays_too"),
    [
        (ARRIVES, date(2026, 12, 4), date(2026, 12, 4), date(2026, 12, 4)),  # a Friday
        (ARRIVES, date(2026, 12, 5), date(2026, 12, 7), date(2026, 12, 5)),  # a Saturday
        (REDELIVERED, date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 5)),
        # 개천절 on Saturday 10-03, its substitute holiday on Monday 10-05.
        (REDELIVERED, date(2026, 10, 2), date(2026, 10, 6), date(2026, 10, 6)),
    ],
)
def test_due_dates_follow_the_items_office_calendar(
    world, case, day, monday_to_friday, saturdays_too
):
    world.b.office.delivery_weekdays = SATURDAYS_TOO
    db.session.flush()
    status, events = case
    assert due_after(world.a, status, events, day) == monday_to_friday
    assert due_after(world.b, status, events, day) == saturdays_too


def test_the_planners_checks_follow_the_office(world):
    plain, saturdays = world.a.office, world.b.office
    saturdays.delivery_weekdays = SATURDAYS_TOO
    db.session.flush()
    assert office_weekdays(saturdays.id) == tuple(SATURDAYS_TOO)
    assert next_delivery_day(plain, date(2026, 12, 5)) == date(2026, 12, 7)
    assert next_delivery_day(saturdays, date(2026, 12, 5)) == date(2026, 12, 5)
    check_delivery_day(saturdays, date(2026, 12, 5))
    with pytest.raises(NotAWorkingDay) as refused:
        check_delivery_day(plain, date(2026, 12, 5))
    assert refused.value.fields["day"][0].startswith(
        "2026-12-05(토)은 배달하는 날이 아닙니다. 다음 배달일: 2026-12-07"
    )
    with pytest.raises(NotAWorkingDay) as holiday:
        check_delivery_day(saturdays, date(2026, 10, 3), field="plan_day")
    assert "다음 배달일: 2026-10-06" in holiday.value.fields["plan_day"][0]

"""The office's other registered items: JSON and file import, then part of the day's plan."""

from __future__ import annotations

import io

import pytest

from core.auth.roles import Role
from core.db import db
from core.outbox import deliver_due
from municipalities.mail.registered_numbers import make_number
from tests.routing.test_planning import DAY, WEST
from tests.support.jobs import refusal_of, result_of

N1, N2, N3, N4 = (make_number(2026, serial, "6") for serial in (1, 2, 3, 4))

ITEM = {
    "registered_number": N1,
    "addressee": "홍길동",
    "road_address": "서울특별시 시험구 우정로 1",
    "location": list(WEST),
}


@pytest.fixture
def url(world):
    db.session.commit()
    return f"/api/v1/offices/{world.a.office.id}/items"


def dispatcher(world) -> dict:
    return world.a.headers(Role.DISPATCHER)


def test_items_are_added_all_or_nothing_and_listed_by_day(client, world, url):
    second = ITEM | {"registered_number": N2, "windows": ["14:00-16:00"]}
    added = client.post(
        url, json={"day": DAY.isoformat(), "items": [ITEM, second]}, headers=dispatcher(world)
    )
    assert added.status_code == 201, added.json
    assert added.json[1]["windows"] == ["14:00-16:00"] and added.json[0]["district_id"] is not None
    assert "addressee" not in added.json[0]  # names stay out of the dispatcher's lists
    listed = client.get(f"{url}?day={DAY.isoformat()}", headers=dispatcher(world)).json
    assert [i["registered_number"] for i in listed] == [N1, N2]
    again = client.post(
        url, json={"day": DAY.isoformat(), "items": [ITEM]}, headers=dispatcher(world)
    )
    assert again.status_code == 422 and "0" in again.json["error"]["fields"]["items"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"registered_number": "12345"}, "registered_number"),
        ({"registered_number": N4[:-1] + str((int(N4[-1]) + 1) % 10)}, "registered_number"),
        ({"windows": ["16:00-14:00"]}, "windows"),
        ({"location": [2.35, 48.85]}, "location"),
        ({"service_s": -1}, "service_s"),
        ({"addressee": ""}, "addressee"),
    ],
)
def test_a_bad_item_is_named_and_nothing_is_stored(client, world, url, change, field):
    items = [ITEM | {"registered_number": N3}, ITEM | change]
    response = client.post(
        url, json={"day": DAY.isoformat(), "items": items}, headers=dispatcher(world)
    )
    assert response.status_code == 422, response.json
    assert field in str(response.json["error"]["fields"])
    assert client.get(f"{url}?day={DAY.isoformat()}", headers=dispatcher(world)).json == []


def upload(client, world, url, text: str, encoding: str = "utf-8"):
    return client.post(
        f"{url}/imports?day={DAY.isoformat()}",
        data={"file": (io.BytesIO(text.encode(encoding)), "items.csv")},
        headers=dispatcher(world),
        content_type="multipart/form-data",
    )


def test_a_file_with_bad_rows_names_each_row_and_stores_nothing(client, world, url):
    text = (
        "등기번호,수취인,도로명주소,경도,위도,희망시간\n"
        f"{N1},홍길동,서울특별시 시험구 우정로 1,126.953,37.505,\n"
        "12345,김철수,서울특별시 시험구 우정로 2,126.954,37.505,\n"
        f"{N3},이영희,서울특별시 시험구 우정로 3,abc,37.505,9시\n"
    )
    response = upload(client, world, url, text, "cp949")
    error = refusal_of(client, response, dispatcher(world))
    assert error["code"] == "office_items_invalid"
    problems = error["fields"]
    assert set(problems) == {"row 3", "row 4"}
    assert "registered_number" in problems["row 3"]
    assert {"lon/lat", "windows"} <= set(problems["row 4"])
    assert client.get(f"{url}?day={DAY.isoformat()}", headers=dispatcher(world)).json == []
    missing = upload(client, world, url, f"등기번호,수취인\n{N1},홍길동\n")
    assert "도로명주소" in refusal_of(client, missing, dispatcher(world))["fields"]["file"][0]


def test_imported_items_join_the_days_plan_as_plain_registered_stops(client, world, url):
    from tests.support.factories import make_carrier

    make_carrier(world.a.office)
    text = "등기번호,수취인,도로명주소,경도,위도\n" + "".join(
        f"{make_number(2026, 100 + i, '6')},수취인{i},서울특별시 시험구 우정로 {i},"
        f"{126.953 + i / 1000},37.505\n"
        for i in range(5)
    )
    imported = upload(client, world, url, text)
    assert result_of(client, imported, dispatcher(world))["created"] == 5
    plan = client.post(
        f"/api/v1/offices/{world.a.office.id}/plans",
        json={"day": DAY.isoformat(), "time_limit_s": 1},
        headers=dispatcher(world),
    ).json
    deliver_due()
    plan = client.get(f"/api/v1/plans/{plan['id']}", headers=dispatcher(world)).json
    stops = [s for r in plan["routes"] for s in r["stops"]]
    assert len(stops) == 5 and {s["kind"] for s in stops} == {"registered"}
    assert {s["service_s"] for s in stops} == {60}

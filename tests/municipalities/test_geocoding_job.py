"""`flask households geocode` against a fake Nominatim: assignment, cache, not found, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.db import db
from core.outbox import MAINTENANCE, OutboxMessage, deliver_due
from municipalities.services import GEOCODE_KIND
from tests.support.fakes.nominatim import FakeNominatim

INSIDE = "서울특별시 시험구 희망로 12"  # inside tenant a's district
OUTSIDE = "대구광역시 중구 공평로 88"  # geocodes, but outside every district
UNKNOWN = "서울특별시 시험구 없는길 999"
ELSEWHERE = "서울특별시 시험구 행복길 3"
PLACES = {INSIDE: (126.96, 37.51), OUTSIDE: (128.6, 35.87), ELSEWHERE: (126.955, 37.505)}


@pytest.fixture
def fake(app, monkeypatch) -> Iterator[FakeNominatim]:
    with FakeNominatim(PLACES) as server:
        monkeypatch.setitem(app.config, "GEOCODER_URL", server.url)
        monkeypatch.setitem(app.config, "GEOCODER_MIN_DELAY_S", 0.001)
        monkeypatch.setitem(app.config, "GEOCODER_TIMEOUT_S", 2.0)
        yield server


def create(client, world, name: str, road_address: str) -> dict:
    response = client.post(
        "/api/v1/households",
        json={"name": name, "road_address": road_address},
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert response.status_code == 201, response.json
    return response.json


def read(client, world, household_id: int) -> dict:
    return client.get(
        f"/api/v1/households/{household_id}", headers=world.a.headers(Role.SOCIAL_WORKER)
    ).json


def geocode(runner):
    return runner.invoke(args=["households", "geocode"])


def test_households_without_location_wait_and_requests_never_geocode(client, world, fake):
    household = create(client, world, "김순자", INSIDE)
    assert household["geocode_status"] == "pending"
    assert household["assignment_status"] == "not_geocoded"
    assert household["location"] is None
    changed = client.patch(
        f"/api/v1/households/{household['id']}",
        json={"version": household["version"], "road_address": OUTSIDE},
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert changed.status_code == 200 and changed.json["geocode_status"] == "pending"
    assert fake.requests == []


def test_geocode_command_assigns_districts_and_reports(client, runner, world, fake):
    inside = create(client, world, "김순자", INSIDE)
    outside = create(client, world, "박영호", OUTSIDE)
    unknown = create(client, world, "이민호", UNKNOWN)

    result = geocode(runner)

    assert result.exit_code == 0, result.output
    assert "geocoded 2, not found 1, unavailable for 0 (left pending), from cache 0" in (
        result.output
    )
    assert sorted(fake.requests) == sorted([INSIDE, OUTSIDE, UNKNOWN])
    got = read(client, world, inside["id"])
    assert got["geocode_status"] == "geocoded" and got["location"] == [126.96, 37.51]
    assert got["assignment_status"] == "assigned" and got["office_id"] == world.a.office.id
    assert got["district_id"] is not None
    got = read(client, world, outside["id"])
    assert got["geocode_status"] == "geocoded"
    assert got["assignment_status"] == "outside_districts" and got["district_id"] is None
    got = read(client, world, unknown["id"])
    assert got["geocode_status"] == "not_found" and got["location"] is None

    listed = client.get(
        "/api/v1/households/unassigned", headers=world.a.headers(Role.SOCIAL_WORKER)
    ).json
    reasons = {item["id"]: item for item in listed["items"]}
    assert set(reasons) == {outside["id"], unknown["id"]}
    assert reasons[unknown["id"]]["geocode_status"] == "not_found"
    assert "not_found" not in reasons[unknown["id"]]["reason"]
    assert "found no such address" in reasons[unknown["id"]]["reason"]
    assert "Outside every carrier district" in reasons[outside["id"]]["reason"]

    # Nothing is pending any more: a second run asks nothing.
    again = geocode(runner)
    assert again.exit_code == 0 and "geocoded 0, not found 0" in again.output
    assert len(fake.requests) == 3


def test_answers_are_cached_per_address(client, runner, world, fake):
    first = create(client, world, "김순자", INSIDE)
    missing = create(client, world, "이민호", UNKNOWN)
    assert geocode(runner).exit_code == 0
    assert len(fake.requests) == 2

    same = create(client, world, "최영희", INSIDE)
    same_missing = create(client, world, "정다은", UNKNOWN)
    result = geocode(runner)

    assert result.exit_code == 0, result.output
    assert "geocoded 1, not found 1, unavailable for 0 (left pending), from cache 2" in (
        result.output
    )
    assert len(fake.requests) == 2
    assert (
        read(client, world, same["id"])["location"] == read(client, world, first["id"])["location"]
    )
    assert read(client, world, same["id"])["assignment_status"] == "assigned"
    assert read(client, world, same_missing["id"])["geocode_status"] == "not_found"
    assert read(client, world, missing["id"])["geocode_status"] == "not_found"


def test_same_address_twice_in_one_run_is_asked_once(client, runner, world, fake):
    create(client, world, "김순자", INSIDE)
    create(client, world, "최영희", INSIDE)
    result = geocode(runner)
    assert "geocoded 2" in result.output
    assert fake.requests == [INSIDE]


def test_outage_leaves_households_pending_and_is_reported(client, runner, world, fake):
    first = create(client, world, "김순자", INSIDE)
    second = create(client, world, "박서연", ELSEWHERE)
    fake.fail_next(3)  # every attempt for the first address fails: the geocoder is down

    result = geocode(runner)

    assert result.exit_code != 0
    assert "unavailable for 2 (left pending)" in result.output
    assert "stay pending" in result.output
    # The run stops asking once the geocoder is down: the second address is not tried.
    assert fake.requests == [INSIDE] * 3
    for household in (first, second):
        got = read(client, world, household["id"])
        assert got["geocode_status"] == "pending" and got["location"] is None

    # The geocoder is back: the next run geocodes both (a failure was not cached).
    recovered = geocode(runner)
    assert recovered.exit_code == 0, recovered.output
    assert "geocoded 2, not found 0, unavailable for 0" in recovered.output
    for household in (first, second):
        assert read(client, world, household["id"])["assignment_status"] == "assigned"


def test_limit_bounds_one_run(client, runner, world, fake):
    for name, address in (("김순자", INSIDE), ("박영호", OUTSIDE), ("이민호", UNKNOWN)):
        create(client, world, name, address)
    result = runner.invoke(args=["households", "geocode", "--limit", "2"])
    assert result.exit_code == 0
    assert "geocoded 2, not found 0" in result.output
    assert fake.requests == [INSIDE, OUTSIDE]
    rest = geocode(runner)
    assert "geocoded 0, not found 1" in rest.output
    assert fake.requests == [INSIDE, OUTSIDE, UNKNOWN]


def test_command_without_geocoder_fails_clearly(app, runner, world, monkeypatch):
    monkeypatch.setitem(app.config, "GEOCODER_URL", None)
    result = geocode(runner)
    assert result.exit_code != 0
    assert "WELFARE_GEOCODER_URL" in result.output


def test_a_household_without_location_asks_the_maintenance_queue_once(client, world, fake):
    """Creating or moving households asks for one geocoding job; the worker geocodes them all;
    an outage leaves them pending and the job retried later."""
    inside = create(client, world, "김순자", INSIDE)
    create(client, world, "박영호", OUTSIDE)
    jobs = sa.select(OutboxMessage).where(OutboxMessage.kind == GEOCODE_KIND)
    assert [(m.queue, m.status) for m in db.session.scalars(jobs)] == [(MAINTENANCE, "pending")]
    assert deliver_due(queues=(MAINTENANCE,)).sent == 1
    got = read(client, world, inside["id"])
    assert got["geocode_status"] == "geocoded" and got["assignment_status"] == "assigned"
    fake.fail_next(100)
    create(client, world, "이민호", ELSEWHERE)
    assert deliver_due(queues=(MAINTENANCE,)).retried == 1
    db.session.expire_all()
    retried = db.session.scalars(jobs.where(OutboxMessage.status == "pending")).one()
    assert "geocoder unavailable" in retried.last_error

"""Check reports: every welfare visit's survey triaged for the municipality that owns it."""

from __future__ import annotations

import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from municipalities.models import MailItem
from tests.test_planning import office  # noqa: F401
from tests.test_visits import INTERVIEW, OBSERVATION, day, item, post, record  # noqa: F401

EMERGENCY = OBSERVATION | {"bad_smell": True, "lights_tv_on_absent": True, "mail_piling": True}


def social(today: dict) -> dict:
    return today["tenant"].headers(Role.SOCIAL_WORKER)


def absent(number: str, answers: dict = OBSERVATION) -> dict:
    survey = {"form": "wellbeing", "version": 1, "answers": answers}
    return record(number, outcome="absent", survey=survey)


def test_each_welfare_visit_is_triaged_and_listed_most_severe_first(client, day, world):  # noqa: F811
    first, second = day["numbers"][:2]
    assert post(client, day, record(first)).status_code == 201  # meals: skipping → urgent
    assert post(client, day, absent(second, EMERGENCY)).status_code == 201
    listed = client.get("/api/v1/check-reports", headers=social(day)).json
    assert [r["severity"] for r in listed["items"]] == ["emergency", "urgent"]
    assert listed["items"][0]["fired"] == ["absent_smell_lights_mail", "observations_three_or_more"]
    assert listed["items"][1]["fired"] == ["skipping_meals"]
    urgent = listed["items"][1]["id"]
    detail = client.get(f"/api/v1/check-reports/{urgent}", headers=social(day)).json
    assert detail["rules"][0]["description"]["ko"] and detail["answers"]["meals"] == "skipping"
    assert detail["outcome"] == "delivered" and detail["contact"] == "met_addressee"
    assert db.session.scalar(
        sa.select(sa.func.count(AccessLog.id)).where(AccessLog.detail == f"check_report={urgent}")
    )
    only = client.get("/api/v1/check-reports?severity=urgent", headers=social(day)).json
    assert [r["id"] for r in only["items"]] == [urgent]


def test_two_absences_in_a_row_are_watched(client, day):  # noqa: F811
    number = day["numbers"][0]
    assert post(client, day, absent(number)).status_code == 201
    mail = item(number)
    mail.status = "out_for_delivery"
    db.session.commit()
    assert post(client, day, absent(number)).status_code == 201
    reports = client.get("/api/v1/check-reports", headers=social(day)).json["items"]
    fired = sorted(tuple(r["fired"]) for r in reports)
    assert ("observations_one_or_two", "absent_twice_in_a_row") in fired  # form order
    assert ("observations_one_or_two",) in fired


def test_another_municipality_and_post_staff_see_no_reports(client, day, world):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    report = client.get("/api/v1/check-reports", headers=social(day)).json["items"][0]
    other = world.b.headers(Role.SOCIAL_WORKER)
    assert client.get("/api/v1/check-reports", headers=other).json["items"] == []
    assert client.get(f"/api/v1/check-reports/{report['id']}", headers=other).status_code == 404
    for role in (Role.DISPATCHER, Role.CARRIER):
        headers = day["tenant"].headers(role)
        assert client.get("/api/v1/check-reports", headers=headers).status_code == 403
        detail = client.get(f"/api/v1/check-reports/{report['id']}", headers=headers)
        assert detail.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(MailItem.id))) > 0

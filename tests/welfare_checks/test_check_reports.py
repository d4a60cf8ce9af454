"""Check reports: every welfare visit's survey triaged for the municipality that owns it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db, utcnow
from core.outbox import OutboxMessage
from municipalities.mail.models import MailItem, WebhookEndpoint
from municipalities.mail.services import record_event
from municipalities.mail.tracking import EventCode
from tests.carrier_api.test_visits import INTERVIEW, OBSERVATION, day, item, post, record  # noqa: F401
from tests.routing.test_planning import office  # noqa: F401
from tests.support.factories import make_account
from tests.support.fakes.fcm import fcm_on  # noqa: F401
from welfare_checks.alerts import escalate_overdue

# Pushes are queued only while FCM is configured (core/push.py): here at a local fake.
pytestmark = pytest.mark.usefixtures("fcm_on")
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
    record_event(mail, EventCode.OUT_FOR_DELIVERY, actor_id=None)  # out again
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


def outbox(kind: str) -> list[OutboxMessage]:
    return db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    ).all()


def test_an_urgent_check_alerts_the_team_at_once_without_personal_data(client, day, world):  # noqa: F811
    endpoint = WebhookEndpoint(
        municipality_id=day["tenant"].municipality.id,
        url="https://hooks.example.org/in",
        secret="s",
    )
    db.session.add(endpoint)
    db.session.commit()
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    worker = day["tenant"].accounts[Role.SOCIAL_WORKER]
    pushes = [m for m in outbox("push") if m.payload["event"] == "check_alert"]
    assert [m.payload["account_id"] for m in pushes] == [worker.id]
    [hook] = [m for m in outbox("webhook") if m.payload["type"] == "check_report.alert"]
    assert hook.payload["data"]["severity"] == "urgent"
    assert set(hook.payload["data"]) == {
        "alert_id",
        "report_id",
        "household_id",
        "severity",
        "fired",
        "visited_at",
    }
    alerts = client.get("/api/v1/alerts?open=true", headers=social(day)).json["items"]
    assert [a["severity"] for a in alerts] == ["urgent"]


def test_alerts_are_acknowledged_and_unacknowledged_emergencies_escalate_once(
    client,
    day,  # noqa: F811
    ctx,
    app,
):
    assert post(client, day, absent(day["numbers"][0], EMERGENCY)).status_code == 201
    assert post(client, day, absent(day["numbers"][1], EMERGENCY)).status_code == 201
    assert (
        post(client, day, record(day["numbers"][2])).status_code == 201
    )  # urgent: never escalates
    listed = client.get("/api/v1/alerts?open=true", headers=social(day)).json["items"]
    assert [a["severity"] for a in listed] == ["emergency", "emergency", "urgent"]
    taken = client.post(f"/api/v1/alerts/{listed[0]['id']}/acknowledge", headers=social(day))
    assert (
        taken.status_code == 200
        and taken.json["acknowledged_by"] == day["tenant"].accounts[Role.SOCIAL_WORKER].id
    )
    later = utcnow() + timedelta(minutes=app.config["ALERT_ESCALATE_MINUTES"] + 1)
    assert escalate_overdue(utcnow()) == 0  # not yet
    assert escalate_overdue(later) == 1
    assert escalate_overdue(later) == 0  # once
    db.session.commit()
    admin = day["tenant"].accounts[Role.MUNICIPAL_ADMIN]
    escalations = [m for m in outbox("push") if m.payload["event"] == "check_alert_escalated"]
    assert [m.payload["account_id"] for m in escalations] == [admin.id]
    assert escalations[0].payload["data"]["alert_id"] == listed[1]["id"]
    still_open = client.get("/api/v1/alerts?open=true", headers=social(day)).json["items"]
    assert [a["id"] for a in still_open] == [listed[1]["id"], listed[2]["id"]]
    auditor = day["tenant"].headers(Role.AUDITOR)
    assert (
        client.post(f"/api/v1/alerts/{listed[1]['id']}/acknowledge", headers=auditor).status_code
        == 403
    )


def test_only_the_on_duty_social_workers_are_alerted_when_a_list_is_set(client, day, world):  # noqa: F811
    tenant = day["tenant"]
    on_duty = make_account(Role.SOCIAL_WORKER, municipality_id=tenant.municipality.id)
    db.session.commit()
    admin = tenant.headers(Role.MUNICIPAL_ADMIN)
    refused = client.put(
        "/api/v1/on-duty",
        json={"account_ids": [world.b.accounts[Role.SOCIAL_WORKER].id]},
        headers=admin,
    )
    assert refused.status_code == 422 and "account_ids" in refused.json["error"]["fields"]
    assert (
        client.put(
            "/api/v1/on-duty", json={"account_ids": [on_duty.id]}, headers=social(day)
        ).status_code
        == 403
    )
    assert client.put(
        "/api/v1/on-duty", json={"account_ids": [on_duty.id]}, headers=admin
    ).json == {"account_ids": [on_duty.id]}
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    pushes = [m for m in outbox("push") if m.payload["event"] == "check_alert"]
    assert [m.payload["account_id"] for m in pushes] == [on_duty.id]

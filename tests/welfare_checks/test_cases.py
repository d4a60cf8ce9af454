"""Follow-up cases: opened by urgent checks, worked to an outcome, overdue ones escalate."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth.roles import Role
from core.db import db, utcnow
from core.outbox import OutboxMessage
from tests.carrier_api.test_visits import OBSERVATION, day, post, record  # noqa: F401
from tests.routing.test_planning import office  # noqa: F401
from tests.support.factories import make_account
from tests.support.fakes.fcm import fcm_on  # noqa: F401
from tests.welfare_checks.test_check_reports import EMERGENCY, absent, social
from welfare_checks.cases import escalate_overdue_cases
from welfare_checks.models import CaseEvent

# Pushes are queued only while FCM is configured (core/push.py): here at a local fake.
pytestmark = pytest.mark.usefixtures("fcm_on")

WATCH = OBSERVATION | {"mail_piling": True}  # one observation: watch


def cases(client, today) -> list[dict]:
    return client.get("/api/v1/cases", headers=social(today)).json["items"]


def test_urgent_and_emergency_checks_open_cases_due_by_their_service_level(client, day):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201  # urgent
    assert post(client, day, absent(day["numbers"][1], EMERGENCY)).status_code == 201
    assert post(client, day, absent(day["numbers"][2], WATCH)).status_code == 201  # no case
    opened = cases(client, day)
    assert [c["severity"] for c in opened] == ["emergency", "urgent"]  # the sooner due first
    hours = [round((_at(c["due_at"]) - utcnow()).total_seconds() / 3600) for c in opened]
    assert hours == [4, 24] and {c["status"] for c in opened} == {"new"}


def test_a_municipality_may_open_cases_for_watch_checks_too(client, day):  # noqa: F811
    admin = day["tenant"].headers(Role.MUNICIPAL_ADMIN)
    policy = {"open_on_watch": True, "due_hours": {"watch": 72}}
    assert client.put("/api/v1/case-policy", json=policy, headers=admin).status_code == 200
    assert client.get("/api/v1/case-policy", headers=social(day)).json["due_hours"]["watch"] == 72
    assert post(client, day, absent(day["numbers"][0], WATCH)).status_code == 201
    [case] = cases(client, day)
    assert case["severity"] == "watch"
    assert round((_at(case["due_at"]) - utcnow()).total_seconds() / 3600) == 72


def test_a_case_is_assigned_worked_to_an_outcome_closed_and_reopened(client, day, world):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    [case] = cases(client, day)
    tenant = day["tenant"]
    worker = tenant.accounts[Role.SOCIAL_WORKER]
    colleague = make_account(Role.SOCIAL_WORKER, municipality_id=tenant.municipality.id)
    db.session.commit()
    url, headers = f"/api/v1/cases/{case['id']}", social(day)

    def patch(body: dict):
        return client.patch(url, json=body, headers=headers)

    foreign = patch({"version": 1, "owner_id": world.b.accounts[Role.SOCIAL_WORKER].id})
    assert foreign.status_code == 422 and "owner_id" in foreign.json["error"]["fields"]
    assert patch({"version": 1, "owner_id": worker.id}).json["owner_id"] == worker.id
    assert patch({"version": 2, "owner_id": colleague.id}).json["owner_id"] == colleague.id
    assert patch({"version": 2, "status": "in_progress"}).status_code == 409  # stale
    assert patch({"version": 3, "status": "closed"}).status_code == 422  # not from new
    assert patch({"version": 3, "status": "in_progress"}).status_code == 200
    missing = patch({"version": 4, "status": "linked_public"})
    assert missing.status_code == 422 and "outcome" in missing.json["error"]["fields"]
    linked = patch({"version": 4, "status": "linked_public", "outcome": "emergency_welfare"})
    assert linked.json["outcome"] == "emergency_welfare"
    note = client.post(
        f"{url}/notes", json={"text": "긴급복지 생계지원 신청 안내함"}, headers=headers
    )
    assert note.status_code == 201
    closed = patch({"version": 5, "status": "closed"})
    assert closed.json["status"] == "closed" and closed.json["closed_at"]
    reopened = client.post(f"{url}/reopen", json={"version": 6}, headers=headers)
    assert reopened.json["status"] == "in_progress" and reopened.json["closed_at"] is None
    detail = client.get(url, headers=headers).json
    assert [e["action"] for e in detail["events"]] == [
        "opened", "assigned", "assigned", "status", "status", "note", "status", "reopened",
    ]  # fmt: skip
    assert detail["events"][5]["note"] == "긴급복지 생계지원 신청 안내함"
    stored = db.session.scalar(sa.select(CaseEvent.note).where(CaseEvent.action == "note"))
    raw = db.session.execute(sa.text("SELECT note FROM case_events WHERE action = 'note'")).scalar()
    assert stored == "긴급복지 생계지원 신청 안내함" and "긴급복지" not in raw  # encrypted at rest


def test_overdue_cases_come_first_and_escalate_once(client, day, ctx):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    [case] = cases(client, day)
    later = utcnow() + timedelta(hours=25)
    assert escalate_overdue_cases(utcnow()) == 0
    assert escalate_overdue_cases(later) == 1
    assert escalate_overdue_cases(later) == 0
    db.session.commit()
    pushes = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "push")).all()
    overdue = [m.payload["account_id"] for m in pushes if m.payload["event"] == "case_overdue"]
    assert overdue == [day["tenant"].accounts[Role.MUNICIPAL_ADMIN].id]
    assert cases(client, day)[0]["escalated_at"]


def test_another_municipality_and_post_staff_see_no_cases(client, day, world):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    [case] = cases(client, day)
    other = world.b.headers(Role.SOCIAL_WORKER)
    assert client.get("/api/v1/cases", headers=other).json["items"] == []
    assert client.get(f"/api/v1/cases/{case['id']}", headers=other).status_code == 404
    dispatcher = day["tenant"].headers(Role.DISPATCHER)
    assert client.get("/api/v1/cases", headers=dispatcher).status_code == 403
    auditor = day["tenant"].headers(Role.AUDITOR)
    refused = client.patch(
        f"/api/v1/cases/{case['id']}", json={"version": 1, "status": "in_progress"}, headers=auditor
    )
    assert refused.status_code == 403


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)

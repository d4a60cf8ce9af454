"""The staff pages' alert poll (/welfare/alerts/live): 304 while nothing changed, the open alerts
of the principal's own municipality only, nothing personal, and a session that ended is a 401.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from core.audit import AccessLog
from core.auth.models import StaffSession
from core.auth.roles import Role
from core.db import db, utcnow
from municipalities.models import Household
from tests.support.desk import (
    HTML,
    Desk,
    carrier_headers,
    csrf_of,
    idle_out,
    sign_in,
    upload_visit,
    visit,
)
from welfare_checks.alerts import escalate_overdue
from welfare_checks.models import Alert, Case
from welfare_checks.sound import PATH as SOUND
from welfare_checks.sound import chime

POLL = "/welfare/alerts/live"
JSON = {"Accept": "application/json"}
ALERT_KEYS = {"id", "report_id", "severity", "created_at", "escalated", "report_url", "open_url"}
BODY_KEYS = {"open", "escalated", "newest_report_id", "notify", "may_acknowledge", "alerts"}


def upload(client, desk: Desk, number: str, *, emergency: bool = True) -> Alert:
    """A carrier's visit through the carrier API; the alert it raised."""
    upload_visit(client, desk, number, emergency=emergency)
    return db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()


def poll(client, etag: str | None = None):
    headers = JSON | ({"If-None-Match": etag} if etag else {})
    return client.get(POLL, headers=headers)


def nav_count(html: str) -> int | None:
    """The open alerts' count beside 받은 보고 in the navigation (None: hidden)."""
    found = re.search(r'<span class="nav-count" data-nav-count="welfare_pages.inbox"([^>]*)>', html)
    assert found, "no count in the navigation"
    if "hidden" in found.group(1):
        return None
    tail = html[found.end() :]
    return int(re.search(r"<span data-value>(\d+)</span>", tail).group(1))


def test_the_poll_is_304_until_an_alert_arrives_then_a_new_etag_and_count(client, desk):
    sign_in(client, desk.social_worker)
    page = client.get("/welfare/").text
    assert nav_count(page) is None  # nothing open: the count is hidden
    first = poll(client)
    assert first.status_code == 200 and first.json["open"] == 0 and first.json["alerts"] == []
    etag = first.headers["ETag"]
    assert f'data-version="{etag.replace(chr(34), "&#34;")}"' in page  # the page's state

    again = poll(client, etag)
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "no-store"

    alert = upload(client, desk, desk.numbers[0])
    changed = poll(client, etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    state = changed.json
    assert state["open"] == 1 and state["escalated"] == 0
    assert state["notify"] == ["new"] and state["may_acknowledge"] is True
    (listed,) = state["alerts"]
    assert listed["id"] == alert.id and listed["severity"] == "emergency"
    assert listed["escalated"] is False
    assert listed["report_url"] == f"/welfare/reports/{alert.report_id}"
    assert listed["open_url"] == f"/welfare/alerts/{alert.id}/open"
    assert poll(client, changed.headers["ETag"]).status_code == 304
    assert nav_count(client.get("/welfare/statistics").text) == 1  # every welfare page

    upload(client, desk, desk.numbers[1], emergency=False)  # urgent: a second open alert
    second = poll(client, changed.headers["ETag"])
    assert second.status_code == 200 and second.json["open"] == 2
    assert [a["severity"] for a in second.json["alerts"]] == ["urgent", "emergency"]  # newest


def test_an_acknowledgement_or_a_new_report_changes_the_etag(client, desk):
    alert = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    etag = poll(client).headers["ETag"]
    token = csrf_of(client.get("/welfare/").text)
    taken = client.post(f"/welfare/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    assert taken.status_code == 302
    after = poll(client, etag)
    assert after.status_code == 200 and after.json["open"] == 0
    body = visit(desk.numbers[1])
    body["survey"]["answers"] = body["survey"]["answers"] | {
        "bad_smell": False,
        "lights_tv_on_absent": False,
        "mail_piling": False,
    }  # nobody home, nothing seen: a report without an alert, listed in the inbox all the same
    headers = carrier_headers(desk.carrier_token, body)
    assert client.post("/api/v1/carrier/visits", json=body, headers=headers).status_code == 201
    listed = poll(client, after.headers["ETag"])
    assert listed.status_code == 200 and listed.json["open"] == 0
    assert listed.json["newest_report_id"] > after.json["newest_report_id"]


def test_another_municipalitys_alerts_are_never_counted(client, desk):
    stranger = desk.world.b.accounts[Role.SOCIAL_WORKER]
    sign_in(client, stranger)
    before = poll(client)
    assert before.json["open"] == 0 and before.json["newest_report_id"] is None
    upload(client, desk, desk.numbers[0])  # tenant a's emergency
    unchanged = poll(client, before.headers["ETag"])
    assert unchanged.status_code == 304
    assert poll(client).json == before.json
    assert nav_count(client.get("/welfare/").text) is None


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.CARRIER, Role.SYSTEM_ADMIN])
def test_post_staff_and_carriers_are_refused(client, desk, role):
    account = desk.world.admin if role == Role.SYSTEM_ADMIN else desk.world.a.accounts[role]
    upload(client, desk, desk.numbers[0])
    sign_in(client, account)
    refused = poll(client)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert client.get("/welfare/live/inbox", headers=JSON).status_code == 403
    home = client.get("/").text
    assert "live_alerts.js" not in home and "data-nav-count" not in home


def test_a_carriers_bearer_token_reaches_no_poll(client, desk):
    upload(client, desk, desk.numbers[0])
    headers = JSON | {"Authorization": f"Bearer {desk.carrier_token}"}
    assert client.get(POLL, headers=headers).status_code == 401


def test_the_poll_carries_ids_severities_and_times_only(client, desk):
    alert = upload(client, desk, desk.numbers[0])
    household = db.session.scalar(
        sa.select(Household).join(Case, Case.household_id == Household.id)
    )
    sign_in(client, desk.social_worker)
    response = poll(client)
    assert set(response.json) == BODY_KEYS
    assert all(set(listed) == ALERT_KEYS for listed in response.json["alerts"])
    text = response.get_data(as_text=True)
    for private in (household.name, household.road_address, household.phone, "bad_smell"):
        assert not private or private not in text
    assert json.loads(text)["alerts"][0]["id"] == alert.id
    reads = sa.select(sa.func.count()).select_from(AccessLog)
    assert db.session.scalar(reads.where(AccessLog.account_id == desk.social_worker.id)) == 0


def test_auditors_see_the_count_only_and_admins_are_told_of_escalations(client, desk):
    alert = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.world.a.accounts[Role.AUDITOR])
    audit = poll(client).json
    assert audit["open"] == 1 and audit["notify"] == [] and audit["may_acknowledge"] is False
    assert audit["alerts"][0]["open_url"] is None
    token = csrf_of(client.get("/welfare/").text)
    refused = client.post(
        f"/welfare/alerts/{alert.id}/open", data={"csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token})

    sign_in(client, desk.world.a.accounts[Role.MUNICIPAL_ADMIN])
    before = poll(client)
    assert before.json["notify"] == ["escalated"] and before.json["escalated"] == 0
    page = client.get("/welfare/").text
    assert 'data-nav-flag="welfare_pages.inbox" hidden' in page
    late = utcnow() + timedelta(minutes=current_app.config["ALERT_ESCALATE_MINUTES"] + 1)
    assert escalate_overdue(late) == 1
    db.session.commit()
    escalated = poll(client, before.headers["ETag"])
    assert escalated.status_code == 200 and escalated.json["escalated"] == 1
    assert escalated.json["alerts"][0]["escalated"] is True
    page = client.get("/welfare/").text
    assert 'class="badge escalated"' in page  # marked in the banner
    flag = page.split('data-nav-flag="welfare_pages.inbox"')[1].split("</span></span>")[0]
    assert "hidden" not in flag.split(">")[0] and "에스컬레이션" in flag

    sign_in(client, desk.social_worker)
    worker = client.get("/welfare/").text
    assert "data-nav-flag" not in worker  # the count only: escalations go to the admins


def test_opening_an_alert_acknowledges_it_and_shows_the_logged_report(client, desk):
    alert = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    token = csrf_of(client.get("/welfare/").text)
    opened = client.post(f"/welfare/alerts/{alert.id}/open", data={"csrf_token": token})
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"/welfare/reports/{alert.report_id}"
    db.session.expire_all()
    taken = db.session.get(Alert, alert.id)
    assert taken.acknowledged_by == desk.social_worker.id and taken.acknowledged_at
    report = client.get(opened.headers["Location"])
    assert report.status_code == 200 and "알림을 확인했습니다." in report.text
    logged = db.session.scalars(
        sa.select(AccessLog.detail).where(AccessLog.account_id == desk.social_worker.id)
    ).all()
    assert f"check_report={alert.report_id}" in logged
    assert poll(client).json["open"] == 0

    sign_in(client, desk.world.b.accounts[Role.SOCIAL_WORKER])
    token = csrf_of(client.get("/welfare/").text)
    other = client.post(
        f"/welfare/alerts/{alert.id}/open", data={"csrf_token": token}, headers=HTML
    )
    assert other.status_code == 404


def test_the_inbox_parts_bring_the_banner_and_the_list(client, desk):
    alert = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    inbox = client.get("/welfare/?severity=emergency").text
    assert 'data-live-inbox="/welfare/live/inbox?severity=emergency"' in inbox
    parts = client.get("/welfare/live/inbox?severity=emergency", headers=HTML)
    assert parts.status_code == 200
    html = parts.text
    assert '<div id="inbox-alerts" data-live-part>' in html
    assert '<div id="inbox-reports" data-live-part>' in html
    assert f'data-alert="{alert.id}"' in html and f'data-report="{alert.report_id}"' in html
    assert "<html" not in html and "<nav" not in html.replace('<nav class="pager"', "")


def test_the_poll_does_not_keep_a_session_alive_and_stops_with_a_401(client, desk):
    sign_in(client, desk.social_worker)
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"] - 1)
    quiet = utcnow() - idle
    db.session.execute(sa.update(StaffSession).values(last_seen_at=quiet))
    db.session.commit()
    for _ in range(3):
        assert poll(client).status_code == 200
    db.session.expire_all()
    seen = db.session.scalar(sa.select(StaffSession.last_seen_at))
    assert abs((seen - quiet).total_seconds()) < 1  # polled, but not used

    idle_out()
    ended = poll(client)
    assert ended.status_code == 401 and ended.json["error"]["code"] == "unauthorized"
    assert "로그아웃되었습니다" in ended.json["error"]["message"]
    assert poll(client).status_code == 401  # and stays so: the cookie's session is gone
    # A person following a link is sent to sign in, as on every page.
    assert client.get(POLL, headers=HTML).status_code == 302


def test_a_304_costs_one_indexed_query_of_the_alerts(app, client, desk):
    upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    etag = poll(client).headers["ETag"]
    statements: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert poll(client, etag).status_code == 304
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    texts = [statement for statement, _ in statements]
    reads = [(s, p) for s, p in statements if "alerts" in s or "check_reports" in s]
    assert len(reads) == 1, texts
    assert len([s for s in texts if "staff_sessions" in s]) == 1  # the session, untouched
    assert not [s for s in texts if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    if engine.dialect.name == "sqlite":
        statement, parameters = reads[0]
        plan = db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters
        )
        details = " ".join(str(row[-1]) for row in plan)
        assert "ix_alerts_municipality_id_acknowledged_at" in details, details
        assert "ix_check_reports_municipality_id_id" in details, details


def test_the_alert_sound_is_served_and_is_the_one_the_code_makes(client):
    made, kept = chime(), SOUND.read_bytes()
    assert kept[:44] == made[:44] and len(kept) == len(made)  # the same WAV header and length
    samples = zip(memoryview(kept[44:]).cast("h"), memoryview(made[44:]).cast("h"), strict=True)
    assert max(abs(a - b) for a, b in samples) <= 1  # floating point may round either way
    served = client.get("/welfare/static/alert.wav")
    assert served.status_code == 200 and served.mimetype in ("audio/wav", "audio/x-wav")
    assert 0.3 < (len(made) - 44) / 2 / 16_000 < 1.0  # seconds: short

"""The social worker's pages through the Flask test client: inbox, case work, refusals."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.auth.roles import Role
from core.auth.services import principal_for
from core.clock import seoul_today
from core.db import db
from tests.support.desk import (
    COLLEAGUE,
    HTML,
    Desk,
    assert_pages_refused,
    csrf_of,
    idle_out,
    page_routes,
    post_form,
    sign_in,
    upload_visit,
)
from welfare_checks import labels
from welfare_checks.cases import NEXT, OUTCOMES
from welfare_checks.models import Alert, Case, CaseEvent
from welfare_checks.statistics import figures


def upload(client, desk: Desk, number: str, *, emergency: bool = True) -> Case:
    """A carrier's visit through the carrier API; the case it opened."""
    upload_visit(client, desk, number, emergency=emergency)
    return db.session.scalars(sa.select(Case).order_by(Case.id.desc())).first()


def fresh(case: Case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def test_the_inbox_puts_emergencies_on_top_under_the_alert_banner(client, desk):
    upload(client, desk, desk.numbers[0], emergency=False)  # skipping meals: urgent
    emergency = upload(client, desk, desk.numbers[1])
    sign_in(client, desk.social_worker)
    page = client.get("/welfare/")
    assert page.status_code == 200
    html = page.text
    assert 'class="alert-banner"' in html and "확인하지 않은 알림 2건" in html
    rows = html.split("<tbody>")[1]
    assert rows.index("row-emergency") < rows.index("row-urgent")
    assert f"/welfare/cases/{emergency.id}" in html and "부재" in html
    urgent_only = client.get("/welfare/?severity=urgent").text.split("<tbody>")[1]
    assert "row-emergency" not in urgent_only and "row-urgent" in urgent_only

    alert = db.session.scalar(sa.select(Alert).where(Alert.report_id == emergency.report_id))
    taken = post_form(client, "/welfare/", f"/welfare/alerts/{alert.id}/acknowledge", {})
    assert taken.status_code == 302, taken.text
    db.session.expire_all()
    alert = db.session.get(Alert, alert.id)
    assert alert.acknowledged_by == desk.social_worker.id and alert.acknowledged_at
    after = client.get("/welfare/").text
    assert "확인하지 않은 알림 1건" in after and "알림을 확인했습니다." in after


def test_the_case_page_shows_the_survey_in_words_and_logs_the_read(client, desk):
    case = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    html = client.get(f"/welfare/cases/{case.id}").text
    for words in ("누구를 만났습니까?", "부재", "냄새", "아니요", "긴급", "신규", "가구 타임라인"):
        assert words in html, words
    assert "bad_smell" not in html  # question ids stay behind the words
    logged = db.session.scalars(
        sa.select(AccessLog.detail).where(AccessLog.account_id == desk.social_worker.id)
    ).all()
    assert f"case={case.id}" in logged and "timeline" in str(
        db.session.scalars(sa.select(AccessLog.action)).all()
    )
    report = client.get(f"/welfare/reports/{case.report_id}").text
    assert "누구를 만났습니까?" in report and f"/welfare/cases/{case.id}" in report


def test_a_case_is_assigned_noted_moved_and_closed_through_the_forms(client, desk):
    case = upload(client, desk, desk.numbers[0])
    page = f"/welfare/cases/{case.id}"
    sign_in(client, desk.social_worker)
    form = {"version": "1", "owner_id": str(desk.colleague.id)}
    assert post_form(client, page, f"{page}/assign", form).status_code == 302
    assert fresh(case).owner_id == desk.colleague.id
    assert COLLEAGUE in client.get(page).text
    note = {"text": "보호자와 통화: 내일 방문 약속"}
    assert post_form(client, page, f"{page}/notes", note).status_code == 302
    notes = db.session.scalars(sa.select(CaseEvent.note).where(CaseEvent.action == "note"))
    assert list(notes) == [note["text"]] and note["text"] in client.get(page).text
    moves = [("in_progress", ""), ("linked_public", "emergency_welfare"), ("closed", "")]
    for version, (status, outcome) in enumerate(moves, start=2):
        form = {"version": str(version), "status": status, "outcome": outcome}
        assert post_form(client, page, f"{page}/status", form).status_code == 302, status
        assert fresh(case).status == status
    closed = fresh(case)
    assert closed.outcome == "emergency_welfare" and closed.closed_at is not None
    html = client.get(page).text
    assert "종결된 사례입니다." in html and "긴급복지지원" in html

    reopened = post_form(client, page, f"{page}/reopen", {"version": "5"})
    assert reopened.status_code == 302 and fresh(case).status == "in_progress"
    assert fresh(case).closed_at is None and "다시 열림" in client.get(page).text
    again = post_form(client, page, f"{page}/reopen", {"version": "6"})
    assert again.status_code == 409 and "닫힌 사례만 다시 엽니다" in again.text


@pytest.mark.parametrize(
    ("action", "form", "field", "message"),
    [
        ("assign", {"version": "abc", "owner_id": "1"}, "version", "숫자가 아닙니다"),
        ("assign", {"version": "1", "owner_id": "x"}, "owner_id", "숫자가 아닙니다"),
        ("assign", {"version": "1", "owner_id": "99999999999"}, "owner_id", "숫자가 아닙니다"),
        ("assign", {"version": "1"}, "owner_id", "필수 항목입니다"),
        ("status", {"version": "1", "status": "bogus"}, "status", "고를 수 있는 값이 아닙니다"),
        ("status", {"version": "1", "status": "closed"}, "status", "허용되지 않습니다"),
        ("status", {"version": "1", "status": "no_need"}, "outcome", "결과 코드가 필요합니다"),
        ("status", {"version": "1", "status": "no_need", "outcome": "?"}, "outcome", "고를 수"),
        ("notes", {"text": "   "}, "text", "필수 항목입니다"),
        ("notes", {"text": "a\x00b"}, "text", "NUL"),
        ("notes", {"text": "가" * 4001}, "text", "1~4000자"),
    ],
)
def test_bad_form_input_is_shown_next_to_its_field(client, desk, action, form, field, message):
    case = upload(client, desk, desk.numbers[0])
    page = f"/welfare/cases/{case.id}"
    sign_in(client, desk.social_worker)
    response = post_form(client, page, f"{page}/{action}", form)
    assert response.status_code == 422
    html = response.text
    assert f'id="{field}-error"' in html and message in html.split(f'id="{field}-error"')[1]
    assert fresh(case).version == 1  # nothing applied


def test_a_colleague_of_another_municipality_or_a_stale_version_is_refused(client, desk):
    case = upload(client, desk, desk.numbers[0])
    page = f"/welfare/cases/{case.id}"
    sign_in(client, desk.social_worker)
    stranger = desk.world.b.accounts[Role.SOCIAL_WORKER]
    other = post_form(client, page, f"{page}/assign", {"version": "1", "owner_id": stranger.id})
    assert other.status_code == 422 and "이 지자체의 담당자가 아닙니다" in other.text
    stale = post_form(client, page, f"{page}/status", {"version": "7", "status": "in_progress"})
    assert stale.status_code == 409 and "다른 사람이 먼저 바꿨습니다" in stale.text
    assert fresh(case).status == "new"


def test_malformed_urls_and_query_arguments_never_fail(client, desk):
    upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    for query in ("page=abc", "page=-3", "page=99999999999999999999", "severity=%00"):
        assert client.get(f"/welfare/?{query}").status_code == 200, query
    for path in ("/welfare/cases/abc", "/welfare/cases/99999999999", "/welfare/reports/0"):
        assert client.get(path, headers=HTML).status_code == 404, path
    assert client.post("/welfare/cases/1.5/status", headers=HTML).status_code in (400, 404)


def test_another_municipality_sees_neither_the_report_nor_the_case(client, desk):
    case = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.world.b.accounts[Role.SOCIAL_WORKER])
    inbox = client.get("/welfare/").text
    assert "alert-banner" not in inbox and "받은 보고가 없습니다." in inbox
    alert = db.session.scalar(sa.select(Alert.id).where(Alert.report_id == case.report_id))
    token = csrf_of(inbox)
    for method, path in (
        ("GET", f"/welfare/cases/{case.id}"),
        ("GET", f"/welfare/reports/{case.report_id}"),
        ("POST", f"/welfare/alerts/{alert}/acknowledge"),
        ("POST", f"/welfare/cases/{case.id}/notes"),
    ):
        form = {"csrf_token": token, "text": "남의 사례"}
        response = client.open(path, method=method, data=form, headers=HTML)
        assert response.status_code == 404, path
        assert "찾을 수 없습니다" in response.text and "가구" not in response.text.split("<main")[1]
    assert not db.session.scalar(sa.select(CaseEvent.id).where(CaseEvent.action == "note"))


def test_every_welfare_page_is_for_the_municipal_team_only(app, client, desk):
    routes = page_routes(app, "welfare_pages")
    assert len(routes) >= 7
    outsiders = [desk.world.a.accounts[role] for role in (Role.DISPATCHER, Role.CARRIER)]
    assert_pages_refused(client, routes, outsiders, ("받은 보고",))  # not in their navigation


def test_an_auditor_reads_but_does_not_work_a_case(client, desk):
    case = upload(client, desk, desk.numbers[0])
    page = f"/welfare/cases/{case.id}"
    sign_in(client, desk.world.a.accounts[Role.AUDITOR])
    assert client.get(page).status_code == 200
    refused = post_form(client, page, f"{page}/notes", {"text": "감사 메모"})
    assert refused.status_code == 403


def test_anonymous_visitors_sign_in_and_come_back(client, desk):
    assert client.get("/welfare/").headers["Location"] == "/login?next=/welfare/"
    token = csrf_of(client.get("/login?next=/welfare/").text)
    form = {
        "username": desk.social_worker.username,
        "password": "correct horse battery staple 42",
        "csrf_token": token,
        "next": "/welfare/",
    }
    assert client.post("/login", data=form).headers["Location"] == "/welfare/"


def test_a_post_without_the_csrf_token_is_refused_in_korean(client, desk):
    case = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    response = client.post(f"/welfare/cases/{case.id}/notes", data={"text": "x"}, headers=HTML)
    assert response.status_code == 400 and "보안 토큰" in response.text
    assert fresh(case).version == 1


def test_idle_logout_is_explained_on_the_login_page(client, desk):
    sign_in(client, desk.social_worker)
    idle_out()
    response = client.get("/welfare/")
    assert response.headers["Location"].startswith("/login")
    assert "로그아웃되었습니다" in client.get(response.headers["Location"]).text


def test_the_english_switch_keeps_the_page_and_translates_it(client, desk):
    case = upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    switched = client.get(f"/language/en?next=/welfare/cases/{case.id}")
    assert switched.headers["Location"] == f"/welfare/cases/{case.id}"
    html = client.get(switched.headers["Location"]).text
    assert '<html lang="en">' in html
    for words in ("Whom did you meet at the door?", "Nobody answered", "Emergency", "New"):
        assert words in html, words
    assert "누구를 만났습니까?" not in html and "한국어" in html
    assert client.get("/language/fr").status_code == 404
    assert client.get("/language/ko?next=//evil.example").headers["Location"] == "/"


def test_every_code_shown_has_words_in_both_languages():
    assert set(labels.CASE_STATUSES) == set(NEXT)
    assert set(labels.CASE_OUTCOMES) == set(OUTCOMES)


def test_statistics_show_the_period_s_figures_as_bars(client, desk):
    upload(client, desk, desk.numbers[0])  # an emergency
    upload(client, desk, desk.numbers[1], emergency=False)  # an urgent check
    sign_in(client, desk.social_worker)
    today = seoul_today()
    html = client.get("/welfare/statistics").text  # this month so far
    principal = principal_for(desk.social_worker)
    expected = figures(principal, today.replace(day=1), today)
    checks = html[html.index('id="check-figures"') :]
    for code in ("emergency", "urgent", "watch", "none"):
        label = str(labels.SEVERITIES[code])
        row = checks[checks.index(label) :]
        count = expected["checks_by_severity"][code]
        assert row.index(f'<td class="count">{count}</td>') < row.index("</tr>")
    assert expected["checks_by_severity"]["emergency"] == 1
    assert '<meter min="0" max="1" value="1"' in checks


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),  # longer than a year
    ],
)
def test_a_bad_period_is_named(client, desk, query, field):
    sign_in(client, desk.social_worker)
    response = client.get("/welfare/statistics", query_string=query)
    assert response.status_code == 422
    marked = f'id="{field}" name="{field}"'
    assert marked in response.text and 'aria-invalid="true"' in response.text


def test_an_export_needs_a_reason_and_the_reason_is_logged(client, desk):
    upload(client, desk, desk.numbers[0])
    sign_in(client, desk.social_worker)
    page = "/welfare/statistics"
    form = {"kind": "check_reports", "format": "csv"}
    refused = post_form(client, page, f"{page}/export", form | {"reason": "짧음"})
    assert refused.status_code == 422 and "5~300자" in refused.text
    exports = sa.select(AccessLog).where(AccessLog.action == "export")
    assert db.session.scalars(exports).all() == []

    reason = "긴급 사례 월간 보고"
    done = post_form(client, page, f"{page}/export", form | {"reason": reason})
    assert done.status_code == 200 and "attachment" in done.headers["Content-Disposition"]
    rows = done.data.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("report_id,household_id") and len(rows) == 2
    (logged,) = db.session.scalars(exports).all()
    assert reason in logged.detail and logged.account_id == desk.social_worker.id

"""A social worker in a real browser: from a carrier's emergency upload to a closed case."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.audit import AccessLog
from core.db import db
from welfare_checks.models import Alert, Case, CaseEvent

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback


def change_status(page, status: str, outcome: str = "") -> None:
    page.get_by_label("새 상태").select_option(status)
    page.get_by_label("결과 코드").select_option(outcome)
    page.get_by_role("button", name="바꾸기").click()


def test_an_emergency_upload_is_worked_to_a_closed_case(live, browsing):
    case_id = live.upload_emergency()
    page, me = browsing.page, live.people["social_worker"]
    browsing.sign_in("social_worker", "/welfare/")
    expect(page).to_have_url(re.compile(r"/welfare/$"))
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("확인하지 않은 알림 1건")
    expect(page.locator("table.reports tbody tr").first).to_have_class("row-emergency")
    browsing.shot("01-inbox-emergency")

    page.keyboard.press("Tab")  # the first stop of the keyboard is the skip link
    expect(page.locator(":focus")).to_have_text("본문 바로가기")
    banner.get_by_role("button", name="확인").click()
    expect(page.get_by_role("status")).to_contain_text("알림을 확인했습니다.")
    alert = live.read(
        lambda: db.session.scalar(
            sa.select(Alert).join(Case, Case.report_id == Alert.report_id).where(Case.id == case_id)
        )
    )
    assert alert.acknowledged_by == me["id"] and alert.acknowledged_at is not None

    page.get_by_role("link", name=f"사례 #{case_id} 열기").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"사례 #{case_id}")
    expect(page.locator(".answers")).to_contain_text("누구를 만났습니까?")
    expect(page.locator(".answers")).to_contain_text("부재")
    browsing.shot("02-case-new")

    page.get_by_label("담당자", exact=True).select_option(str(me["id"]))
    page.get_by_role("button", name="지정", exact=True).click()
    expect(page.locator("#case-owner")).to_have_text(me["name"])
    assert live.case(case_id).owner_id == me["id"]

    contact = "오후 3시 방문, 본인 면담. 긴급복지 생계지원 신청 안내함."
    page.get_by_label("기록 내용").fill(contact)
    page.get_by_role("button", name="기록 남기기").click()
    expect(page.locator("table.history")).to_contain_text(contact)
    notes = live.read(
        lambda: db.session.scalars(
            sa.select(CaseEvent.note).where(
                CaseEvent.case_id == case_id, CaseEvent.action == "note"
            )
        ).all()
    )
    assert notes == [contact]

    change_status(page, "in_progress")
    expect(page.locator("#case-status")).to_have_text("진행 중")
    assert live.case(case_id).status == "in_progress"
    change_status(page, "linked_public")  # no outcome yet: refused next to the field
    expect(page.locator("#outcome-error")).to_contain_text("결과 코드가 필요합니다")
    assert live.case(case_id).status == "in_progress"
    browsing.shot("03-case-outcome-required")
    change_status(page, "linked_public", "emergency_welfare")
    expect(page.locator("#case-status")).to_have_text("공공서비스 연계")
    change_status(page, "closed", "emergency_welfare")
    expect(page.locator("#case-status")).to_have_text("종결")
    expect(page.get_by_text("종결된 사례입니다.")).to_be_visible()
    browsing.shot("04-case-closed")

    stored = live.api("social_worker", f"/api/v1/cases/{case_id}")
    assert stored["status"] == "closed" and stored["outcome"] == "emergency_welfare"
    assert stored["owner_id"] == me["id"]
    steps = [(e["action"], e["status"]) for e in stored["events"]]
    assert steps == [
        ("opened", "new"),
        ("assigned", None),
        ("note", None),
        ("status", "in_progress"),
        ("status", "linked_public"),
        ("status", "closed"),
    ]


def test_the_english_switch_and_a_tablet(live, browsing):
    case_id = live.upload_emergency()
    page = browsing.page
    browsing.sign_in("social_worker", f"/welfare/cases/{case_id}")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Case #{case_id}")
    expect(page.locator(".answers")).to_contain_text("Whom did you meet at the door?")
    expect(page.get_by_label("New status")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main menu")).to_contain_text("Inbox")
    browsing.shot("05-case-english")
    page.get_by_role("link", name="한국어").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"사례 #{case_id}")

    page.set_viewport_size({"width": 768, "height": 1024})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_label("기록 내용")).to_be_visible()
    browsing.shot("06-case-tablet")


def test_another_municipality_gets_the_not_found_page(live, browsing):
    case_id = live.upload_emergency()
    page = browsing.page
    browsing.sign_in("stranger", "/welfare/")
    expect(page.get_by_text("받은 보고가 없습니다.")).to_be_visible()
    response = page.goto(live.url(f"/welfare/cases/{case_id}"))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("오류 404")
    browsing.shot("07-other-municipality-404")


def test_a_dispatcher_is_refused_the_welfare_pages(live, browsing):
    page = browsing.page
    browsing.sign_in("dispatcher")
    expect(page.get_by_role("navigation", name="주 메뉴")).not_to_contain_text("받은 보고")
    response = page.goto(live.url("/welfare/"))
    assert response.status == 403
    browsing.shot("08-dispatcher-403")


def test_a_form_without_its_csrf_token_is_refused_and_logout_ends_the_session(live, browsing):
    case_id = live.upload_emergency()
    page = browsing.page
    browsing.sign_in("social_worker", f"/welfare/cases/{case_id}")
    page.get_by_label("기록 내용").fill("토큰 없는 기록")
    # As a forged cross-site form would be: the same post without the page's token.
    page.locator('form[action$="/notes"] input[name="csrf_token"]').evaluate("el => el.remove()")
    page.get_by_role("button", name="기록 남기기").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("오류 400")
    expect(page.locator("main")).to_contain_text("보안 토큰")
    browsing.shot("09-csrf-refused")
    assert live.case(case_id).version == 1

    page.go_back()
    page.reload()
    page.get_by_role("button", name="로그아웃").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("로그인")
    browsing.shot("10-signed-out")
    page.goto(live.url(f"/welfare/cases/{case_id}"))
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_tracking_an_item_and_the_statistics_with_a_download(live, browsing):
    live.upload_emergency()
    page, number = browsing.page, live.numbers[0]
    browsing.sign_in("social_worker", "/registry/items")
    page.get_by_label("등기번호").fill(number[:-1] + str((int(number[-1]) + 1) % 10))
    page.get_by_role("button", name="조회").click()
    expect(page.locator("main")).to_contain_text("등기번호가 올바르지 않습니다")
    page.get_by_label("등기번호").fill(number)
    page.get_by_role("button", name="조회").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text(number)
    expect(page.locator("#events tbody tr")).not_to_have_count(0)
    browsing.shot("20-tracking")

    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="통계").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("통계")
    expect(page.locator("meter").first).to_be_visible()
    browsing.shot("21-statistics")

    page.get_by_label("자료").select_option("check_reports")
    page.get_by_label("내려받는 이유").fill("분기 보고서 작성")
    with page.expect_download() as download:
        page.get_by_role("button", name="내려받기").click()
    body = download.value.path().read_text(encoding="utf-8-sig")
    assert len(body.splitlines()) >= 2  # the header and the emergency report
    reasons = live.read(
        lambda: db.session.scalars(
            sa.select(AccessLog.detail).where(
                AccessLog.account_id == live.people["social_worker"]["id"],
                AccessLog.action == "export",
            )
        ).all()
    )
    assert any("분기 보고서 작성" in (reason or "") for reason in reasons)


def test_an_idle_session_is_signed_out(live, browsing):
    page = browsing.page
    browsing.sign_in("social_worker", "/welfare/")
    expect(page.get_by_role("heading", level=1)).to_have_text("받은 보고")
    idle = live.app.config["SESSION_IDLE_MINUTES"]
    live.app.config["SESSION_IDLE_MINUTES"] = 1 / 60  # one second, instead of 30 minutes
    try:
        page.wait_for_timeout(1_500)
        page.reload()
    finally:
        live.app.config["SESSION_IDLE_MINUTES"] = idle
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("main")).to_contain_text("오래 사용하지 않았거나 세션이 끝나 로그아웃")
    browsing.shot("22-idle-signed-out")
    browsing.sign_in("social_worker", "/welfare/")
    expect(page.get_by_role("heading", level=1)).to_have_text("받은 보고")

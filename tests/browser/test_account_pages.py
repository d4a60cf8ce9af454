"""Admins in a real browser: the account list, adding a carrier (a weak password first, the
office field shown for the role), editing, signing out everywhere and the permission history;
a municipal admin sees their own municipality's staff only."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.db import db
from postal.models import DeliveryOffice

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback
TABLET = {"width": 800, "height": 1280}


def stored(live, username: str) -> Account | None:
    def load() -> Account | None:
        account = db.session.scalar(sa.select(Account).where(Account.username == username))
        if account is not None:
            db.session.expunge(account)
        return account

    return live.read(load)


def test_a_system_admin_adds_edits_and_signs_out_an_account(live, browsing):
    page = browsing.page
    browsing.sign_in("system_admin", "/admin/accounts/")
    expect(page.get_by_role("heading", level=1)).to_have_text("계정 관리")
    expect(page.locator("table.accounts")).to_contain_text(live.people["social_worker"]["username"])
    browsing.shot("30-accounts-list")
    page.set_viewport_size(TABLET)
    browsing.shot("31-accounts-list-tablet")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("역할", exact=True).select_option("dispatcher")
    page.get_by_role("button", name="찾기").click()
    expect(page).to_have_url(re.compile(r"role=dispatcher"))
    expect(page.locator("table.accounts tbody tr")).to_have_count(2)

    page.get_by_role("link", name="계정 만들기").first.click()
    office = live.read(
        lambda: db.session.scalar(sa.select(DeliveryOffice.name).order_by(DeliveryOffice.id))
    )
    page.get_by_label("아이디").fill("park.jibae")
    page.get_by_label("처음 비밀번호").fill("password1234")
    page.get_by_label("이름").fill("박집배")
    role = page.get_by_label("역할 (필수)")
    role.select_option("social_worker")
    expect(page.get_by_label("지자체 (지자체 역할)")).to_be_visible()
    expect(page.get_by_label("우체국 (우체국 역할)")).to_be_hidden()
    role.select_option("carrier")
    expect(page.get_by_label("지자체 (지자체 역할)")).to_be_hidden()
    page.get_by_label("우체국 (우체국 역할)").select_option(label=office)
    page.get_by_role("button", name="만들기").click()
    expect(page.locator("#password-error")).to_contain_text("너무 흔한 비밀번호")
    expect(page.get_by_label("아이디")).to_have_value("park.jibae")
    browsing.shot("32-account-new-refused")

    page.get_by_label("처음 비밀번호").fill("seven amber kites over busan")
    page.get_by_role("button", name="만들기").click()
    expect(page.get_by_role("status")).to_contain_text("계정을 만들었습니다.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("박집배")
    expect(page.locator("#account-role")).to_have_text("집배원")
    added = stored(live, "park.jibae")
    assert (added.role, added.municipality_id) == ("carrier", None)

    page.get_by_label("업무용 이메일").fill("park.jibae@example.go.kr")
    page.get_by_label("역할 (필수)").select_option("dispatcher")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_role("status")).to_contain_text("계정을 저장했습니다.")
    expect(page.locator("#account-role")).to_have_text("집배 관리자")
    browsing.shot("33-account-edited")

    page.get_by_role("button", name="모든 기기에서 로그아웃").click()
    expect(page.get_by_role("status")).to_contain_text("모든 기기에서 로그아웃시켰습니다.")
    page.get_by_role("link", name="권한 기록 보기").click()
    events = page.locator("table.permission-events tbody tr")
    expect(events).to_have_count(3)
    expect(events.first).to_contain_text("모든 기기에서 로그아웃")
    expect(events.last).to_contain_text("권한 부여")
    browsing.shot("34-account-history")
    assert stored(live, "park.jibae").email == "park.jibae@example.go.kr"


def test_a_municipal_admin_sees_and_adds_their_own_staff_only(live, browsing):
    page = browsing.page
    browsing.sign_in("municipal_admin", "/")
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="계정 관리").click()
    table = page.locator("table.accounts")
    expect(table).to_contain_text(live.people["colleague"]["username"])
    expect(table).not_to_contain_text(live.people["stranger"]["username"])
    expect(table).not_to_contain_text(live.people["dispatcher"]["username"])
    browsing.shot("35-accounts-municipal-admin")

    page.get_by_role("link", name="계정 만들기").click()
    roles = page.get_by_label("역할 (필수)").locator("option").all_inner_texts()
    assert "집배원" not in roles and "시스템 관리자" not in roles and "사회복지 담당자" in roles
    page.get_by_label("아이디").fill("lee.bokji")
    page.get_by_label("처음 비밀번호").fill("quiet rivers under maple trees")
    page.get_by_label("이름").fill("이복지")
    page.get_by_label("역할 (필수)").select_option("social_worker")
    page.get_by_role("button", name="만들기").click()
    expect(page.get_by_role("status")).to_contain_text("계정을 만들었습니다.")
    admin = stored(live, live.people["municipal_admin"]["username"])
    assert stored(live, "lee.bokji").municipality_id == admin.municipality_id

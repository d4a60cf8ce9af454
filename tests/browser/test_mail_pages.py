"""A social worker sends a welfare mailing in a real browser (ticked households, a new letter
template, preview, submit, printed batches); a municipal admin registers a webhook; a household's
preferred visiting hours are edited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.auth.services import principal_for
from core.clock import next_working_day, seoul_today
from core.db import db
from core.outbox import deliver_due
from municipalities import services
from municipalities.mail.models import Mailing, WebhookEndpoint
from municipalities.models import Household

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback
TABLET = {"width": 800, "height": 1280}
SECRET = "shared-secret-for-the-town-hall"


def add_households(live, names: tuple[str, ...]) -> list[int]:
    """Households of the social worker's municipality inside a district, with nothing open."""

    def add() -> list[int]:
        principal = principal_for(db.session.get(Account, live.people["social_worker"]["id"]))
        ids = [
            services.create_household(
                principal,
                services.NewHousehold(
                    name=name,
                    road_address=f"서울특별시 시험구 나눔로 {n}",
                    location=[126.96, 37.51],
                ),
            ).id
            for n, name in enumerate(names, start=1)
        ]
        db.session.commit()
        return ids

    return live.read(add)


def a_sunday() -> str:
    day = seoul_today() + timedelta(days=7)
    return (day + timedelta(days=6 - day.weekday())).isoformat()


def test_a_mailing_is_chosen_previewed_submitted_and_printed(live, browsing):
    page = browsing.page
    ours = add_households(live, ("정다운", "한보람"))
    busy = live.read(lambda: db.session.scalar(sa.select(sa.func.min(Household.id))))
    browsing.sign_in("social_worker", "/registry/mailings/")
    expect(page.get_by_role("heading", level=1)).to_have_text("복지등기 발송")
    page.get_by_role("link", name="새 우편 만들기").click()

    expect(page.locator('[aria-current="step"]')).to_contain_text("가구 고르기")
    page.get_by_label("정다운").check()
    page.get_by_label("한보람").check()
    page.locator(f"#household-{busy}").check()  # a household whose letter is still out
    browsing.shot("60-mail-choose")
    page.get_by_role("button", name="고른 가구로 다음").click()

    expect(page.locator("#selection-summary")).to_contain_text("고른 가구: 3곳")
    page.get_by_label("양식 이름").fill("겨울철 복지 안내")
    page.get_by_label("연락처 (담당 부서, 전화)").fill("복지정책과 02-123-4567")
    page.get_by_label("본문").fill("{addressee}님께\n{municipality}입니다. 주민번호 {ssn}")
    page.get_by_role("button", name="양식 추가").click()
    expect(page.locator("#body-error")).to_contain_text("ssn")
    page.get_by_label("본문").fill(
        "{addressee}님께\n{municipality}에서 안내드립니다.\n문의: {contact}"
    )
    page.get_by_role("button", name="양식 추가").click()
    expect(page.get_by_role("status")).to_contain_text("편지 양식을 추가했습니다.")
    expect(page.get_by_label("겨울철 복지 안내")).to_be_checked()

    page.get_by_label("제목").fill("겨울철 위기가구 안내")
    page.get_by_label("발송일", exact=True).fill(a_sunday())
    page.get_by_role("button", name="저장하고 미리보기").click()
    expect(page.locator("#send_date-error")).to_contain_text("발송할 수 없는 날입니다")
    browsing.shot("61-mail-letter-refused")
    page.get_by_label("겨울철 복지 안내").check()
    page.get_by_label("발송일", exact=True).fill(next_working_day(seoul_today()).isoformat())
    page.get_by_role("button", name="저장하고 미리보기").click()

    expect(page.locator("#household-count")).to_have_text("보낼 가구: 2곳")
    expect(page.locator("table.exclusions")).to_contain_text("배달 중인 복지등기가 있습니다.")
    expect(page.locator("#sample-letter")).to_contain_text("정다운님께")
    pdf = page.request.get(live.url(page.locator("#preview-pdf").get_attribute("href")))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    browsing.shot("62-mail-preview")
    page.get_by_role("button", name="발송 요청").click()
    expect(page.locator("#confirm-error")).to_contain_text("확인란")
    page.get_by_label(re.compile("미리보기를 확인했고")).check()
    page.get_by_role("button", name="발송 요청").click()

    expect(page.get_by_role("status")).to_contain_text("발송을 요청했습니다.")
    expect(page.locator("#mailing-status")).to_have_text("발송 요청됨")
    expect(page.locator("#item-count")).to_have_text("2")
    expect(page.locator("#job-label")).to_have_text("편지 만들기를 기다리는 중")
    expect(page.locator("#job-count")).to_have_text("0 / 2통")
    browsing.shot("63-mailing-letters-waiting")
    live.read(deliver_due)  # the worker prints the letters; the page sees it and reloads
    expect(page.locator("table.batches")).to_contain_text("제작 완료", timeout=10_000)
    expect(page.locator("#job-progress")).to_have_count(0)
    href = page.get_by_role("link", name="편지 PDF").get_attribute("href")
    letters = page.request.get(live.url(href))
    assert letters.status == 200 and letters.body().startswith(b"%PDF")
    browsing.shot("63-mailing-letters-made")
    mailing = live.read(lambda: db.session.scalar(sa.select(Mailing).order_by(Mailing.id.desc())))
    assert mailing.status == "submitted" and mailing.selection["household_ids"] == [busy, *ours]

    page.get_by_role("link", name="우편 목록으로").click()
    expect(page.locator("table.mailings")).to_contain_text("겨울철 위기가구 안내")
    browsing.shot("64-mailings")
    page.set_viewport_size(TABLET)
    page.get_by_role("link", name="새 우편 만들기").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("명부에서 가구 고르기")
    browsing.shot("65-mail-choose-tablet")


def test_a_municipal_admin_registers_and_pauses_a_webhook(live, browsing):
    page = browsing.page
    browsing.sign_in("municipal_admin", "/admin/webhooks/")
    expect(page.get_by_role("heading", level=1)).to_have_text("웹훅")
    page.get_by_label("받을 주소 (URL)").fill("https://admin:pw@hooks.example.org/welfare")
    page.get_by_label("비밀 키").fill(SECRET)
    page.get_by_role("button", name="주소 등록").click()
    expect(page.locator("#url-error")).to_contain_text("계정 정보")
    expect(page.get_by_label("비밀 키")).to_have_value("")  # never sent back
    browsing.shot("66-webhook-refused")
    page.get_by_label("받을 주소 (URL)").fill("https://hooks.example.org/welfare")
    page.get_by_label("비밀 키").fill(SECRET)
    page.get_by_role("button", name="주소 등록").click()
    expect(page.get_by_role("status")).to_contain_text("웹훅 주소를 등록했습니다.")
    row = page.locator("table.webhooks tbody tr").last
    expect(row).to_contain_text("사용 중")
    row.get_by_role("button", name="멈추기").click()
    expect(page.locator("table.webhooks tbody tr").last).to_contain_text("멈춤")
    assert SECRET not in page.content()
    browsing.shot("67-webhooks")
    page.get_by_role("link", name="https://hooks.example.org/welfare").last.click()
    expect(page.locator("#endpoint-status")).to_have_text("멈춤")
    browsing.shot("68-webhook-deliveries")
    stored = live.read(
        lambda: db.session.scalar(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc()))
    )
    assert stored.secret == SECRET and stored.is_active is False


def test_preferred_hours_are_edited_on_the_household_page(live, browsing):
    page = browsing.page
    [household] = add_households(live, ("윤시간",))
    browsing.sign_in("social_worker", f"/registry/{household}")
    page.get_by_label("시간대 1 시작").fill("14:00")
    page.get_by_label("시간대 1 끝").fill("11:00")
    page.get_by_role("button", name="저장").click()
    expect(page.locator("#hours_1-error")).to_contain_text("끝이 시작보다 늦어야")
    page.get_by_label("시간대 1 끝").fill("17:30")
    page.get_by_label("시간대 2 시작").fill("09:00")
    page.get_by_label("시간대 2 끝").fill("10:00")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_role("status")).to_contain_text("가구 정보를 저장했습니다.")
    expect(page.locator("#preferred-hours")).to_have_text("14:00–17:30, 09:00–10:00")
    browsing.shot("69-household-preferred-hours")
    hours = live.read(lambda: db.session.get(Household, household).preferred_hours)
    assert hours == [["14:00", "17:30"], ["09:00", "10:00"]]

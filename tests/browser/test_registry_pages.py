"""A municipal admin in a real browser: a file with errors and its row report, then a clean
import; a social worker's file from the template, with a synonym and a bad value; and a household
found by name, added and edited."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import jobs
from core.db import db
from core.outbox import deliver_due
from municipalities.models import Household
from municipalities.vocabulary import RISK_SOURCES
from tests.browser.conftest import VIEWPORT
from tests.support.household_file_builders import bad_cp949_file, to_xlsx, valid_rows

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLET = {"width": 768, "height": 1024}


def households(live) -> int:
    return live.read(lambda: db.session.scalar(sa.select(sa.func.count(Household.id))))


def choose_file(page, name: str, mime: str, content: bytes) -> None:
    page.get_by_label("가구 파일", exact=True).set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}]
    )


def test_a_file_with_errors_shows_the_row_report_then_a_clean_file_imports(
    live, browsing, monkeypatch
):
    page = browsing.page
    browsing.sign_in("municipal_admin", "/registry/import")
    expect(page.get_by_role("heading", level=1)).to_have_text("가구 파일 가져오기")
    before = households(live)

    data, expected = bad_cp949_file()
    choose_file(page, "가구명부.csv", "text/csv", data)
    page.get_by_role("button", name="검사만 하기").click()
    report = page.locator("#import-report")
    expect(report.locator("#report-verdict")).to_contain_text(f"{len(expected)}건의 문제")
    rows = report.locator("table.errors tbody tr")
    shown = {int(cell) for cell in rows.locator("td:first-child").all_inner_texts()}
    assert shown == set(expected)
    expect(report).to_contain_text("전화번호")
    expect(report).to_contain_text("행 전체")
    browsing.shot("50-import-row-report")

    # A real import is a job: its page follows it, then shows the refusal and the row report.
    choose_file(page, "가구명부.csv", "text/csv", data)
    page.get_by_role("button", name="가져오기", exact=True).click()
    expect(page).to_have_url(re.compile(r"/registry/import/jobs/\d+$"))
    expect(page.locator("#job-label")).to_have_text("대기 중")
    live.read(deliver_due)
    expect(page.get_by_role("alert")).to_contain_text("아무것도 가져오지 않았습니다")
    expect(page.locator("#report-verdict")).to_contain_text(f"{len(expected)}건의 문제")
    browsing.shot("56-import-job-refused")
    assert households(live) == before

    page.get_by_role("link", name="다른 파일 올리기").click()
    clean = to_xlsx(valid_rows(60, seed=11))
    choose_file(page, "가구명부.xlsx", XLSX, clean)
    page.get_by_role("button", name="검사만 하기").click()
    expect(page.locator("#report-verdict")).to_contain_text("문제 없음: 60행")
    browsing.shot("51-import-clean-check")

    # The worker stops a third of the way through checking the rows, so the bar is seen there.
    monkeypatch.setattr(jobs, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("core.spreadsheets.PROGRESS_ROWS", 20)
    midway, go_on = threading.Event(), threading.Event()
    report_progress = jobs.RunningJob.progress

    def pausing(self, phase, done=0, total=None):
        report_progress(self, phase, done, total)
        if phase == jobs.VALIDATE and done == 20:
            midway.set()
            go_on.wait(30)

    monkeypatch.setattr(jobs.RunningJob, "progress", pausing)
    choose_file(page, "가구명부.xlsx", XLSX, clean)
    page.get_by_role("button", name="가져오기", exact=True).click()
    expect(page).to_have_url(re.compile(r"/registry/import/jobs/\d+$"))
    worker = threading.Thread(target=live.read, args=(deliver_due,))
    worker.start()
    try:
        assert midway.wait(30)
        expect(page.locator("#job-label")).to_have_text("행 검사 중")
        expect(page.locator("#job-count")).to_have_text("20 / 60행")
        expect(page.locator("#job-bar")).to_have_attribute("max", "60")
        browsing.shot("57-import-job-progress")
    finally:
        go_on.set()
        worker.join(60)
    expect(page.locator("#report-verdict")).to_contain_text("60가구를 가져왔습니다.")
    expect(page.get_by_role("status")).to_contain_text("완료")
    assert households(live) == before + 60
    browsing.shot("58-import-job-result")
    page.get_by_role("link", name="가구 명부로").click()
    expect(page).to_have_url(re.compile(r"/registry/$"))
    browsing.shot("52-registry-after-import")


def shots(browsing, name: str) -> None:
    """The page at 1280×800 and on a tablet (768×1024)."""
    browsing.shot(name)
    browsing.page.set_viewport_size(TABLET)
    browsing.shot(f"{name}-tablet")
    browsing.page.set_viewport_size(VIEWPORT)


def downloaded(page, link: str) -> bytes:
    with page.expect_download() as download:
        page.get_by_role("link", name=link).click()
    return Path(download.value.path()).read_bytes()


def test_a_file_from_the_template_with_a_synonym_and_a_bad_value(live, browsing):
    page = browsing.page
    browsing.sign_in("social_worker", "/registry/import")
    page.locator("#accepted-risk_sources summary").click()
    expect(page.locator("#accepted-risk_sources")).to_contain_text("전기료 체납")
    shots(browsing, "59-import-guide-page")
    assert downloaded(page, "엑셀 양식(XLSX) 내려받기").startswith(b"PK")
    template = downloaded(page, "CSV 양식 내려받기").decode("utf-8-sig")
    header, example = csv.reader(io.StringIO(template))

    # A social worker's own spellings, saved from Korean Excel as CP949.
    filled = dict(zip(header, example, strict=True))
    rows = [
        filled
        | {"성명": "최보람", "도로명주소": "서울특별시 시범구 보람길 701", "가구유형": "한부모"},
        filled
        | {"성명": "강나눔", "도로명주소": "서울특별시 시범구 보람길 702", "위기요인": "월세 체납"},
    ]

    def cp949(rows: list[dict]) -> bytes:
        text = io.StringIO()
        writer = csv.DictWriter(text, header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode("cp949")

    choose_file(page, "우리동네.csv", "text/csv", cp949(rows))
    page.get_by_role("button", name="검사만 하기").click()
    report = page.locator("#import-report")
    expect(report.locator("#report-verdict")).to_contain_text("1건의 문제")
    bad = report.locator("table.errors tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").nth(1)).to_have_text("위기요인")
    expect(bad).to_contain_text("가능한 값: " + ", ".join(RISK_SOURCES.values()))
    shots(browsing, "59-import-guide-report")

    rows[1]["위기요인"] = "전기료체납; 단수"
    choose_file(page, "우리동네.csv", "text/csv", cp949(rows))
    page.get_by_role("button", name="가져오기", exact=True).click()
    expect(page).to_have_url(re.compile(r"/registry/import/jobs/\d+$"))
    live.read(deliver_due)
    created = page.locator("#created-households")
    expect(created.locator("tbody tr")).to_have_count(2)
    expect(created).to_contain_text("한부모가구")
    shots(browsing, "59-import-guide-created")
    created.get_by_role("link", name="강나눔").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("강나눔")
    expect(page.locator("main")).to_contain_text("수도요금 체납")


def test_a_household_is_found_by_name_added_and_edited(live, browsing):
    page = browsing.page
    browsing.sign_in("social_worker", "/registry/")
    expect(page.get_by_role("heading", level=1)).to_have_text("가구 명부")
    page.get_by_role("link", name="가구 등록").click()
    page.get_by_label("성명").fill("박보람")
    page.get_by_label("도로명주소").fill("서울특별시 시험구 보람길 12")
    page.get_by_label("가구유형").select_option("single_elderly")
    page.get_by_label("전기요금 체납").check()
    page.get_by_label("경도").fill("126.952")
    browsing.shot("53-household-new")
    page.get_by_role("button", name="등록").click()
    expect(page.locator("#lat-error")).to_contain_text("경도와 위도를 함께")
    page.get_by_label("위도").fill("37.503")
    page.get_by_role("button", name="등록").click()
    expect(page.get_by_role("status")).to_contain_text("가구를 등록했습니다.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("박보람")

    page.get_by_role("link", name="가구 명부로").click()
    page.get_by_label("성명 (정확히)").fill("박보람")
    page.get_by_role("button", name="찾기").click()
    expect(page).to_have_url(re.compile(r"/registry/search$"))  # no name in the address
    expect(page.locator("table.households tbody tr")).to_have_count(1)
    browsing.shot("54-registry-search")
    page.get_by_role("link", name="박보람").click()

    page.get_by_label("전화번호").fill("010-2345-6789")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_role("status")).to_contain_text("가구 정보를 저장했습니다.")
    expect(page.locator(".facts")).to_contain_text("+82")
    browsing.shot("55-household-edited")
    assert not any("박보람" in url or "%EB%B0%95" in url for url in browsing.requested)

"""A system admin in a real browser: register an office, upload its districts (a rejected file,
a checked one, a loaded one) and see them on the map, then edit a carrier; a dispatcher reads."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from core.auth.models import Account
from core.db import db
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from tests.support.factories import square

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback
TABLET = {"width": 800, "height": 1280}


def collection(*features: tuple[str, str, dict]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": g}
                for c, n, g in features
            ],
        }
    ).encode()


GOOD = collection(
    ("BR-1", "북1구", square(127.20, 37.60)), ("BR-2", "북2구", square(127.21, 37.60))
)
#: The second feature lies on the other tenant's district; the third is [lat, lon].
BAD = collection(
    ("BR-1", "북1구", square(127.20, 37.60)),
    ("BR-X", "겹친 구역", square(127.06, 37.51, 0.005)),
    ("BR-Y", "뒤바뀐 구역", square(37.60, 127.20)),
)


def choose_file(page, content: bytes) -> None:
    page.get_by_label("집배구 파일").set_input_files(
        files=[{"name": "집배구.geojson", "mimeType": "application/geo+json", "buffer": content}]
    )


def districts_of(live, code: str) -> list[str]:
    return live.read(
        lambda: list(
            db.session.scalars(
                sa.select(CarrierDistrict.code)
                .join(DeliveryOffice, DeliveryOffice.id == CarrierDistrict.office_id)
                .where(DeliveryOffice.code == code)
                .order_by(CarrierDistrict.code)
            )
        )
    )


def test_an_admin_registers_an_office_loads_its_districts_and_edits_a_carrier(live, browsing):
    page = browsing.page
    browsing.sign_in("system_admin", "/")
    page.get_by_role("navigation").get_by_role("link", name="우체국·집배구").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("우체국 목록")
    expect(page.locator("table.offices tbody tr")).to_have_count(2)
    browsing.shot("40-admin-offices")

    page.get_by_role("link", name="우체국 등록").click()
    page.get_by_label("우체국 코드").fill("BR01")
    page.get_by_label("우체국 이름").fill("북한산우체국")
    page.get_by_label("도로명주소").fill("서울특별시 은평구 북한산로 1")
    page.get_by_label("우편번호").fill("03300")
    page.get_by_label("경도").fill("37.605")  # swapped: no latitude is 127
    page.get_by_label("위도").fill("127.205")
    page.get_by_role("button", name="등록하기").click()
    expect(page.locator("#lat-error")).to_contain_text("-90")
    expect(page.get_by_label("우체국 이름")).to_have_value("북한산우체국")
    browsing.shot("41-admin-office-new-refused")
    page.get_by_label("경도").fill("127.205")
    page.get_by_label("위도").fill("37.605")
    page.get_by_role("button", name="등록하기").click()
    expect(page.get_by_role("status")).to_contain_text("우체국을 등록했습니다.")
    expect(page.locator("#office-depot")).to_have_text("127.205, 37.605")
    browsing.shot("42-admin-office")

    page.get_by_role("link", name="집배구와 지도").click()
    expect(page.locator("#districts-map[data-ready='true']")).to_be_visible()
    expect(page.get_by_text("이 우체국에는 아직 집배구가 없습니다.")).to_be_visible()
    choose_file(page, BAD)
    page.get_by_role("button", name="불러오기").click()
    problems = page.locator("#problems tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("구역 겹침")
    expect(problems.nth(1)).to_contain_text("대한민국 밖")
    expect(page.get_by_role("alert")).to_contain_text("아무것도 바꾸지 않았습니다")
    assert districts_of(live, "BR01") == []
    browsing.shot("43-admin-districts-rejected")

    choose_file(page, GOOD)
    page.get_by_role("button", name="검사만 하기").click()
    expect(page.locator("#check-verdict")).to_contain_text("구역 2개를 불러올 수 있습니다")
    expect(page.locator("#districts-map path.leaflet-interactive")).to_have_count(3)  # + depot
    assert districts_of(live, "BR01") == []
    browsing.shot("44-admin-districts-checked")

    choose_file(page, GOOD)
    page.get_by_role("button", name="불러오기").click()
    expect(page.get_by_role("status")).to_contain_text("구역 2개를 불러왔습니다")
    expect(page.locator("#districts-table tbody tr")).to_have_count(2)
    expect(page.locator("#districts-map path.leaflet-interactive")).to_have_count(3)
    assert districts_of(live, "BR01") == ["BR-1", "BR-2"]
    browsing.shot("45-admin-districts-map")

    page.set_viewport_size(TABLET)
    page.reload()
    expect(page.locator("#districts-map[data-ready='true']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browsing.shot("46-admin-districts-tablet")


def test_a_carrier_is_edited_in_its_row(live, browsing):
    def first_carrier() -> tuple[int, int, str]:
        carrier, account = db.session.execute(
            sa.select(Carrier, Account).join(Account, Account.id == Carrier.account_id)
        ).first()
        return carrier.id, account.office_id, account.display_name

    carrier_id, office_id, name = live.read(first_carrier)
    page = browsing.page
    browsing.sign_in("system_admin", f"/admin/offices/{office_id}/carriers")
    page.get_by_label(f"{name} 이동 수단").select_option("foot")
    page.get_by_label(f"{name} 점심 (분)").fill("30")
    page.get_by_label(f"{name} 근무 시작").fill("18:00")  # after its end: refused by the server
    page.get_by_label(f"{name} 근무 끝").fill("09:00")
    page.get_by_role("button", name=f"저장 {name}").click()
    expect(page.locator(f"#carrier-{carrier_id} #shift-error")).to_contain_text("끝이 시작보다")
    expect(page.get_by_label(f"{name} 이동 수단")).to_have_value("foot")  # as typed
    browsing.shot("47-admin-carrier-refused")
    page.get_by_label(f"{name} 근무 시작").fill("08:00")
    page.get_by_role("button", name=f"저장 {name}").click()
    expect(page.get_by_role("status")).to_contain_text("집배원 정보를 저장했습니다.")
    expect(page.get_by_label(f"{name} 이동 수단")).to_have_value("foot")
    stored = live.read(lambda: db.session.get(Carrier, carrier_id))
    assert (stored.profile, stored.lunch_minutes, stored.shift_start_min) == ("foot", 30, 480)
    browsing.shot("48-admin-carriers")


def test_a_dispatcher_sees_their_office_without_the_admin_forms(live, browsing):
    page = browsing.page
    browsing.sign_in("dispatcher", "/")
    page.get_by_role("navigation").get_by_role("link", name="우체국·집배구").click()
    expect(page.locator("table.offices tbody tr")).to_have_count(1)
    page.locator("table.offices tbody tr a").nth(1).click()  # the districts count
    expect(page.locator("#districts-map[data-ready='true']")).to_be_visible()
    expect(page.locator("#districts-map path.leaflet-interactive").first).to_be_attached()
    expect(page.get_by_label("집배구 파일")).to_have_count(0)
    expect(page.get_by_role("link", name="GeoJSON 파일로 내려받기")).to_be_visible()
    browsing.shot("49-dispatcher-districts")
    assert not re.search(r"/admin/offices/new", page.content())

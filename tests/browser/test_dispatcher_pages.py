"""A dispatcher in a real browser: plan a day, see the map, move a stop, publish, phones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from core.auth.models import Account
from core.auth.services import issue_token
from core.clock import seoul_today
from core.db import db, utcnow
from core.outbox import deliver_due
from municipalities.mail.models import MailItem
from municipalities.mail.services import next_working_day
from municipalities.models import Municipality
from postal.models import Carrier, CarrierDistrict, DeliveryOffice
from routing.models import PlanStop, RoutePlan
from tests.support.factories import Tenant, make_carrier, make_due_item

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback
DAY = next_working_day(seoul_today() + timedelta(days=1))
# Stored markup in an address: the map's tooltips must show it as the text it is.
MARKUP = "<img src=x onerror=alert(1)> <b>bold</b>"


@dataclass
class Crew:
    """The office's carriers (the desk's and one more) by id: name and API token."""

    names: dict[int, str]
    tokens: dict[int, str]


@pytest.fixture(scope="module")
def crew(live) -> Crew:
    """A second carrier and five welfare items due on DAY in the dispatcher's office."""

    def seed() -> Crew:
        dispatcher = db.session.get(Account, live.people["dispatcher"]["id"])
        worker = db.session.get(Account, live.people["social_worker"]["id"])
        office = db.session.get(DeliveryOffice, dispatcher.office_id)
        tenant = Tenant(db.session.get(Municipality, worker.municipality_id), office)
        district = db.session.scalar(
            sa.select(CarrierDistrict).where(CarrierDistrict.office_id == office.id)
        )
        make_carrier(office, district)
        for i in range(5):
            location, detail = (126.955 + 0.002 * i, 37.51), MARKUP if i == 4 else None
            make_due_item(tenant, location, DAY, district, address_detail=detail)
        carriers = db.session.execute(
            sa.select(Carrier.id, Account)
            .join(Account, Account.id == Carrier.account_id)
            .where(Account.office_id == office.id)
        ).all()
        made = Crew(
            names={carrier_id: account.display_name for carrier_id, account in carriers},
            tokens={carrier_id: issue_token(account) for carrier_id, account in carriers},
        )
        db.session.commit()
        return made

    return live.read(seed)


def plan_stops(live, plan_id: int) -> list[tuple[int, int | None, str]]:
    """(carrier, position, registered number) of each stop of the plan."""
    return live.read(
        lambda: db.session.execute(
            sa.select(PlanStop.carrier_id, PlanStop.position, MailItem.registered_number)
            .join(MailItem, MailItem.id == PlanStop.mail_item_id)
            .where(PlanStop.plan_id == plan_id)
            .order_by(PlanStop.carrier_id, PlanStop.position)
        ).all()
    )


def mark(plan_id: int, status: str) -> None:
    plan = db.session.get(RoutePlan, plan_id)
    plan.status, plan.started_at = status, utcnow()
    db.session.commit()


def test_a_dispatcher_plans_a_day_moves_a_stop_and_publishes_it(live, browsing, crew):
    page = browsing.page
    browsing.sign_in("dispatcher", "/dispatch/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("배달 계획")
    page.get_by_label("배달 날짜").fill(DAY.isoformat())
    page.get_by_label("계산 시간 (초)").fill("1")
    for name in crew.names.values():
        expect(page.get_by_label(re.compile(name))).to_be_checked()
    browsing.shot("11-dispatch-day")
    page.get_by_role("button", name="계획 시작").click()
    expect(page.get_by_label("계산 진행률")).to_be_visible()
    plan_id = int(page.url.rsplit("/", 1)[1])
    badge = page.locator(f"#plan-status-{plan_id}")
    expect(badge).to_have_text("계산 대기")
    live.read(lambda: mark(plan_id, "solving"))  # as the worker does when it starts
    expect(badge).to_have_text("계산 중", timeout=10_000)  # the page follows without a reload
    browsing.shot("12-plan-solving")
    live.read(lambda: mark(plan_id, "queued"))  # and hand it back to the worker below

    assert live.read(deliver_due).sent >= 1  # the worker's turn; the page polls, then reloads
    expect(page.locator(f"#plan-status-{plan_id}")).to_have_text("검토 중", timeout=20_000)
    expect(page.locator("#plan-map[data-ready='true']")).to_be_visible()
    expect(page.locator("#plan-map path.leaflet-interactive").first).to_be_attached()
    expect(page.locator("#plan-map .stop-number").first).to_be_visible()
    for name in crew.names.values():
        expect(page.get_by_role("heading", level=2, name=re.compile(name))).to_be_visible()
    browsing.shot("13-plan-ready-map")

    stops = plan_stops(live, plan_id)
    source, _, number = next(s for s in stops if s[0] is not None)
    target = next(carrier for carrier in crew.names if carrier != source)
    page.get_by_label(f"{number} 옮길 집배원").select_option(str(target))
    page.get_by_label(f"{number} 새 순서").fill("1")
    page.get_by_role("button", name=f"옮기기 {number}").click()
    expect(page.get_by_role("status")).to_contain_text("옮기고 다시 계산했습니다.")
    section = page.locator("section.route").filter(
        has=page.get_by_role("heading", name=re.compile(crew.names[target]))
    )
    expect(section.locator("tbody tr").first).to_contain_text(number)
    assert (target, 0, number) in plan_stops(live, plan_id)
    browsing.shot("14-plan-stop-moved")

    page.get_by_role("button", name="배포", exact=True).click()  # not confirmed yet
    expect(page.locator("#confirm-error")).to_contain_text("확인란을 선택하세요")
    page.get_by_label("이 계획을 집배원에게 배포합니다.").check()
    page.get_by_role("button", name="배포", exact=True).click()
    expect(page.locator(f"#plan-status-{plan_id}")).to_have_text("배포됨")
    assert live.read(lambda: db.session.get(RoutePlan, plan_id).status) == "published"
    browsing.shot("15-plan-published")

    route = requests.get(
        live.url(f"/api/v1/carrier/route?day={DAY.isoformat()}"),
        headers={"Authorization": f"Bearer {crew.tokens[target]}"},
        timeout=30,
    )
    assert route.status_code == 200, route.text
    numbers = [stop["registered_number"] for stop in route.json()["stops"]]
    assert numbers[0] == number
    expected = [n for carrier, _, n in plan_stops(live, plan_id) if carrier == target]
    assert numbers == expected


def open_day_plan(browsing) -> None:
    """Sign the dispatcher in and open DAY's plan (the first test made it) with its map drawn."""
    page = browsing.page
    browsing.sign_in("dispatcher", "/dispatch/")
    page.get_by_label("날짜", exact=True).fill(DAY.isoformat())
    page.get_by_role("button", name="보기").click()
    page.get_by_role("link", name=re.compile(r"계획 #\d+ 열기")).first.click()
    expect(page.locator("#plan-map[data-ready='true']")).to_be_visible()


def test_an_address_with_markup_shows_as_text_in_the_map_s_tooltip(live, browsing, crew):
    page = browsing.page
    alerts = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    open_day_plan(browsing)
    tooltip = page.locator("#plan-map .leaflet-tooltip")
    shown = []
    for marker in page.locator("#plan-map .leaflet-marker-icon").all():
        marker.hover()
        expect(tooltip).to_have_count(1)
        shown.append(tooltip.text_content())
        if "bold" in shown[-1]:
            break
    assert shown and MARKUP in shown[-1], shown
    assert tooltip.locator("img, b").count() == 0
    assert alerts == []
    browsing.shot("18-plan-tooltip-text")


def test_the_plan_page_on_a_tablet_and_the_phones_page(live, browsing, crew):
    page = browsing.page
    open_day_plan(browsing)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.reload()
    expect(page.locator("#plan-map[data-ready='true']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browsing.shot("16-plan-tablet")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("link", name="집배원 기기").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("집배원 기기")
    name = next(iter(crew.names.values()))
    page.get_by_role("button", name=f"등록 코드 발급 {name}").click()
    expect(page.locator("#enrolment-code")).to_have_text(re.compile(r"^[A-Z2-9]{5}-[A-Z2-9]{5}$"))
    browsing.shot("17-phones-enrolment-code")

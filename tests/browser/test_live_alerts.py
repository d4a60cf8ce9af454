"""Live alerts in a real browser: the inbox is open, a carrier uploads an emergency, and within
seconds, without a reload, the inbox lists it, the navigation's count goes up, a sound plays and
a notification is raised; clicking the notification opens the report and acknowledges it.

Headless Chromium shows no notification: an init script wraps window.Notification (and the
audio element's play) to record what the page asked for, then hands on to the real ones.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth.models import StaffSession
from core.db import db, utcnow
from municipalities.models import Household
from welfare_checks.alerts import escalate_overdue
from welfare_checks.models import Alert, Case

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.no_db_rollback

WITHIN_MS = 5000
RECORDER = """
(() => {
  window.__notifications = [];
  window.__sounds = [];
  const Real = window.Notification;
  if (Real) {
    function Recording(title, options) {
      window.__notifications.push({ title, body: (options || {}).body, tag: (options || {}).tag });
      const shown = new Real(title, options);
      window.__lastNotification = shown;
      return shown;
    }
    Object.defineProperty(Recording, "permission", { get: () => Real.permission });
    Recording.requestPermission = (callback) => Real.requestPermission(callback);
    window.Notification = Recording;
  }
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    window.__sounds.push(this.src);
    return play.call(this);
  };
})();
"""


def alert_of(live, case_id: int) -> Alert:
    def load() -> Alert:
        found = db.session.scalar(
            sa.select(Alert).join(Case, Case.report_id == Alert.report_id).where(Case.id == case_id)
        )
        db.session.expunge(found)
        return found

    return live.read(load)


def listening(browsing, who: str) -> None:
    """Notifications allowed, the recorder in place, signed in at the inbox, the poll going."""
    context = browsing.page.context
    context.grant_permissions(["notifications"], origin=browsing.live.base)
    context.add_init_script(RECORDER)
    browsing.sign_in(who, "/welfare/")
    expect(browsing.page).to_have_url(re.compile(r"/welfare/$"))
    expect(browsing.page.locator("#live-alerts")).to_have_attribute("data-state", "live")


def test_an_emergency_reaches_the_open_inbox_within_seconds(live, browsing):
    page = browsing.page
    listening(browsing, "social_worker")
    count = page.locator('[data-nav-count="welfare_pages.inbox"]')
    before = 0 if count.is_hidden() else int(count.locator("[data-value]").inner_text())
    # Granted already: no button to ask with.
    expect(page.get_by_role("button", name="알림 켜기")).to_be_hidden()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloaded

    case_id = live.upload_emergency()
    alert = alert_of(live, case_id)

    row = page.locator(f'table.reports tbody tr[data-report="{alert.report_id}"]')
    expect(row).to_have_class(re.compile(r"\brow-emergency\b"), timeout=WITHIN_MS)
    expect(page.locator(f'#inbox-alerts li[data-alert="{alert.id}"]')).to_be_visible()
    expect(count).to_be_visible()
    expect(count.locator("[data-value]")).to_have_text(str(before + 1))
    page.wait_for_function("window.__notifications.length === 1", timeout=WITHIN_MS)
    (notice,) = page.evaluate("window.__notifications")
    assert notice["title"] == "긴급 위기 보고 1건 (1 emergency report)"
    assert notice["tag"] == f"welfare-post-alert-{alert.id}"
    assert "눌러서 보고를 열고 확인하세요" in notice["body"]
    assert page.evaluate("window.__sounds")[0].endswith("/welfare/static/alert.wav")
    assert page.evaluate("window.__sameDocument") is True  # no reload
    expect(page).to_have_title(re.compile(r"^\(\d+\) "))
    row.scroll_into_view_if_needed()
    browsing.shot("live-01-inbox-emergency-arrived")

    # No names or addresses in what the notification says.
    household = live.read(
        lambda: db.session.execute(
            sa.select(Household.name, Household.road_address)
            .join(Case, Case.household_id == Household.id)
            .where(Case.id == case_id)
        ).one()
    )
    said = notice["title"] + notice["body"]
    assert household.name not in said and household.road_address not in said

    # The notification leads to the report and acknowledges the alert.
    page.evaluate("window.__lastNotification.onclick()")
    expect(page).to_have_url(re.compile(rf"/welfare/reports/{alert.report_id}$"))
    expect(page.get_by_role("status")).to_contain_text("알림을 확인했습니다.")
    taken = alert_of(live, case_id)
    assert taken.acknowledged_by == live.people["social_worker"]["id"]
    assert taken.acknowledged_at is not None
    expect(page.locator("#live-alerts")).to_have_attribute("data-state", "live")
    browsing.shot("live-02-report-opened-from-the-notification")
    # Polled again on the report page: the same alert is not announced twice.
    page.wait_for_timeout(3500)
    assert page.evaluate("window.__notifications.length") == 0


def test_an_escalation_is_marked_for_the_municipal_admin(live, browsing):
    page = browsing.page
    listening(browsing, "municipal_admin")
    case_id = live.upload_emergency()
    alert = alert_of(live, case_id)
    row = page.locator(f'#inbox-alerts li[data-alert="{alert.id}"]')
    expect(row).to_be_visible(timeout=WITHIN_MS)
    # A new alert is for the on-duty social workers: the admin's page only counts it.
    page.wait_for_timeout(500)
    assert page.evaluate("window.__notifications") == []

    def escalate() -> None:
        late = utcnow() + timedelta(minutes=live.app.config["ALERT_ESCALATE_MINUTES"] + 1)
        escalate_overdue(late)
        db.session.commit()

    live.read(escalate)
    flag = page.locator('[data-nav-flag="welfare_pages.inbox"]')
    expect(flag).to_be_visible(timeout=WITHIN_MS)
    expect(flag).to_contain_text("에스컬레이션")
    expect(row.locator(".badge.escalated")).to_have_text("에스컬레이션")
    page.wait_for_function("window.__notifications.length >= 1", timeout=WITHIN_MS)
    titles = [n["title"] for n in page.evaluate("window.__notifications")]
    assert any(title.startswith("에스컬레이션된 위기 보고 ") for title in titles), titles
    browsing.shot("live-03-admin-escalation")


def test_a_page_whose_session_ended_says_so_and_stops_polling(live, browsing):
    page = browsing.page
    browsing.sign_in("colleague", "/welfare/statistics")
    expect(page.locator("#live-alerts")).to_have_attribute("data-state", "live")
    # Notifications not yet allowed: the button asks, once, on a click.
    ask = page.get_by_role("button", name="알림 켜기")
    expect(ask).to_be_visible()
    browsing.shot("live-00-ask-for-notifications")
    ask.click()  # headless Chromium answers the prompt by itself; the choice is kept
    expect(ask).to_be_hidden()
    choice = page.evaluate("JSON.parse(localStorage.getItem('welfare-post.notifications'))")
    assert choice in ("granted", "denied", "default")

    def end_sessions() -> None:
        db.session.execute(sa.update(StaffSession).values(revoked_at=utcnow()))
        db.session.commit()

    live.read(end_sessions)
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("로그아웃되었습니다.", timeout=WITHIN_MS)
    expect(page.locator("#live-alerts")).to_have_attribute("data-state", "signed-out")
    browsing.shot("live-04-signed-out")
    polls = len([url for url in browsing.requested if "/welfare/alerts/live" in url])
    page.wait_for_timeout(4000)
    assert len([url for url in browsing.requested if "/welfare/alerts/live" in url]) == polls
    page.get_by_role("link", name="다시 로그인").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/welfare/statistics"))

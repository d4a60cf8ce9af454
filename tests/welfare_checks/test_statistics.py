"""Statistics per municipality and period, and exports with a reason, formula-safe."""

from __future__ import annotations

import csv
import io
import re
import statistics as stats
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from carrier_api.models import Visit
from core.audit import AccessLog
from core.auth.roles import Role
from core.clock import SEOUL, seoul_today
from core.db import db, utcnow
from municipalities.mail.models import MailItem, TrackingEvent
from municipalities.mail.services import record_event, return_held_items
from municipalities.mail.tracking import EventCode
from tests.carrier_api.test_carrier_route import carrier_headers
from tests.carrier_api.test_visits import INTERVIEW, OBSERVATION, day, post, record  # noqa: F401
from tests.routing.test_planning import headers, items, office, solved, start  # noqa: F401
from tests.support.desk import sign_in
from tests.welfare_checks.test_check_reports import EMERGENCY, absent, social
from welfare_checks.models import Case, CaseEvent, CheckReport
from welfare_checks.statistics import safe_cell


@pytest.fixture
def today(day) -> str:  # noqa: F811
    """Today in Seoul once the day is set up: read when the test runs, not when the module is
    collected (which can be before midnight in Seoul, the visits after it)."""
    return seoul_today().isoformat()


def test_the_figures_count_what_happened_in_the_period(client, day, today):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    assert post(client, day, absent(day["numbers"][1], EMERGENCY)).status_code == 201
    url = f"/api/v1/statistics?from={today}&to={today}"
    figures = client.get(url, headers=social(day)).json
    assert figures["delivered"] == figures["delivered_in_person"] == 1
    assert figures["absent"] == 1
    assert figures["checks_by_severity"] == {"emergency": 1, "urgent": 1, "watch": 0, "none": 0}
    assert set(figures["cases_by_outcome"].values()) == {0}  # two new cases: none closed
    assert figures["median_hours_to_first_contact"] is None
    case = client.get("/api/v1/cases", headers=social(day)).json["items"][0]
    client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"version": 1, "status": "in_progress"},
        headers=social(day),
    )
    later = client.get(url, headers=social(day)).json
    assert later["median_hours_to_first_contact"] is not None
    assert later["median_hours_to_first_contact"] >= 0
    other = client.get(url, headers=day["tenant"].headers(Role.DISPATCHER))
    assert other.status_code == 403
    too_long = client.get(f"/api/v1/statistics?from=2024-01-01&to={today}", headers=social(day))
    assert too_long.status_code == 422


def test_exports_need_a_reason_are_logged_and_stay_in_the_municipality(client, day, world, today):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    body = {"kind": "check_reports", "from": today, "to": today, "reason": "월간 사례회의 자료"}
    missing = client.post(
        "/api/v1/exports",
        json={k: v for k, v in body.items() if k != "reason"},
        headers=social(day),
    )
    assert missing.status_code == 422 and "reason" in missing.json["error"]["fields"]
    response = client.post("/api/v1/exports", json=body, headers=social(day))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeffreport_id,household_id") and text.count("\n") == 2
    logged = db.session.scalar(sa.select(AccessLog).where(AccessLog.action == "export"))
    assert "월간 사례회의 자료" in logged.detail
    xlsx = client.post(
        "/api/v1/exports", json=body | {"format": "xlsx", "kind": "cases"}, headers=social(day)
    )
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[1]][:3] == ["case_id", "household_id", "severity"]
    assert sheet.max_row == 2
    other = client.post("/api/v1/exports", json=body, headers=world.b.headers(Role.SOCIAL_WORKER))
    assert other.data.decode("utf-8").count("\n") == 1  # the header only


def test_cells_that_look_like_formulas_are_neutralised():
    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [safe_cell(v) for v in ("+1", "-1", "@A1", "\tx", "plain", 7)] == [
        "'+1", "'-1", "'@A1", "'\tx", "plain", 7,
    ]  # fmt: skip


# --- Every figure against counts made from the rows --------------------------------------------

MEMBER = INTERVIEW | {"contact": "met_member"}
RETURN_CODES = {"refused", "moved", "address_unknown", "addressee_deceased", "returned"}


def visit(client, by: dict, number: str, outcome: str, answers: dict, **changes) -> dict:
    """A carrier's visit through the carrier API (by: the carrier's headers)."""
    body = record(number, outcome=outcome, **changes)
    body["survey"]["answers"] = answers
    response = client.post(
        "/api/v1/carrier/visits", json=body, headers=by | {"Idempotency-Key": body["client_uuid"]}
    )
    assert response.status_code == 201, response.json
    return response.json


def out_again(number: str) -> None:
    mail = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == number))
    record_event(mail, EventCode.OUT_FOR_DELIVERY, actor_id=None)
    db.session.commit()


def build_day(client, office) -> None:  # noqa: F811
    """Every door outcome, a redelivery, returns, a counter pick-up, a repeated visit and a late
    record; cases closed, reclosed after a reopening, reopened, decided but open, new."""
    items(office, "west", 6)
    items(office, "east", 6)
    plan = solved(client, office, start(client, office)["id"])
    url = f"/api/v1/plans/{plan['id']}/publish"
    published = client.post(url, json={"version": plan["version"]}, headers=headers(office))
    assert published.status_code == 200, published.json
    carriers = {c.id: carrier_headers(c) for c in office["carriers"].values()}
    routes = client.get(f"/api/v1/plans/{plan['id']}", headers=headers(office)).json["routes"]
    stops = [
        (s["registered_number"], carriers[route["carrier_id"]])
        for route in routes
        for s in route["stops"]
    ]
    assert len(stops) == 12
    (n0, c0), (n1, c1), (n2, c2), (n3, c3), (n4, c4), (n5, c5) = stops[:6]
    (n6, c6), (n7, c7), (n8, c8), (n9, c9), (n10, c10), (n11, c11) = stops[6:]
    visit(client, c0, n0, "delivered", INTERVIEW)
    visit(client, c0, n0, "delivered", INTERVIEW)  # again: the item is delivered already
    visit(client, c1, n1, "delivered_to_member", MEMBER, relation="배우자")
    visit(client, c2, n2, "absent", OBSERVATION)  # then redelivered in person
    visit(client, c2, n2, "delivered", INTERVIEW)
    for attempt in range(3):  # absent three times, held, sent back
        visit(client, c3, n3, "absent", EMERGENCY)
        if attempt < 2:
            out_again(n3)
    assert return_held_items(utcnow() + timedelta(days=8)) == 1
    db.session.commit()
    visit(client, c4, n4, "refused", INTERVIEW)
    visit(client, c5, n5, "moved", OBSERVATION)
    mail = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == n5))
    record_event(mail, EventCode.RETURNED, actor_id=None)  # back at the municipality
    db.session.commit()
    visit(client, c6, n6, "address_unknown", OBSERVATION)
    visit(client, c7, n7, "addressee_deceased", OBSERVATION)
    visit(client, c8, n8, "other", OBSERVATION, other_text="대문이 잠겨 있음")
    visit(client, c9, n9, "delivered", INTERVIEW)
    two_days_ago = (utcnow() - timedelta(days=2)).isoformat()
    visit(client, c10, n10, "delivered", INTERVIEW, recorded_at=two_days_ago)
    visit(client, c11, n11, "absent", OBSERVATION)  # then collected at the counter
    mail = db.session.scalar(sa.select(MailItem).where(MailItem.registered_number == n11))
    counter = client.post(
        f"/api/v1/mail-items/{mail.id}/events",
        json={"code": "delivered", "detail": "창구 교부"},
        headers=headers(office),
    )
    assert counter.status_code == 201, counter.json
    work_cases(client, office)


def work_cases(client, office) -> None:  # noqa: F811
    """Close some cases, reclose one after reopening it, reopen one, leave others open."""
    worker = office["tenant"].headers(Role.SOCIAL_WORKER)
    opened = client.get("/api/v1/cases", headers=worker).json["items"]
    assert len(opened) >= 8

    def step(case: dict, path: str = "", **body) -> dict:
        url = f"/api/v1/cases/{case['id']}{path}"
        send = client.post if path else client.patch
        response = send(url, json={"version": case["version"], **body}, headers=worker)
        assert response.status_code == 200, response.json
        return response.json

    def close(case: dict, status: str, outcome: str) -> dict:
        case = step(case, status="in_progress") if case["status"] == "new" else case
        return step(step(case, status=status, outcome=outcome), status="closed")

    reclosed, reopened, decided, *rest = opened[:-1]  # the last one stays new
    close(step(close(reclosed, "no_need", "declined"), "/reopen"), "unreachable", "not_found")
    step(close(reopened, "linked_public", "basic_livelihood"), "/reopen")
    step(step(decided, status="in_progress"), status="linked_private", outcome="counselling")
    ways = [("linked_public", "emergency_welfare"), ("linked_private", "private_donation")]
    for case, (status, outcome) in zip(rest, ways * len(rest), strict=False):
        close(case, status, outcome)


def counted_from_rows(municipality_id: int, first: date, last: date) -> dict:
    """The figures counted straight from the rows, item by item and case by case."""
    start = datetime.combine(first, time(), tzinfo=SEOUL)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=SEOUL)

    def within(at: datetime) -> bool:
        return start <= at < end

    history: dict[int, list[TrackingEvent]] = {}
    rows = db.session.scalars(
        sa.select(TrackingEvent)
        .join(MailItem, MailItem.id == TrackingEvent.item_id)
        .where(MailItem.municipality_id == municipality_id)
        .order_by(TrackingEvent.at, TrackingEvent.id)
    )
    for event in rows:
        history.setdefault(event.item_id, []).append(event)

    def items_with(code: str) -> set[int]:
        found = (e for events in history.values() for e in events if e.code == code)
        return {e.item_id for e in found if within(e.at)}

    delivered = items_with("delivered")
    applied = db.session.scalars(
        sa.select(Visit).where(Visit.mail_item_id.in_(delivered) if delivered else sa.false())
    ).all()
    way = {
        v.mail_item_id: v.outcome
        for v in applied
        if v.outcome in ("delivered", "delivered_to_member")
        and not {"item_not_open", "reassigned"} & set(v.flags)
    }
    back = {
        i: next(e for e in events if e.code in RETURN_CODES)
        for i, events in history.items()
        if any(e.code in RETURN_CODES for e in events)
    }
    reasons = Counter(
        db.session.get(MailItem, i).return_reason for i, e in back.items() if within(e.at)
    )
    reports = db.session.scalars(
        sa.select(CheckReport).where(CheckReport.municipality_id == municipality_id)
    ).all()
    checked = [r for r in reports if within(r.visited_at)]
    outcomes: Counter = Counter()
    hours = []
    for case in db.session.scalars(sa.select(Case).where(Case.municipality_id == municipality_id)):
        steps = db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ).all()
        moves = [e for e in steps if e.action in ("status", "reopened")]
        if moves and moves[-1].status == "closed" and within(moves[-1].at):
            outcomes[case.outcome] += 1
        report = db.session.get(CheckReport, case.report_id)
        contact = [e.at for e in steps if e.action in ("status", "note")]
        if within(report.visited_at) and contact:
            hours.append((min(contact) - report.visited_at).total_seconds() / 3600)
    severities = Counter(r.severity for r in checked)
    return {
        "mailed": len(items_with("handed_to_office")),
        "delivered": len(delivered),
        "delivered_in_person": sum(1 for o in way.values() if o == "delivered"),
        "delivered_to_member": sum(1 for o in way.values() if o == "delivered_to_member"),
        "delivered_other": len(delivered - set(way)),
        "absent": len(items_with("absent")),
        "returned": sum(reasons.values()),
        **{f"returned_by_reason.{k}": n for k, n in reasons.items()},
        **{f"checks_by_severity.{k}": n for k, n in severities.items()},
        **{f"cases_by_outcome.{k}": n for k, n in outcomes.items()},
        "median_hours_to_first_contact": round(stats.median(hours), 1) if hours else None,
    }


def flat(figures: dict) -> dict:
    """The API's figures as figure -> number, breakdowns as `figure.value`."""
    out = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out |= {f"{key}.{k}": n for k, n in value.items()}
        elif key not in ("from", "to"):
            out[key] = value
    return out


def compare(expected: dict, got: dict) -> list[tuple[str, object, object]]:
    """Every figure with what the rows say and what the API says; printed as a table."""
    names = list(got) + [k for k in expected if k not in got]
    table = [(k, expected.get(k, 0 if "." in k else None), got.get(k)) for k in names]
    width = max(len(k) for k in names)
    print(f"\n{'figure':<{width}} | expected | got")
    for name, want, have in table:
        print(f"{name:<{width}} | {want!s:>8} | {have}")
    return [row for row in table if row[1] != row[2]]


def test_every_figure_is_what_the_rows_say_once_per_item_at_its_time(client, office):  # noqa: F811
    build_day(client, office)
    tenant = office["tenant"]
    today = seoul_today()
    periods = {}
    for first in (today, today - timedelta(days=2)):
        url = f"/api/v1/statistics?from={first}&to={today}"
        got = flat(client.get(url, headers=tenant.headers(Role.AUDITOR)).json)
        expected = counted_from_rows(tenant.municipality.id, first, today)
        assert compare(expected, got) == []
        assert got["delivered"] == (
            got["delivered_in_person"] + got["delivered_to_member"] + got["delivered_other"]
        )
        periods[first] = got
    # The day as built, so that the comparisons above are not between two empty sets.
    got = periods[today]
    assert (got["mailed"], got["delivered"], got["delivered_in_person"]) == (12, 5, 3)
    assert (got["delivered_to_member"], got["delivered_other"], got["absent"]) == (1, 1, 3)
    assert got["returned"] == 5 and got["returned_by_reason.moved"] == 1
    assert got["returned_by_reason.absent_limit"] == 1
    assert periods[today - timedelta(days=2)]["delivered_in_person"] == 4  # the late record
    assert got["cases_by_outcome.not_found"] == 1 and got["cases_by_outcome.declined"] == 0
    assert got["cases_by_outcome.basic_livelihood"] == 0  # reopened, open again
    assert got["cases_by_outcome.counselling"] == 0  # decided, not closed
    assert sum(v for k, v in got.items() if k.startswith("checks_by_severity.")) == 15


def test_exports_and_the_page_name_every_figure_in_korean_with_english(client, day, today):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    body = {"kind": "statistics", "from": today, "to": today, "reason": "월간 통계 보고"}
    csv_file = client.post("/api/v1/exports", json=body, headers=social(day))
    rows = list(csv.reader(io.StringIO(csv_file.data.decode("utf-8-sig"))))
    xlsx = client.post("/api/v1/exports", json=body | {"format": "xlsx"}, headers=social(day))
    sheet = [[c.value for c in row] for row in load_workbook(io.BytesIO(xlsx.data)).active.rows]
    assert [row[0] for row in rows] == [row[0] for row in sheet]
    names = dict((row[0], row[1]) for row in rows[1:])
    assert rows[0] == ["항목 (Figure)", "값 (Value)"]
    assert names["본인 수령 (Received by the addressee)"] == "1"
    assert names["안부 확인 등급: 시급 (Checks by severity: Urgent)"] == "1"
    assert names["반송 사유: 이사 (Reason for return: Moved)"] == "0"
    assert names["사례 결과: 소재 불명 (Case outcomes: Whereabouts unknown)"] == "0"
    for name in names:  # Korean first, English in brackets, never a code
        assert re.fullmatch(r"[가-힣].* \(.+\)", name) and not re.search(r"\w[._]\w", name)
    sign_in(client, day["tenant"].accounts[Role.SOCIAL_WORKER])
    html = client.get(f"/welfare/statistics?from={today}&to={today}").text
    for name in names:
        if ":" not in name and name not in ("시작일 (From)", "종료일 (To)"):
            assert name in html
    assert "긴급 (Emergency)" in html and "checks_by_severity" not in html

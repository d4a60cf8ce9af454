"""Statistics per municipality and period, and exports with a reason, formula-safe."""

from __future__ import annotations

import io

import sqlalchemy as sa
from openpyxl import load_workbook

from core.audit import AccessLog
from core.auth.roles import Role
from core.db import db
from municipalities.mail import seoul_today
from tests.test_check_reports import EMERGENCY, absent, social
from tests.test_planning import office  # noqa: F401
from tests.test_visits import day, post, record  # noqa: F401
from welfare_checks.statistics import safe_cell

TODAY = seoul_today().isoformat()


def test_the_figures_count_what_happened_in_the_period(client, day):  # noqa: F811
    assert post(client, day, record(day["numbers"][0])).status_code == 201
    assert post(client, day, absent(day["numbers"][1], EMERGENCY)).status_code == 201
    url = f"/api/v1/statistics?from={TODAY}&to={TODAY}"
    figures = client.get(url, headers=social(day)).json
    assert figures["delivered"] == figures["delivered_in_person"] == 1
    assert figures["absent"] == 1
    assert figures["checks_by_severity"] == {"emergency": 1, "urgent": 1, "watch": 0, "none": 0}
    assert figures["cases_by_outcome"] == {"new": 2}
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
    too_long = client.get(f"/api/v1/statistics?from=2024-01-01&to={TODAY}", headers=social(day))
    assert too_long.status_code == 422


def test_exports_need_a_reason_are_logged_and_stay_in_the_municipality(client, day, world):  # noqa: F811
    post(client, day, record(day["numbers"][0]))
    body = {"kind": "check_reports", "from": TODAY, "to": TODAY, "reason": "월간 사례회의 자료"}
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

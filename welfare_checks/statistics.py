"""Figures per municipality and period, and exports of them with a stated reason.

Exports are CSV (UTF-8 with BOM, so Excel reads Korean) or XLSX; every cell that a spreadsheet
would take for a formula is prefixed with an apostrophe (OWASP CSV injection), and every export
is access-logged with its reason.
"""

from __future__ import annotations

import csv
import io
import statistics as stats
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook

from core.audit import record_access
from core.auth.principal import Principal
from core.db import db
from core.errors import Forbidden, Invalid
from municipalities.mail import SEOUL
from municipalities.models import Mailing, MailItem, TrackingEvent
from welfare_checks.access import reads_here
from welfare_checks.models import Case, CaseEvent, CheckReport
from welfare_checks.reports import SEVERITY_ORDER

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_DAYS = 366


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    for key, day in (("from", first), ("to", last)):
        if not 2000 <= day.year <= 2099:
            raise Invalid(fields={key: ["2000–2099년 사이여야 합니다. (Years 2000–2099.)"]})
    if last < first:
        raise Invalid(fields={"to": ["시작일보다 빠릅니다. (Before the start.)"]})
    if (last - first).days >= MAX_DAYS:
        raise Invalid(fields={"to": [f"최대 {MAX_DAYS}일 (at most {MAX_DAYS} days)"]})
    start = datetime.combine(first, time(), tzinfo=SEOUL)
    return start, datetime.combine(last + timedelta(days=1), time(), tzinfo=SEOUL)


def figures(principal: Principal, first: date, last: date) -> dict[str, Any]:
    """The municipality's figures for the days first..last (Seoul)."""
    if not reads_here(principal):
        raise Forbidden()
    start, end = _bounds(first, last)
    municipality = principal.municipality_id
    mailed = db.session.scalar(
        sa.select(sa.func.count(MailItem.id))
        .join(Mailing, Mailing.id == MailItem.mailing_id)
        .where(
            MailItem.municipality_id == municipality,
            Mailing.send_date >= first,
            Mailing.send_date <= last,
        )
    )
    counted = db.session.execute(
        sa.select(TrackingEvent.code, sa.func.count(TrackingEvent.id))
        .join(MailItem, MailItem.id == TrackingEvent.item_id)
        .where(
            MailItem.municipality_id == municipality,
            TrackingEvent.at >= start,
            TrackingEvent.at < end,
        )
        .group_by(TrackingEvent.code)
    )
    events = {code: count for code, count in counted}
    reports = db.session.scalars(
        sa.select(CheckReport).where(
            CheckReport.municipality_id == municipality,
            CheckReport.visited_at >= start,
            CheckReport.visited_at < end,
        )
    ).all()
    in_person = sum(1 for r in reports if r.outcome == "delivered")
    severity = {s: sum(1 for r in reports if r.severity == s) for s in SEVERITY_ORDER}
    cases = db.session.scalars(
        sa.select(Case).where(
            Case.municipality_id == municipality, Case.opened_at >= start, Case.opened_at < end
        )
    ).all()
    outcomes: dict[str, int] = {}
    for case in cases:
        key = case.outcome or case.status
        outcomes[key] = outcomes.get(key, 0) + 1
    return {
        "from": first,
        "to": last,
        "mailed": mailed or 0,
        "delivered": events.get("delivered", 0),
        "delivered_in_person": in_person,
        "absent": events.get("absent", 0),
        "returned": events.get("returned", 0),
        "checks_by_severity": severity,
        "cases_by_outcome": outcomes,
        "median_hours_to_first_contact": _median_to_contact(reports),
    }


def _median_to_contact(reports: list[CheckReport]) -> float | None:
    """Median hours from the visit to the first step a worker took on its case."""
    by_report = {r.id: r for r in reports}
    rows = db.session.execute(
        sa.select(Case.report_id, sa.func.min(CaseEvent.at))
        .join(CaseEvent, CaseEvent.case_id == Case.id)
        .where(Case.report_id.in_(list(by_report)), CaseEvent.action.in_(("status", "note")))
        .group_by(Case.report_id)
    )
    hours = [
        (first - by_report[report_id].visited_at).total_seconds() / 3600
        for report_id, first in rows
    ]
    return round(stats.median(hours), 1) if hours else None


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _rows(principal: Principal, kind: str, first: date, last: date) -> list[list[Any]]:
    start, end = _bounds(first, last)
    municipality = principal.municipality_id
    if kind == "statistics":
        data = figures(principal, first, last)
        rows = [["figure", "value"]]
        for key, value in data.items():
            if isinstance(value, dict):
                rows += [[f"{key}.{k}", v] for k, v in value.items()]
            else:
                rows.append([key, value.isoformat() if isinstance(value, date) else value])
        return rows
    if kind == "check_reports":
        reports = db.session.scalars(
            sa.select(CheckReport)
            .where(
                CheckReport.municipality_id == municipality,
                CheckReport.visited_at >= start,
                CheckReport.visited_at < end,
            )
            .order_by(CheckReport.visited_at)
        )
        rows = [
            ["report_id", "household_id", "visited_at", "severity", "rules", "outcome", "contact"]
        ]
        rows += [
            [r.id, r.household_id, r.visited_at.astimezone(SEOUL).isoformat(), r.severity,
             ";".join(r.fired), r.outcome, r.contact]
            for r in reports
        ]  # fmt: skip
        return rows
    cases = db.session.scalars(
        sa.select(Case)
        .where(Case.municipality_id == municipality, Case.opened_at >= start, Case.opened_at < end)
        .order_by(Case.opened_at)
    )
    rows = [["case_id", "household_id", "severity", "status", "outcome", "opened_at", "closed_at"]]
    rows += [
        [c.id, c.household_id, c.severity, c.status, c.outcome,
         c.opened_at.astimezone(SEOUL).isoformat(),
         c.closed_at.astimezone(SEOUL).isoformat() if c.closed_at else None]
        for c in cases
    ]  # fmt: skip
    return rows


def export(principal: Principal, data: dict) -> tuple[bytes, str, str]:
    """The export file (bytes, media type, file name); the reason goes to the access log."""
    if not reads_here(principal):
        raise Forbidden()
    raw = _rows(principal, data["kind"], data["from"], data["to"])
    rows = [[safe_cell(cell) for cell in row] for row in raw]
    households = sorted({row[1] for row in rows[1:]}) if data["kind"] != "statistics" else []
    record_access(
        principal.account_id,
        "export",
        "household" if households else "statistics",
        households or [None],
        principal.municipality_id,
        f"{data['kind']} {data['from']}..{data['to']}: {data['reason']}"[:500],
    )
    name = f"{data['kind']}-{data['from']}-{data['to']}"
    if data["format"] == "xlsx":
        book = Workbook()
        sheet = book.active
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return buffer.getvalue(), media, f"{name}.xlsx"
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return ("\ufeff" + text.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"

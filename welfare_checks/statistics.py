"""Figures per municipality and period, and exports of them with a stated reason.

The figures are defined in the README's "Statistics" table: over the Seoul days first..last,
each counts an item, a check or a case once, at the time of its event; delivered = in person +
to a member + otherwise; returned includes items still on their way back; case outcomes are of
closed cases only, a reopened case by its latest close.

Exports are CSV (UTF-8 with BOM, so Excel reads Korean) or XLSX, figures named in Korean with
English beside them; every cell that a spreadsheet would take for a formula is prefixed with an
apostrophe (OWASP CSV injection), and every export is access-logged with its reason.
"""

from __future__ import annotations

import csv
import io
import statistics as stats
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook

from core.audit import record_access
from core.auth.principal import Principal
from core.clock import SEOUL
from core.db import db
from core.errors import Forbidden, Invalid
from municipalities.mail.figures import item_figures
from welfare_checks import labels
from welfare_checks.access import reads_here
from welfare_checks.cases import OUTCOMES
from welfare_checks.models import Case, CaseEvent, CheckReport
from welfare_checks.reports import SEVERITY_ORDER
from welfare_checks.survey import Outcome

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_DAYS = 366
DELIVERING = (Outcome.DELIVERED, Outcome.DELIVERED_TO_MEMBER)
# Visits kept for the welfare team but never applied to the item (carrier_api.visits).
NOT_APPLIED = frozenset({"item_not_open", "reassigned"})


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
    """The municipality's figures for the days first..last (Seoul), as the README defines them."""
    if not reads_here(principal):
        raise Forbidden()
    start, end = _bounds(first, last)
    municipality = principal.municipality_id
    mail = item_figures(municipality, start, end)
    delivering = db.session.execute(
        sa.select(CheckReport.mail_item_id, CheckReport.outcome, CheckReport.flags).where(
            CheckReport.mail_item_id.in_(list(mail.delivered)), CheckReport.outcome.in_(DELIVERING)
        )
    )
    # At most one visit delivers an item: later ones find it delivered (item_not_open).
    way = {item: outcome for item, outcome, flags in delivering if not NOT_APPLIED & set(flags)}
    by_way = {outcome: sum(1 for o in way.values() if o == outcome) for outcome in DELIVERING}
    reports = db.session.scalars(
        sa.select(CheckReport).where(
            CheckReport.municipality_id == municipality,
            CheckReport.visited_at >= start,
            CheckReport.visited_at < end,
        )
    ).all()
    closed = dict(
        db.session.execute(
            sa.select(Case.outcome, sa.func.count())
            .where(
                Case.municipality_id == municipality,
                Case.status == "closed",
                Case.closed_at >= start,
                Case.closed_at < end,
            )
            .group_by(Case.outcome)
        ).all()
    )
    return {
        "from": first,
        "to": last,
        "mailed": mail.mailed,
        "delivered": len(mail.delivered),
        "delivered_in_person": by_way[Outcome.DELIVERED],
        "delivered_to_member": by_way[Outcome.DELIVERED_TO_MEMBER],
        "delivered_other": len(mail.delivered) - len(way),
        "absent": mail.absent,
        "returned": sum(mail.returned_by_reason.values()),
        "returned_by_reason": mail.returned_by_reason,
        "checks_by_severity": {
            s: sum(1 for r in reports if r.severity == s) for s in SEVERITY_ORDER
        },
        "cases_by_outcome": {outcome: closed.get(outcome, 0) for outcome in OUTCOMES},
        "median_hours_to_first_contact": _median_to_contact(reports),
    }


def _median_to_contact(reports: Sequence[CheckReport]) -> float | None:
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


def _figure_rows(data: dict[str, Any]) -> list[list[Any]]:
    """The figures as rows named in Korean with English beside them, breakdowns value by value."""
    rows: list[list[Any]] = [[labels.bilingual(labels.FIGURE), labels.bilingual(labels.VALUE)]]
    for key, value in data.items():
        name = labels.FIGURES[key]
        if isinstance(value, dict):
            words = labels.BREAKDOWNS[key]
            rows += [[labels.bilingual(name, words[code]), n] for code, n in value.items()]
        else:
            shown = value.isoformat() if isinstance(value, date) else value
            rows.append([labels.bilingual(name), shown])
    return rows


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _rows(principal: Principal, kind: str, first: date, last: date) -> list[list[Any]]:
    start, end = _bounds(first, last)
    municipality = principal.municipality_id
    if kind == "statistics":
        return _figure_rows(figures(principal, first, last))
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


@dataclass(frozen=True)
class ExportRequest:
    """What to export of the days first..last, in which format, and why (access-logged)."""

    kind: str
    first: date
    last: date
    format: str
    reason: str


def export(principal: Principal, request: ExportRequest) -> tuple[bytes, str, str]:
    """The export file (bytes, media type, file name); the reason goes to the access log."""
    if not reads_here(principal):
        raise Forbidden()
    kind, first, last = request.kind, request.first, request.last
    raw = _rows(principal, kind, first, last)
    rows = [[safe_cell(cell) for cell in row] for row in raw]
    households = sorted({row[1] for row in rows[1:]}) if kind != "statistics" else []
    record_access(
        principal.account_id,
        "export",
        "household" if households else "statistics",
        households or [None],
        principal.municipality_id,
        f"{kind} {first}..{last}: {request.reason}"[:500],
    )
    name = f"{kind}-{first}-{last}"
    if request.format == "xlsx":
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
    return ("\ufeff" + text.getvalue()).encode("utf-8"), "text/csv", f"{name}.csv"

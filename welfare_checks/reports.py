"""Check reports: triage a welfare visit's survey for its municipality, and read them back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.audit import record_access
from core.auth.principal import Principal
from core.db import db
from core.errors import NotFound
from municipalities.services import get_household
from welfare_checks import survey
from welfare_checks.access import in_own_municipality
from welfare_checks.alerts import raise_alert
from welfare_checks.cases import open_case
from welfare_checks.models import CheckReport

if TYPE_CHECKING:
    from municipalities.services import Household

SEVERITY_ORDER = ("emergency", "urgent", "watch", "none")


# Run for every welfare visit: built once.
_LATEST_CONTACTS = (
    sa.select(CheckReport.contact)
    .where(CheckReport.household_id == sa.bindparam("household_id"))
    .order_by(CheckReport.visited_at.desc(), CheckReport.id.desc())
    .limit(20)
)


def previous_absences_in_a_row(household_id: int) -> int:
    """How many of the household's latest checks, back to the last contact, found nobody."""
    contacts = db.session.scalars(_LATEST_CONTACTS, {"household_id": household_id})
    count = 0
    for contact in contacts:
        if contact != survey.Contact.ABSENT:
            break
        count += 1
    return count


def file_report(
    *,
    visit_id: int,
    municipality_id: int,
    household_id: int,
    mail_item_id: int,
    form: str,
    version: int,
    answers: dict,
    outcome: str,
    flags: list[str],
    visited_at: datetime,
) -> CheckReport:
    """Triage a survey (with the household's history), store it, alert and open a case."""
    history = {"previous_absences_in_a_row": previous_absences_in_a_row(household_id)}
    result = survey.triage(form, version, answers, history)
    report = CheckReport(
        visit_id=visit_id,
        municipality_id=municipality_id,
        household_id=household_id,
        mail_item_id=mail_item_id,
        form=form,
        version=version,
        contact=answers["contact"],
        answers=json.dumps(answers, ensure_ascii=False),
        outcome=outcome,
        flags=list(flags),
        severity=result.severity.value,
        fired=list(result.fired),
        visited_at=visited_at,
    )
    db.session.add(report)
    db.session.flush()
    raise_alert(report)
    open_case(report)
    return report


def reports_visible_to(principal: Principal) -> sa.Select:
    """The principal's municipality's reports, most severe and newest first; others none."""
    query = sa.select(CheckReport).where(
        in_own_municipality(principal, CheckReport.municipality_id)
    )
    rank = sa.case({s: i for i, s in enumerate(SEVERITY_ORDER)}, value=CheckReport.severity)
    return query.order_by(rank, CheckReport.created_at.desc(), CheckReport.id.desc())


def get_report(principal: Principal, report_id: int) -> CheckReport:
    """One visible report, or 404."""
    report = db.session.scalar(reports_visible_to(principal).where(CheckReport.id == report_id))
    if report is None:
        raise NotFound()
    return report


def read_report(principal: Principal, report_id: int) -> tuple[CheckReport, Household]:
    """One visible report with its household, for reading the answers: access-logged."""
    report = get_report(principal, report_id)
    household = get_household(principal, report.household_id, log_as="")
    record_access(
        principal.account_id,
        "read",
        "household",
        [household.id],
        report.municipality_id,
        f"check_report={report.id}",
    )
    return report, household

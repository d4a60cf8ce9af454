"""The social worker's pages: the inbox of check reports with open alerts, the case page, and
the statistics of a period with their export.

Thin like the API views, over the same services: tenancy, roles and the access log come from
them. Refusals a person can fix (Invalid, a stale version) are shown next to the field on the
page they came from; the rest (404, 403) get the error page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from core.auth.pages import staff_page, staff_poll
from core.auth.principal import Principal, current_principal
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import db, transaction
from core.errors import ApiError, Invalid
from core.forms import (
    Answer,
    PageForm,
    choice,
    day,
    load_form,
    load_page_number,
    number,
    submit,
    text,
)
from core.i18n import page_language
from core.nav import NavBadge, add_header_part, add_nav_link
from core.web import download
from municipalities.services import get_household
from welfare_checks import alerts, cases, labels, reports, statistics, survey, timeline
from welfare_checks.access import READERS, WRITERS, account_names, colleagues
from welfare_checks.models import Alert, Case, CheckReport

bp = Blueprint(
    "welfare_pages",
    __name__,
    url_prefix="/welfare",
    template_folder="templates",
    static_folder="static",
)
PER_PAGE = 50
OPEN_ALERTS_SHOWN = 20


class VersionForm(PageForm):
    version = number(required=True)


class AssignForm(VersionForm):
    owner_id = number(required=True)


class StatusForm(VersionForm):
    status = choice(cases.NEXT, required=True)
    outcome = choice(cases.OUTCOMES)


class NoteForm(PageForm):
    text = text(4000, required=True, multiline=True)


class PeriodForm(PageForm):
    from_ = day(data_key="from")
    to = day()


class ExportForm(PeriodForm):
    kind = choice(labels.EXPORT_KINDS, required=True)
    format = choice(("csv", "xlsx"), required=True)
    reason = text(300, min_length=5, required=True)


def register_pages(app: Flask) -> None:
    """Mount the pages; put the inbox, with the count of open alerts, and statistics in the
    welfare team's navigation, and the alert poll (live_alerts.js) on every page of theirs."""
    app.register_blueprint(bp)
    add_nav_link(app, "welfare_pages.inbox", _l("받은 보고"), READERS, badge=_alert_badge)
    add_nav_link(app, "welfare_pages.statistics_page", _l("통계"), READERS)
    add_header_part(app, "welfare_checks/_live_alerts.html", READERS)


def _alert_badge(principal: Principal) -> NavBadge:
    """The open alerts beside 받은 보고, with escalations for the admins who receive them; its
    version is the poll's ETag, so the page's first poll knows whether anything changed."""
    state = alerts.alert_state(principal)
    escalations = principal.role == Role.MUNICIPAL_ADMIN
    return NavBadge(
        count=state.open,
        label=gettext("확인하지 않은 알림"),
        flag_label=gettext("에스컬레이션") if escalations else "",
        flag_count=state.escalated if escalations else 0,
        version=f'"{state.etag}"',  # quoted, as the ETag header is
    )


def _cases_of(principal: Principal, report_ids: list[int]) -> dict[int, Case]:
    select = cases.cases_visible_to(principal).where(Case.report_id.in_(report_ids))
    return {case.report_id: case for case in db.session.scalars(select)}


def _report_words(report: CheckReport) -> dict[str, Any]:
    """What a report says, in the page's language: whom the carrier met, the rules that fired."""
    language = page_language()
    contact = survey.answers_in_words(
        report.form, report.version, {"contact": report.contact}, language
    )
    return {
        "contact": contact[0][1],
        "rules": survey.rules_in_words(report.form, report.version, report.fired, language),
    }


def _answers_in_words(report: CheckReport) -> list[tuple[str, str]]:
    answers = json.loads(report.answers)
    return survey.answers_in_words(report.form, report.version, answers, page_language())


@bp.get("/")
@staff_page(*READERS)
def inbox() -> str:
    """Check reports by severity, emergencies on top, under the banner of open alerts; the
    page's script brings new ones in without a reload (`inbox_parts`)."""
    return render_template("welfare_checks/inbox.html", **_inbox(current_principal()))


@bp.get("/live/inbox")
@staff_poll(*READERS)
def inbox_parts() -> str:
    """The inbox's banner and list alone, for the page's script once the poll saw a change."""
    return render_template("welfare_checks/_inbox_parts.html", **_inbox(current_principal()))


def _inbox(principal: Principal) -> dict[str, Any]:
    severity = request.args.get("severity", "")
    select = reports.reports_visible_to(principal)
    if severity in labels.SEVERITIES:
        select = select.where(CheckReport.severity == severity)
    page = db.paginate(
        select, page=load_page_number(request.args), per_page=PER_PAGE, error_out=False
    )
    open_alerts = db.session.scalars(
        alerts.alerts_visible_to(principal, open_only=True).limit(OPEN_ALERTS_SHOWN)
    ).all()
    case_of = _cases_of(principal, [r.id for r in page.items] + [a.report_id for a in open_alerts])
    return {
        "page": page,
        "rows": [(report, _report_words(report), case_of.get(report.id)) for report in page.items],
        "open_alerts": [(alert, case_of.get(alert.report_id)) for alert in open_alerts],
        "severity": severity,
        "labels": labels,
        "parts_url": url_for(
            ".inbox_parts",
            page=page.page if page.page > 1 else None,
            severity=severity if severity in labels.SEVERITIES else None,
        ),
    }


@bp.get("/alerts/live")
@staff_poll(*READERS)
def live_alerts() -> Response:
    """The alert poll of every welfare page (live_alerts.js, every few seconds): one indexed
    query, then 304 while nothing changed (If-None-Match); else the counts and the newest
    open alerts as ids, severities and times, no household's data. A session that ended is a
    401 (staff_poll), and the poll does not keep a session from idling out."""
    principal = current_principal()
    state = alerts.alert_state(principal)
    if request.if_none_match.contains(state.etag):
        unchanged = Response(status=304)
        unchanged.set_etag(state.etag)
        return unchanged
    may_acknowledge = principal.role in WRITERS
    body = {
        "open": state.open,
        "escalated": state.escalated,
        "newest_report_id": state.newest_report,
        "notify": list(alerts.page_notices(principal)),
        "may_acknowledge": may_acknowledge,
        "alerts": [
            {
                "id": alert.id,
                "report_id": alert.report_id,
                "severity": alert.severity,
                "created_at": alert.created_at.isoformat(),
                "escalated": alert.escalated_at is not None,
                "report_url": url_for(".report", report_id=alert.report_id),
                "open_url": url_for(".open_alert", alert_id=alert.id) if may_acknowledge else None,
            }
            for alert in alerts.newest_open_alerts(principal, OPEN_ALERTS_SHOWN)
        ],
    }
    response = jsonify(body)
    response.set_etag(state.etag)
    return response


@bp.post("/alerts/<int:alert_id>/acknowledge")
@staff_page(*READERS)
def acknowledge(alert_id: int) -> Response:
    """Take an alert: who and when are recorded, escalation stops."""
    with transaction():
        alerts.acknowledge(current_principal(), alert_id)
    flash(gettext("알림을 확인했습니다."), "notice")
    return redirect(url_for(".inbox"))


@bp.post("/alerts/<int:alert_id>/open")
@staff_page(*READERS)
def open_alert(alert_id: int) -> Response:
    """Take an alert and read its report (a click on the browser notification): the same
    acknowledgement as the banner's button, then the report page, whose read is logged."""
    with transaction():
        alert = alerts.acknowledge(current_principal(), alert_id)
        report_id = alert.report_id
    flash(gettext("알림을 확인했습니다."), "notice")
    return redirect(url_for(".report", report_id=report_id))


@bp.get("/reports/<int:report_id>")
@staff_page(*READERS)
def report(report_id: int) -> str:
    """One check report: the rules that fired and the survey answers in words (access-logged)."""
    principal = current_principal()
    with transaction():
        checked, household = reports.read_report(principal, report_id)
        html = render_template(
            "welfare_checks/report.html",
            report=checked,
            household=household,
            case=_cases_of(principal, [checked.id]).get(checked.id),
            words=_report_words(checked),
            answers=_answers_in_words(checked),
            labels=labels,
        )
    return html


@bp.get("/cases/<int:case_id>")
@staff_page(*READERS)
def case(case_id: int) -> tuple[str, int]:
    """The case: household, report in words, timeline, history and notes, and its actions."""
    return _case_page(current_principal(), case_id)


def _case_page(
    principal: Principal,
    case_id: int,
    error: ApiError | None = None,
    form: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    with transaction():  # every read of the household's data is access-logged
        followed = cases.read_case(principal, case_id)
        household = get_household(principal, followed.household_id, log_as="")
        checked = db.session.get(CheckReport, followed.report_id)
        events = cases.events_of(followed)
        people = {followed.owner_id} | {e.actor_id for e in events} | {e.owner_id for e in events}
        alert = db.session.scalar(
            alerts.alerts_visible_to(principal).where(Alert.report_id == checked.id)
        )
        html = render_template(
            "welfare_checks/case.html",
            case=followed,
            household=household,
            report=checked,
            words=_report_words(checked),
            answers=_answers_in_words(checked),
            story=timeline.timeline(principal, followed.household_id),
            events=events,
            names=account_names(people - {None}),
            team=colleagues(principal),
            alert=alert,
            next_statuses=cases.NEXT[followed.status],
            outcome_statuses=cases.OUTCOME_STATUSES,
            labels=labels,
            error=error,
            errors=error.fields if error else {},
            form=form or {},
        )
    return html, error.status if error else 200


def _act(case_id: int, form: type[PageForm], action: Callable, done: str) -> Answer:
    """Load the form, run the service in one transaction; show fixable refusals on the page."""
    principal = current_principal()
    return submit(
        form,
        lambda data: action(principal, case_id, data),
        lambda error: _case_page(principal, case_id, error, request.form),
        done,
        lambda _: url_for(".case", case_id=case_id),
    )


def _update(principal: Principal, case_id: int, data: dict[str, Any]) -> Case:
    """update_case with what the form gave (the version, and an owner or a status)."""
    return cases.update_case(principal, case_id, cases.CaseChanges(**data))


@bp.post("/cases/<int:case_id>/assign")
@staff_page(*READERS)
def assign(case_id: int) -> Answer:
    """Assign the case to a colleague of the municipality (or to oneself), or transfer it."""
    return _act(case_id, AssignForm, _update, gettext("담당자를 지정했습니다."))


@bp.post("/cases/<int:case_id>/status")
@staff_page(*READERS)
def change_status(case_id: int) -> Answer:
    """Move the case to its next status, with the outcome code where the status needs one."""
    return _act(case_id, StatusForm, _update, gettext("상태를 바꿨습니다."))


@bp.post("/cases/<int:case_id>/reopen")
@staff_page(*READERS)
def reopen(case_id: int) -> Answer:
    """Reopen a closed case: back in progress, due again by its severity."""

    def reopen_read(principal: Principal, case_id: int, data: dict[str, Any]) -> Case:
        return cases.reopen(principal, case_id, data["version"])

    return _act(case_id, VersionForm, reopen_read, gettext("사례를 다시 열었습니다."))


@bp.post("/cases/<int:case_id>/notes")
@staff_page(*READERS)
def add_note(case_id: int) -> Answer:
    """Record a contact or a note on the case (stored encrypted)."""

    def note(principal: Principal, case_id: int, data: dict) -> None:
        cases.add_note(principal, case_id, data["text"])

    return _act(case_id, NoteForm, note, gettext("기록을 남겼습니다."))


# --- Statistics and export ----------------------------------------------------------------------


@bp.get("/statistics")
@staff_page(*READERS)
def statistics_page() -> tuple[str, int]:
    """The municipality's figures for a period (this month so far unless asked)."""
    return _statistics_page(current_principal(), request.args)


@bp.post("/statistics/export")
@staff_page(*READERS)
def export() -> Response | tuple[str, int]:
    """Download the period's statistics, check reports or cases; the reason is access-logged."""
    principal = current_principal()
    try:
        data = load_form(ExportForm, request.form)
        first, last = _period(data)
        asked = statistics.ExportRequest(
            kind=data["kind"], first=first, last=last, format=data["format"], reason=data["reason"]
        )
        with transaction():
            body, media, name = statistics.export(principal, asked)
    except Invalid as error:
        return _statistics_page(principal, request.form, error)
    return download(body, media, name)


def _period(data: dict[str, Any]) -> tuple[date, date]:
    """The asked period; by default this month so far (Seoul)."""
    last = data.get("to") or seoul_today()
    return data.get("from_") or last.replace(day=1), last


def _statistics_page(
    principal: Principal, form: Mapping[str, str], error: ApiError | None = None
) -> tuple[str, int]:
    figures = None
    try:
        first, last = _period(load_form(PeriodForm, form))
        figures = statistics.figures(principal, first, last)
    except Invalid as refused:  # a bad or too long period: shown next to its field
        error = error or refused
    html = render_template(
        "welfare_checks/statistics.html",
        figures=figures,
        charts=_charts(figures) if figures else None,
        labels=labels,
        form=form,
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@dataclass(frozen=True)
class Chart:
    """A bar chart's rows (label, count) and the largest count (the bars' full length)."""

    rows: list[tuple[str, int]]

    @property
    def top(self) -> int:
        return max([1, *(count for _, count in self.rows)])


def _charts(figures: dict[str, Any]) -> dict[str, Chart]:
    """The figures as bar charts, every row named in Korean with English beside it."""
    mail = (
        "mailed", "delivered", "delivered_in_person", "delivered_to_member", "delivered_other",
        "absent", "returned",
    )  # fmt: skip

    def breakdown(key: str) -> Chart:
        words = labels.BREAKDOWNS[key]
        return Chart([(labels.bilingual(words[code]), n) for code, n in figures[key].items()])

    return {
        "mail": Chart([(labels.bilingual(labels.FIGURES[key]), figures[key]) for key in mail]),
        "returns": breakdown("returned_by_reason"),
        "checks": breakdown("checks_by_severity"),
        "cases": breakdown("cases_by_outcome"),
    }

"""The welfare team's API: check reports, alerts, who is on duty, follow-up cases."""

from __future__ import annotations

import json

from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth.principal import current_principal, require_login, require_role
from core.auth.roles import Role
from core.clock import seoul_today
from core.db import transaction
from core.schemas import page_of
from core.web import download
from welfare_checks import alerts, cases, reports, statistics, survey, timeline
from welfare_checks.access import READERS
from welfare_checks.models import Case
from welfare_checks.schemas import (
    AlertQuerySchema,
    AlertSchema,
    CaseDetailSchema,
    CaseNoteOutSchema,
    CaseNoteSchema,
    CasePolicySchema,
    CaseQuerySchema,
    CaseSchema,
    CaseUpdateSchema,
    CaseVersionSchema,
    ExportSchema,
    OnDutySchema,
    PeriodSchema,
    ReportDetailSchema,
    ReportQuerySchema,
    ReportSchema,
    StatisticsSchema,
    TimelineSchema,
    WhereaboutsSchema,
)

blp = Blueprint("checks", __name__, "", description="안부 확인 결과 (Check reports)")


@blp.route("/check-reports")
class Reports(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, page_of(ReportSchema))
    @require_role(*READERS)
    def get(self, query: dict):
        """The municipality's check reports: emergencies first, then urgent, watch, none."""
        select = reports.reports_visible_to(current_principal())
        if "severity" in query:
            select = select.where(reports.CheckReport.severity == query["severity"])
        if "household_id" in query:
            select = select.where(reports.CheckReport.household_id == query["household_id"])
        return paginate(select, query["page"], query["per_page"])


@blp.route("/check-reports/<int:report_id>")
class ReportItem(MethodView):
    @blp.response(200, ReportDetailSchema)
    @require_login
    def get(self, report_id: int):
        """One report with the rules that fired and the answers (access-logged)."""
        principal = current_principal()
        with transaction():
            report, household = reports.read_report(principal, report_id)
        definition = survey.form(report.form, report.version).definition()
        rules = {rule["id"]: rule for rule in definition["triage"]}
        return {
            **{name: getattr(report, name) for name in ReportSchema().fields},
            "rules": [
                {"id": i, "severity": rules[i]["severity"], "description": rules[i]["description"]}
                for i in report.fired
            ],
            "outcome": report.outcome,
            "flags": report.flags,
            "answers": json.loads(report.answers),
            "road_address": household.road_address,
        }


@blp.route("/alerts")
class Alerts(MethodView):
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, page_of(AlertSchema))
    @require_role(*READERS)
    def get(self, query: dict):
        """The dashboard's alerts: open emergencies first."""
        select = alerts.alerts_visible_to(current_principal(), open_only=query["open"])
        return paginate(select, query["page"], query["per_page"])


@blp.route("/alerts/<int:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @blp.response(200, AlertSchema)
    @require_login
    def post(self, alert_id: int):
        """Take the alert: who and when are recorded; escalation stops."""
        with transaction():
            return alerts.acknowledge(current_principal(), alert_id)


@blp.route("/on-duty")
class OnDutyList(MethodView):
    @blp.response(200, OnDutySchema)
    @require_role(*READERS)
    def get(self):
        """Who gets the municipality's alerts now."""
        return {"account_ids": alerts.on_duty(current_principal().municipality_id)}

    @blp.arguments(OnDutySchema)
    @blp.response(200, OnDutySchema)
    @require_role(Role.MUNICIPAL_ADMIN)
    def put(self, data: dict):
        """Set the on-duty social workers (empty: every social worker gets alerts)."""
        with transaction():
            return {"account_ids": alerts.set_on_duty(current_principal(), data["account_ids"])}


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseQuerySchema, location="query")
    @blp.response(200, page_of(CaseSchema))
    @require_role(*READERS)
    def get(self, query: dict):
        """The municipality's cases: open before closed, overdue first."""
        principal = current_principal()
        select = cases.cases_visible_to(principal)
        if "status" in query:
            select = select.where(Case.status == query["status"])
        if query["mine"]:
            select = select.where(Case.owner_id == principal.account_id)
        return paginate(select, query["page"], query["per_page"])


@blp.route("/cases/<int:case_id>")
class CaseItem(MethodView):
    @blp.response(200, CaseDetailSchema)
    @require_login
    def get(self, case_id: int):
        """One case with its history and notes (access-logged)."""
        principal = current_principal()
        with transaction():
            case = cases.read_case(principal, case_id)
            case.events = cases.events_of(case)
            return case

    @blp.arguments(CaseUpdateSchema)
    @blp.response(200, CaseSchema)
    @require_login
    def patch(self, changes: cases.CaseChanges, case_id: int):
        """Assign or transfer, change the status, record the outcome (name the version read)."""
        with transaction():
            return cases.update_case(current_principal(), case_id, changes)


@blp.route("/cases/<int:case_id>/notes")
class CaseNotes(MethodView):
    @blp.arguments(CaseNoteSchema)
    @blp.response(201, CaseNoteOutSchema)
    @require_login
    def post(self, data: dict, case_id: int):
        """Add a note (stored encrypted)."""
        with transaction():
            return cases.add_note(current_principal(), case_id, data["text"])


@blp.route("/cases/<int:case_id>/reopen")
class CaseReopen(MethodView):
    @blp.arguments(CaseVersionSchema)
    @blp.response(200, CaseSchema)
    @require_login
    def post(self, data: dict, case_id: int):
        """Reopen a closed case."""
        with transaction():
            return cases.reopen(current_principal(), case_id, data["version"])


@blp.route("/case-policy")
class Policy(MethodView):
    @blp.response(200, CasePolicySchema)
    @require_role(*READERS)
    def get(self):
        """The municipality's case rules (service levels in hours by severity)."""
        return cases.policy_of(current_principal())

    @blp.arguments(CasePolicySchema)
    @blp.response(200, CasePolicySchema)
    @require_role(Role.MUNICIPAL_ADMIN)
    def put(self, rules: cases.CaseRules):
        """Set whether watch checks open cases, and the service levels."""
        with transaction():
            return cases.set_policy(current_principal(), rules)


@blp.route("/households/<int:household_id>/timeline")
class HouseholdTimeline(MethodView):
    @blp.response(200, TimelineSchema)
    @require_login
    def get(self, household_id: int):
        """Every mailing, tracking event, check and case of the household; repeated observations."""
        with transaction():  # the read is access-logged
            return timeline.timeline(current_principal(), household_id)


@blp.route("/whereabouts")
class Whereabouts(MethodView):
    @blp.response(200, WhereaboutsSchema(many=True))
    @require_role(*READERS)
    def get(self):
        """Households to check in the resident registration (moved, unknown, absent, vacant)."""
        with transaction():
            return timeline.whereabouts(current_principal())


@blp.route("/statistics")
class Statistics(MethodView):
    @blp.arguments(PeriodSchema, location="query")
    @blp.response(200, StatisticsSchema)
    @require_role(*READERS)
    def get(self, period: dict):
        """The period's figures, each defined in welfare_checks.statistics (README "Statistics")."""
        last = period.get("to") or seoul_today()
        first = period.get("from_") or last.replace(day=1)
        return statistics.figures(current_principal(), first, last)


@blp.route("/exports")
class Exports(MethodView):
    @blp.arguments(ExportSchema)
    @blp.response(200, description="the CSV or XLSX file")
    @require_role(*READERS)
    def post(self, request: statistics.ExportRequest):
        """Export statistics, check reports or cases of a period; the reason is access-logged."""
        with transaction():
            body, media, name = statistics.export(current_principal(), request)
        return download(body, media, name)

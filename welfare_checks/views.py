"""The welfare team's API: check reports from carriers' visits, most severe first."""

from __future__ import annotations

import json

from flask.views import MethodView

from core.api import Blueprint, paginate
from core.audit import record_access
from core.auth.principal import current_principal, require_login, require_role
from core.db import db
from core.schemas import page_of
from municipalities.models import Household
from welfare_checks import reports, survey
from welfare_checks.schemas import ReportDetailSchema, ReportQuerySchema, ReportSchema

blp = Blueprint("checks", __name__, "", description="안부 확인 결과 (Check reports)")


@blp.route("/check-reports")
class Reports(MethodView):
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, page_of(ReportSchema))
    @require_role(*reports.READERS)
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
        report = reports.get_report(principal, report_id)
        household = db.session.get(Household, report.household_id)
        definition = survey.form(report.form, report.version).definition()
        rules = {rule["id"]: rule for rule in definition["triage"]}
        record_access(
            principal.account_id, "read", "household", [household.id], report.municipality_id,
            f"check_report={report.id}",
        )  # fmt: skip
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

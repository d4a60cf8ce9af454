"""Schemas of the welfare team's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.db import utcnow
from core.schemas import Choice, Day, Flag, Id, InputSchema, StrictSchema, Text, Version
from welfare_checks.cases import NEXT, OUTCOMES, CaseChanges, CaseRules
from welfare_checks.reports import SEVERITY_ORDER
from welfare_checks.statistics import ExportRequest

CASE_STATUSES = tuple(NEXT)


class ReportQuerySchema(StrictSchema):
    severity = Choice(SEVERITY_ORDER)
    household_id = Id(strict=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class FiredRuleSchema(Schema):
    id = fields.String()
    severity = fields.String()
    description = fields.Dict(metadata={"description": "{ko, en}"})


class ReportSchema(Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    mail_item_id = fields.Integer()
    severity = fields.String()
    fired = fields.List(fields.String())
    contact = fields.String()
    form = fields.String()
    version = fields.Integer()
    visited_at = fields.DateTime()
    created_at = fields.DateTime()


class ReportDetailSchema(ReportSchema):
    rules = fields.List(fields.Nested(FiredRuleSchema))
    outcome = fields.String()
    flags = fields.List(fields.String())
    answers = fields.Dict(metadata={"description": "the survey answers by question id"})
    road_address = fields.String()


class AlertQuerySchema(StrictSchema):
    open = fields.Boolean(load_default=False, metadata={"description": "unacknowledged only"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AlertSchema(Schema):
    id = fields.Integer()
    report_id = fields.Integer()
    severity = fields.String()
    created_at = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.Integer(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)


class OnDutySchema(StrictSchema):
    account_ids = fields.List(Id(), required=True, validate=validate.Length(max=500))


class CaseQuerySchema(StrictSchema):
    status = Choice(CASE_STATUSES)
    mine = fields.Boolean(load_default=False, metadata={"description": "owned by the caller"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CaseSchema(Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    report_id = fields.Integer()
    severity = fields.String()
    status = fields.String()
    owner_id = fields.Integer(allow_none=True)
    outcome = fields.String(allow_none=True)
    due_at = fields.DateTime()
    overdue = fields.Method("_overdue")
    escalated_at = fields.DateTime(allow_none=True)
    opened_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    version = fields.Integer()

    def _overdue(self, case) -> bool:
        return case.status != "closed" and case.due_at <= utcnow()


class CaseEventSchema(Schema):
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    at = fields.DateTime()


class CaseDetailSchema(CaseSchema):
    events = fields.List(fields.Nested(CaseEventSchema))


class CaseUpdateSchema(InputSchema):
    into = CaseChanges

    version = Version(required=True)
    owner_id = Id(allow_none=True)
    status = Choice(CASE_STATUSES)
    outcome = Choice(OUTCOMES)


class CaseVersionSchema(StrictSchema):
    version = Version(required=True)


class CaseNoteSchema(StrictSchema):
    text = Text(4000, min_length=1, multiline=True, required=True)


class CaseNoteOutSchema(Schema):
    action = fields.String()
    note = fields.String()
    at = fields.DateTime()


class CasePolicySchema(InputSchema):
    into = CaseRules

    open_on_watch = Flag(required=True)
    due_hours = fields.Dict(
        keys=Choice(("emergency", "urgent", "watch")),
        values=fields.Integer(strict=True, validate=validate.Range(min=1, max=24 * 90)),
        load_default=dict,
    )


class TimelineEntrySchema(Schema):
    at = fields.DateTime()
    kind = fields.String(metadata={"description": "mailing | tracking | check | case"})
    ref = fields.Integer()
    summary = fields.String()


class TrendSchema(Schema):
    question = fields.String()
    label = fields.Dict()
    reports = fields.List(fields.Integer())


class TimelineSchema(Schema):
    household_id = fields.Integer()
    entries = fields.List(fields.Nested(TimelineEntrySchema))
    trends = fields.List(fields.Nested(TrendSchema))


class EvidenceSchema(Schema):
    kind = fields.String()
    at = fields.DateTime()
    detail = fields.String()


class WhereaboutsSchema(Schema):
    household_id = fields.Integer()
    road_address = fields.String()
    evidence = fields.List(fields.Nested(EvidenceSchema))


class PeriodSchema(StrictSchema):
    from_ = Day(data_key="from", metadata={"description": "default: the month's first"})
    to = Day(metadata={"description": "default: today (Seoul)"})


class StatisticsSchema(Schema):
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    mailed = fields.Integer()
    delivered = fields.Integer()
    delivered_in_person = fields.Integer()
    delivered_to_member = fields.Integer()
    delivered_other = fields.Integer()
    absent = fields.Integer()
    returned = fields.Integer()
    returned_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer())
    checks_by_severity = fields.Dict(keys=fields.String(), values=fields.Integer())
    cases_by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer())
    median_hours_to_first_contact = fields.Float(allow_none=True)


class ExportSchema(InputSchema):
    into = ExportRequest

    from_ = Day(required=True, data_key="from", attribute="first")
    to = Day(required=True, attribute="last")
    kind = Choice(("statistics", "check_reports", "cases"), required=True)
    format = Choice(("csv", "xlsx"), load_default="csv")
    reason = Text(300, min_length=5, required=True)

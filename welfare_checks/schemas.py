"""Schemas of the welfare team's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.schemas import Id, StrictSchema
from welfare_checks.reports import SEVERITY_ORDER


class ReportQuerySchema(StrictSchema):
    severity = fields.String(validate=validate.OneOf(SEVERITY_ORDER))
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

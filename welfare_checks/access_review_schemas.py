"""Schemas of the access-log review API (staff by username; households only as counts)."""

from __future__ import annotations

from marshmallow import Schema, fields

from core.schemas import StrictSchema, Text


class ReviewExportSchema(Schema):
    at = fields.String(metadata={"description": "Seoul time, ISO 8601"})
    action = fields.String(metadata={"description": "export | download | print"})
    subject_type = fields.String()
    subjects = fields.Integer(metadata={"description": "how many subjects (households) it held"})
    detail = fields.String(allow_none=True, metadata={"description": "the stated reason"})


class ReviewAccessChangeSchema(Schema):
    at = fields.String()
    action = fields.String(metadata={"description": "change | disable | revoke"})
    old_role = fields.String(allow_none=True)
    new_role = fields.String(allow_none=True)


class ReviewAccountSchema(Schema):
    account_id = fields.Integer(allow_none=True, metadata={"description": "null: system jobs"})
    username = fields.String()
    display_name = fields.String()
    role = fields.String(allow_none=True)
    active = fields.Boolean()
    accesses = fields.Integer(metadata={"description": "access-log rows (one per subject)"})
    actions = fields.Dict(keys=fields.String(), values=fields.Integer())
    households = fields.Integer(metadata={"description": "distinct households accessed"})
    busiest_day = fields.String(allow_none=True)
    busiest_day_households = fields.Integer(metadata={"description": "households read that day"})
    off_hours = fields.Integer()
    off_hours_days = fields.Integer()
    exports = fields.List(fields.Nested(ReviewExportSchema))
    access_changes = fields.List(fields.Nested(ReviewAccessChangeSchema))


class ReviewFindingSchema(Schema):
    rule = fields.String(
        metadata={"description": "bulk_read | export | off_hours | access_changed | lockout"}
    )
    label = fields.String()
    account_id = fields.Integer(allow_none=True)
    username = fields.String()
    when = fields.String(allow_none=True, metadata={"description": "a day or an instant (Seoul)"})
    count = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)


class AccessReviewSchema(Schema):
    id = fields.Integer()
    municipality_id = fields.Integer()
    month = fields.Function(
        lambda review: review.month.strftime("%Y-%m"),
        metadata={"type": "string", "pattern": r"^\d{4}-\d{2}$", "description": "YYYY-MM"},
    )
    generated_at = fields.DateTime()
    findings_count = fields.Integer()
    checked_at = fields.DateTime(allow_none=True)
    checked_by = fields.Integer(allow_none=True)


class AccessReviewDetailSchema(AccessReviewSchema):
    check_note = fields.String(allow_none=True)
    rules = fields.Dict(attribute="summary.rules")
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), attribute="summary.totals")
    accounts = fields.List(fields.Nested(ReviewAccountSchema), attribute="summary.accounts")
    findings = fields.List(fields.Nested(ReviewFindingSchema), attribute="summary.findings")


class ReviewCheckSchema(StrictSchema):
    note = Text(2000, min_length=1, multiline=True, required=True)

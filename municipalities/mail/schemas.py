"""Schemas of the mail API: templates, mailings, items, tracking, webhooks (one per audience)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from core.schemas import Choice, Day, Flag, Id, InputSchema, StrictSchema, Text
from municipalities.mail.delivery import NewItemEvent
from municipalities.mail.services import NewMailing, NewTemplate
from municipalities.mail.tracking import EVENT_LABELS, STATUS_LABELS, EventCode, PublicStep
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

POST_EVENTS = [
    code.value
    for code in EventCode
    if code not in (EventCode.ACCEPTED, EventCode.PRODUCED, EventCode.CANCELLED)
]


class TemplateSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    body = fields.String()
    contact = fields.String()
    programmes = fields.String()
    created_at = fields.DateTime()


class TemplateCreateSchema(InputSchema):
    into = NewTemplate

    name = Text(100, min_length=1, required=True)
    body = Text(
        5000,
        min_length=1,
        multiline=True,
        required=True,
        metadata={
            "description": "fields: {addressee} {address} {municipality} {contact} {programmes}"
        },
    )
    contact = Text(200, min_length=1, multiline=True, required=True)
    programmes = Text(2000, multiline=True, load_default="")


class SelectionSchema(StrictSchema):
    """An explicit list of households, a saved filter, or all active households said outright."""

    household_ids = fields.List(
        Id(), validate=validate.Length(min=1, max=20_000), metadata={"description": "explicit list"}
    )
    risk_source = Choice(RISK_SOURCES)
    household_type = Choice(HOUSEHOLD_TYPES)
    district_id = Id()
    not_mailed_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    all_active = Flag(
        metadata={"description": "true: every active household (an empty filter is refused)"}
    )

    @validates_schema
    def _one_kind(self, data: dict, **kwargs) -> None:
        if "household_ids" in data and len(data) > 1:
            raise ValidationError(
                "목록과 조건을 함께 쓸 수 없습니다. (Give a list or a filter, not both.)",
                "household_ids",
            )


class MailingSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    template_id = fields.Integer()
    selection = fields.Dict()
    send_date = fields.Date()
    status = fields.String()
    item_count = fields.Integer()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)


class MailingCreateSchema(InputSchema):
    into = NewMailing

    title = Text(200, min_length=1, required=True)
    template_id = Id(required=True)
    selection = fields.Nested(SelectionSchema, required=True)
    send_date = Day(required=True)


class ExclusionSchema(Schema):
    household_id = fields.Integer()
    reason = fields.String()


class PreviewSchema(Schema):
    mailing_id = fields.Integer()
    household_count = fields.Integer()
    exclusions = fields.List(fields.Nested(ExclusionSchema))
    sample_household_id = fields.Integer(allow_none=True)
    sample_text = fields.String(allow_none=True)
    offices = fields.Dict(keys=fields.String(), values=fields.Integer())
    selection_summary = fields.String(
        metadata={
            "description": "who is mailed, in words, e.g. 활성 가구 전체 (all active households)"
        }
    )


class EventSchema(Schema):
    code = fields.String()
    label = fields.Function(lambda e: EVENT_LABELS[EventCode(e.code)])
    at = fields.DateTime()
    place = fields.String(allow_none=True)


class StaffEventSchema(EventSchema):
    actor_id = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)


class MailItemSchema(Schema):
    """An item as its sender (the municipality) and the post staff see it."""

    id = fields.Integer()
    registered_number = fields.String()
    mailing_id = fields.Integer()
    household_id = fields.Integer()
    office_id = fields.Integer()
    district_id = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda item: STATUS_LABELS.get(item.status, item.status))
    return_reason = fields.String(allow_none=True)
    batch_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MailItemDetailSchema(MailItemSchema):
    events = fields.List(fields.Nested(StaffEventSchema))


class EventCreateSchema(InputSchema):
    into = NewItemEvent

    code = Choice(POST_EVENTS, required=True)
    place = Text(100, load_default=None, allow_none=True)
    detail = Text(200, load_default=None, allow_none=True)


class ItemQuerySchema(StrictSchema):
    mailing_id = Id(strict=False)
    status = Choice(STATUS_LABELS)
    returned = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


PUBLIC_STEPS = {"enum": [step.value for step in PublicStep]}


class PublicStepSchema(Schema):
    status = fields.String(metadata=PUBLIC_STEPS | {"description": "the step the item entered"})
    label = fields.String()
    at = fields.DateTime()


class PublicTrackingSchema(Schema):
    """What anyone may see of an item: generic steps only; no names, sender, reasons or text."""

    registered_number = fields.String()
    status = fields.String(metadata=PUBLIC_STEPS)
    status_label = fields.String()
    events = fields.List(fields.Nested(PublicStepSchema))


class BatchSchema(Schema):
    id = fields.Integer()
    mailing_id = fields.Integer()
    office_id = fields.Integer()
    status = fields.String()
    item_count = fields.Integer()
    rendered_count = fields.Integer(
        metadata={"description": "letters rendered so far (item_count once produced)"}
    )
    page_count = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    produced_at = fields.DateTime(allow_none=True)


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class WebhookCreateSchema(StrictSchema):
    url = Text(500, min_length=8, required=True)
    secret = Text(200, min_length=16, required=True)


class WebhookUpdateSchema(StrictSchema):
    is_active = Flag(required=True)


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()
    at = fields.DateTime()

"""Schemas of the carrier app's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from carrier_api.visits import NewVisit, VisitSignature, VisitSurvey
from core.schemas import (
    MAX_ID,
    Choice,
    Day,
    InputSchema,
    Instant,
    Number,
    Position,
    StrictSchema,
    Text,
)
from welfare_checks.survey import Outcome


class EnrolmentCodeSchema(Schema):
    code = fields.String(metadata={"description": "shown once; type it into the app"})
    carrier_id = fields.Integer()
    account_id = fields.Integer()
    expires_at = fields.DateTime()


class EnrolSchema(StrictSchema):
    code = Text(40, min_length=1, required=True)
    label = Text(100, min_length=1, required=True)
    platform = Choice(("android", "ios"), load_default=None, allow_none=True)


class RefreshSchema(StrictSchema):
    refresh_token = Text(200, min_length=1, required=True)


class CredentialsSchema(Schema):
    device_id = fields.Integer()
    access_token = fields.String()
    access_expires_at = fields.DateTime()
    refresh_token = fields.String()
    refresh_expires_at = fields.DateTime()


class FcmTokenSchema(StrictSchema):
    token = Text(4096, min_length=1, required=True, allow_none=True)


class DeviceSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    platform = fields.String(allow_none=True)
    enrolled_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    push_registered = fields.Method("_push")

    def _push(self, device) -> bool:
        return device.fcm_token is not None


class DayQuerySchema(StrictSchema):
    day = Day(metadata={"description": "default: today in Korea"})


class RouteStopSchema(Schema):
    stop_id = fields.Integer()
    position = fields.Integer()
    planned_arrival = fields.String(allow_none=True, metadata={"description": "HH:MM"})
    kind = fields.String(metadata={"description": "welfare | registered"})
    urgent = fields.Boolean()
    registered_number = fields.String()
    item_status = fields.String()
    addressee = fields.String()
    road_address = fields.String()
    address_detail = fields.String(allow_none=True)
    location = fields.List(fields.Float(), metadata={"description": "[lon, lat]"})
    windows = fields.List(fields.String())
    survey_required = fields.Boolean()


class CarrierRouteSchema(Schema):
    day = fields.String()
    plan_id = fields.Integer(allow_none=True)
    version = fields.Integer(allow_none=True)
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)
    stops = fields.List(fields.Nested(RouteStopSchema))


class SurveyInSchema(InputSchema):
    into = VisitSurvey

    form = Text(40, min_length=1, required=True)
    version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_ID))
    answers = fields.Dict(required=True, metadata={"description": "question id -> answer"})


class SignatureSchema(InputSchema):
    into = VisitSignature

    type = Choice(("image/png", "image/jpeg"), required=True)
    # Generous: the decoded size is checked against VISIT_SIGNATURE_MAX_BYTES afterwards.
    data = Text(1_000_000, required=True, metadata={"description": "base64"})


class VisitInSchema(InputSchema):
    into = NewVisit

    client_uuid = fields.UUID(required=True, metadata={"description": "made by the app, once"})
    registered_number = Text(40, required=True)
    outcome = fields.Enum(Outcome, required=True, by_value=True)
    relation = Text(40, min_length=1)
    other_text = Text(1000, min_length=1, multiline=True)
    recorded_at = Instant(required=True, metadata={"description": "phone clock"})
    location = Position(required=True)
    accuracy_m = Number(0, 100_000, required=True)
    survey = fields.Nested(SurveyInSchema)
    signature = fields.Nested(SignatureSchema)


class VisitBatchInSchema(StrictSchema):
    records = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))


class VisitResultSchema(Schema):
    client_uuid = fields.String()
    visit_id = fields.Integer()
    stored = fields.Boolean()
    flags = fields.List(fields.String())
    item_status = fields.String()
    due_on = fields.String(allow_none=True)
    recorded_at = fields.String()
    received_at = fields.String()


class BatchResultSchema(Schema):
    client_uuid = fields.String(allow_none=True)
    status = fields.Integer(metadata={"description": "what a single upload would have answered"})
    body = fields.Dict()


class BatchAnswerSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema))

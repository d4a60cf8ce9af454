"""Schemas of the carrier app's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.schemas import StrictSchema


class EnrolmentCodeSchema(Schema):
    code = fields.String(metadata={"description": "shown once; type it into the app"})
    carrier_id = fields.Integer()
    expires_at = fields.DateTime()


class EnrolSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    platform = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("android", "ios"))
    )


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CredentialsSchema(Schema):
    device_id = fields.Integer()
    access_token = fields.String()
    access_expires_at = fields.DateTime()
    refresh_token = fields.String()
    refresh_expires_at = fields.DateTime()


class FcmTokenSchema(StrictSchema):
    token = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=4096))


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
    day = fields.Date(metadata={"description": "default: today in Korea"})


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

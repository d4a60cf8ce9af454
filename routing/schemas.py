"""Schemas of the postal-network API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.schemas import Id, LonLat, StrictSchema

CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,20}$")


class OfficeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    road_address = fields.String()
    postal_code = fields.String(allow_none=True)
    depot = fields.Method("_depot")

    def _depot(self, office) -> list[float]:
        return [office.depot_lon, office.depot_lat]


class OfficeCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    road_address = fields.String(required=True, validate=validate.Length(min=1, max=200))
    postal_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{5}$")
    )
    depot = LonLat(required=True)


class OfficeUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    road_address = fields.String(validate=validate.Length(min=1, max=200))
    postal_code = fields.String(allow_none=True, validate=validate.Regexp(r"^\d{5}$"))
    depot = LonLat()


class DistrictSchema(Schema):
    id = fields.Integer()
    office_id = fields.Integer()
    code = fields.String()
    name = fields.String()
    area_m2 = fields.Float()
    geometry = fields.Dict(metadata={"description": "GeoJSON Polygon or MultiPolygon, [lon, lat]"})


class DistrictUploadSchema(Schema):
    """A GeoJSON FeatureCollection; each feature has properties.code and properties.name."""

    class Meta:
        unknown = "include"  # GeoJSON allows foreign members; the parser checks what matters

    type = fields.String(required=True)


class CarrierSchema(Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    employee_no = fields.String()
    office_id = fields.Integer()
    home_district_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()


class CarrierCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9._-]{3,64}$"))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(max=1024))
    employee_no = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,20}$"))
    home_district_id = Id(load_default=None, allow_none=True)


class CarrierUpdateSchema(StrictSchema):
    home_district_id = Id(required=True, allow_none=True)

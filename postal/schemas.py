"""Marshmallow schemas of the postal network's API: offices, districts, carriers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from core.clock import parse_range
from core.schemas import Choice, Id, InputSchema, Position, Text
from postal.services import CarrierChanges, NewCarrier, NewOffice, OfficeChanges

CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,20}$")


WEEKDAY_RULE = "요일은 0(월)부터 6(일)까지입니다. (Weekdays are 0 (Monday) to 6 (Sunday).)"


NO_WEEKDAY = "배달하는 요일을 하나 이상 고르세요. (Choose at least one delivery weekday.)"


REPEATED_WEEKDAY = "같은 요일이 두 번 있습니다. (A weekday is repeated.)"


WEEKDAYS_DESCRIPTION = (
    "weekdays the office delivers on, 0 (Monday) to 6 (Sunday); never on Korean public holidays"
)


class WeekdaysField(fields.List):
    """Delivery weekdays, 0 (Monday) to 6 (Sunday): distinct, at least one; loaded sorted."""

    def __init__(self, *, strict: bool = True, **kwargs) -> None:
        day = fields.Integer(
            strict=strict,
            validate=validate.Range(min=0, max=6, error=WEEKDAY_RULE),
            error_messages={"invalid": WEEKDAY_RULE},
        )
        super().__init__(
            day,
            validate=validate.Length(min=1, error=NO_WEEKDAY),
            metadata={"description": WEEKDAYS_DESCRIPTION, "uniqueItems": True},
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs) -> list[int]:
        days = super()._deserialize(value, attr, data, **kwargs)
        if len(set(days)) != len(days):
            raise ValidationError(REPEATED_WEEKDAY)
        return sorted(days)


class OfficeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    road_address = fields.String()
    postal_code = fields.String(allow_none=True)
    depot = fields.Method("_depot")
    delivery_weekdays = fields.List(
        fields.Integer(), metadata={"description": WEEKDAYS_DESCRIPTION}
    )

    def _depot(self, office) -> list[float]:
        return [office.depot_lon, office.depot_lat]


class OfficeCreateSchema(InputSchema):
    into = NewOffice

    code = Text(20, required=True, validate=CODE)
    name = Text(100, min_length=1, required=True)
    road_address = Text(200, min_length=1, required=True)
    postal_code = Text(5, load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{5}$"))
    depot = Position(required=True)
    delivery_weekdays = WeekdaysField()  # default: Monday to Friday (the model's)


class OfficeUpdateSchema(InputSchema):
    into = OfficeChanges

    name = Text(100, min_length=1)
    road_address = Text(200, min_length=1)
    postal_code = Text(5, allow_none=True, validate=validate.Regexp(r"^\d{5}$"))
    depot = Position()
    delivery_weekdays = WeekdaysField()


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

    type = Text(40, required=True)


class CarrierSchema(Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    employee_no = fields.String()
    office_id = fields.Integer()
    home_district_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    profile = fields.String()
    shift = fields.String(metadata={"description": "HH:MM-HH:MM"})
    lunch_minutes = fields.Integer()


class CarrierCreateSchema(InputSchema):
    into = NewCarrier

    username = Text(64, required=True, validate=validate.Regexp(r"^[a-z0-9._-]{3,64}$"))
    display_name = Text(100, min_length=1, required=True)
    password = Text(1024, required=True)
    employee_no = Text(20, required=True, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,20}$"))
    home_district_id = Id(load_default=None, allow_none=True)


class ShiftField(Text):
    """A shift "HH:MM-HH:MM" loaded as (start, end) minutes after midnight."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(20, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[int, int]:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            start, end = parse_range(text)
        except ValueError as exc:
            raise ValidationError(f"HH:MM-HH:MM 형식의 근무 시간이어야 합니다. ({exc})") from exc
        return start // 60, end // 60


class CarrierUpdateSchema(InputSchema):
    into = CarrierChanges

    home_district_id = Id(allow_none=True)
    profile = Choice(("foot", "motorbike", "van"))
    shift = ShiftField(metadata={"description": "usual shift, HH:MM-HH:MM (Seoul)"})
    lunch_minutes = fields.Integer(strict=True, validate=validate.Range(min=0, max=120))

"""Schemas of the municipality and household API (one per audience and action)."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from marshmallow import Schema, ValidationError, fields, validate

from core.forms import text
from core.schemas import Choice, Day, Id, InputSchema, Position, StrictSchema, Text, Version
from municipalities.services import (
    CLOSE_REASONS,
    URGENT_DUE_MAX,
    URGENT_DUE_MIN,
    HouseholdChanges,
    MunicipalityChanges,
    NewHousehold,
    NewMunicipality,
    SenderChanges,
    missing_sender_fields,
)
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

AGREEMENT_STATES = ("none", "pending", "active", "suspended", "ended")


class MunicipalitySchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    agreement_status = fields.String()
    agreement_start = fields.Date(allow_none=True)
    agreement_end = fields.Date(allow_none=True)
    urgent_due_minutes = fields.Integer()


class MunicipalityCreateSchema(InputSchema):
    into = NewMunicipality

    code = Text(5, required=True, validate=validate.Regexp(r"^\d{5}$"))
    name = Text(100, min_length=1, required=True)
    agreement_status = Choice(AGREEMENT_STATES, load_default="none")
    agreement_start = Day(load_default=None, allow_none=True)
    agreement_end = Day(load_default=None, allow_none=True)


class MunicipalityUpdateSchema(InputSchema):
    into = MunicipalityChanges

    name = Text(100, min_length=1)
    agreement_status = Choice(AGREEMENT_STATES)
    agreement_start = Day(allow_none=True)
    agreement_end = Day(allow_none=True)
    # Half an hour at the least (a carrier must get there), a working day at the most.
    urgent_due_minutes = fields.Integer(
        strict=True, validate=validate.Range(min=URGENT_DUE_MIN, max=URGENT_DUE_MAX)
    )


class SenderSchema(Schema):
    """The sender identity printed on a municipality's letters."""

    municipality_id = fields.Integer(attribute="id")
    name = fields.String()
    department = fields.String(allow_none=True)
    road_address = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    contact_person = fields.String(allow_none=True)
    missing = fields.Function(
        missing_sender_fields,
        metadata={"description": "fields still to set before a mailing can be submitted"},
    )


class KoreanPhone(Text):
    """A phone number as typed, checked with phonenumbers and kept as printed (02-2100-1234)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(30, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        typed = super()._deserialize(value, attr, data, **kwargs)
        try:
            number = phonenumbers.parse(typed, "KR")
        except phonenumbers.NumberParseException:
            number = None
        korean = number is not None and phonenumbers.region_code_for_number(number) == "KR"
        if not korean or not phonenumbers.is_valid_number(number):
            raise ValidationError(
                "전화번호 형식이 올바르지 않습니다. (Not a valid Korean phone number.)"
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


class SenderUpdateSchema(InputSchema):
    """Parts of the sender identity to set; null clears one."""

    into = SenderChanges

    department = text(100, allow_none=True)
    road_address = text(200, allow_none=True)
    postal_code = Text(
        5,
        allow_none=True,
        validate=validate.Regexp(
            r"^\d{5}$",
            error="우편번호는 숫자 5자리여야 합니다. (The postal code must be 5 digits.)",
        ),
    )
    phone = KoreanPhone(allow_none=True)
    contact_person = text(50, allow_none=True)


class HouseholdSchema(Schema):
    """What municipal staff see of a household."""

    id = fields.Integer()
    municipality_id = fields.Integer()
    name = fields.String()
    phone = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    road_address = fields.String()
    address_detail = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    household_type = fields.String()
    risk_sources = fields.List(fields.String())
    preferred_hours = fields.Method("_hours", metadata={"description": "HH:MM-HH:MM"})
    location = fields.Method("_location", allow_none=True, metadata={"description": "[lon, lat]"})
    geocode_status = fields.String()
    office_id = fields.Integer(allow_none=True)
    district_id = fields.Integer(allow_none=True)
    assignment_status = fields.String()
    status = fields.String()
    closed_at = fields.DateTime(allow_none=True)
    closed_reason = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _location(self, household) -> list[float] | None:
        if household.lon is None:
            return None
        return [household.lon, household.lat]

    def _hours(self, household) -> list[str]:
        return [f"{start}-{end}" for start, end in household.preferred_hours or []]


def check_hours_range(text: str) -> None:
    """Refuse a preferred-hours range that is not HH:MM-HH:MM with the end after the start."""
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", text):
        raise ValidationError("HH:MM-HH:MM 형식이어야 합니다. (Must be HH:MM-HH:MM.)")
    start, end = text.split("-")
    if end <= start:
        raise ValidationError("끝이 시작보다 늦어야 합니다. (The end must follow the start.)")


class _HouseholdFields(InputSchema):
    name = Text(100, min_length=1)
    road_address = Text(200, min_length=1)
    address_detail = Text(100, allow_none=True)
    postal_code = Text(10, allow_none=True)
    phone = Text(30, allow_none=True)
    household_type = Choice(HOUSEHOLD_TYPES)
    risk_sources = fields.List(
        Choice(RISK_SOURCES), validate=validate.Length(max=len(RISK_SOURCES))
    )
    location = Position(allow_none=True)
    note = Text(2000, multiline=True, allow_none=True)
    preferred_hours = fields.List(
        Text(11, validate=check_hours_range),
        validate=validate.Length(max=4),
        metadata={"description": "hours the household prefers visits, e.g. 14:00-17:00"},
    )


class HouseholdCreateSchema(_HouseholdFields):
    into = NewHousehold

    name = Text(100, min_length=1, required=True)
    road_address = Text(200, min_length=1, required=True)


class HouseholdUpdateSchema(_HouseholdFields):
    into = HouseholdChanges

    version = Version(required=True, metadata={"description": "the version you read"})


class HouseholdCloseSchema(StrictSchema):
    reason = Choice(CLOSE_REASONS, required=True)


class HouseholdQuerySchema(StrictSchema):
    """List filters; names and addresses are searched through POST /households/search, never
    in a URL."""

    status = Choice(("active", "closed"))
    household_type = Choice(HOUSEHOLD_TYPES)
    risk_source = Choice(RISK_SOURCES)
    district_id = Id(strict=False)
    office_id = Id(strict=False)
    assignment_status = Choice(("assigned", "outside_districts", "not_geocoded"))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class HouseholdSearchSchema(HouseholdQuerySchema):
    name = Text(100, min_length=1)
    address = Text(100, min_length=1)


class UnassignedHouseholdSchema(Schema):
    """A household without a district, with the reason."""

    id = fields.Integer()
    road_address = fields.String()
    address_detail = fields.String(allow_none=True)
    location = fields.Method("_location", allow_none=True)
    geocode_status = fields.String()
    reason = fields.Method("_reason")

    def _location(self, household) -> list[float] | None:
        return None if household.lon is None else [household.lon, household.lat]

    def _reason(self, household) -> str:
        if household.assignment_status == "outside_districts":
            return "좌표가 어느 집배구에도 속하지 않습니다. (Outside every carrier district.)"
        reasons = {
            "pending": "좌표 변환을 기다리는 중입니다. (Waiting to be geocoded.)",
            "not_found": "주소로 좌표를 찾지 못했습니다. (The geocoder found no such address.)",
        }
        return reasons.get(household.geocode_status, household.geocode_status)


class ImportArgsSchema(StrictSchema):
    dry_run = fields.Boolean(load_default=True, metadata={"description": "check only (default)"})


class ImportFileSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class RowProblemSchema(Schema):
    row = fields.Integer()
    column = fields.String()
    code = fields.String()
    message = fields.String()
    accepted = fields.List(
        fields.String(), metadata={"description": "a coded column's accepted values"}
    )


class ImportReportSchema(Schema):
    dry_run = fields.Boolean()
    accepted = fields.Boolean()
    encoding = fields.String()
    total_rows = fields.Integer()
    valid_rows = fields.Integer()
    created = fields.Integer()
    assigned = fields.Integer()
    outside_districts = fields.Integer()
    not_geocoded = fields.Integer()
    errors = fields.List(fields.Nested(RowProblemSchema))
    warnings = fields.List(fields.Nested(RowProblemSchema))
    created_ids = fields.List(
        fields.Integer(), metadata={"description": "the new households, ascending"}
    )

"""The office's other registered items of a day, imported so a route is the carrier's real round.

Items come as JSON (API) or as a CSV/XLSX file with one item per row; both go through the same
schema, every problem is named by row and field, and nothing is stored unless all rows pass. A
carrier's visit closes an item (record_visit_outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from core import jobs
from core.auth.principal import Principal
from core.auth.roles import Role
from core.clock import parse_range
from core.db import db
from core.errors import Invalid, NotFound
from core.geo import in_korea
from core.outbox import Message
from core.schemas import Day, Position, StrictSchema, Text
from core.spreadsheets import (
    FileRejected,
    Progress,
    cell_text,
    check_file,
    header_key,
    read_all,
    read_records,
)
from core.uploads import too_many_rows, upload_limits
from municipalities.mail.registered_numbers import InvalidRegisteredNumber, parse_number
from postal.services import dispatchers_office, district_index, get_office
from routing.models import OfficeItem

MAX_ROWS = 20_000
KIND = "office_item_import"


@dataclass(frozen=True)
class NewOfficeItem:
    """A registered item of the office's day: its 13-digit number, addressee and address."""

    registered_number: str
    addressee: str
    road_address: str
    #: [lon, lat]
    location: Sequence[float]
    address_detail: str | None = None
    #: None: the settings' service time.
    service_s: int | None = None
    #: When it may be delivered, "HH:MM-HH:MM" each (none: any time).
    windows: Sequence[str] = ()


@dataclass(frozen=True)
class DayItems:
    """A day's registered items of the office, stored all or none."""

    day: date
    items: Sequence[NewOfficeItem]


def _window(text: str) -> None:
    try:
        parse_range(text)
    except ValueError as exc:
        raise ValidationError(f"HH:MM-HH:MM 형식이어야 합니다. ({exc})") from exc


class RegisteredNumber(Text):
    """A registered number as typed (spaces, hyphens), loaded as its 13 checked digits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(40, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        try:
            return parse_number(super()._deserialize(value, attr, data, **kwargs))
        except InvalidRegisteredNumber as error:
            raise ValidationError(str(error)) from error


class OfficeItemInSchema(StrictSchema):
    registered_number = RegisteredNumber(required=True)
    addressee = Text(100, min_length=1, required=True)
    road_address = Text(200, min_length=1, required=True)
    address_detail = Text(100, load_default=None, allow_none=True)
    location = Position(required=True)
    service_s = fields.Integer(
        strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=7200)
    )
    windows = fields.List(
        Text(20, validate=_window), load_default=list, validate=validate.Length(max=4)
    )

    @validates("location")
    def _in_korea(self, location: list[float], **_: Any) -> None:
        if len(location) == 2 and not in_korea(*location):  # a bad pair is named already
            raise ValidationError("대한민국 밖의 좌표입니다. (Outside Korea.)")


class OfficeItemsInSchema(StrictSchema):
    day = Day(required=True)
    items = fields.List(
        fields.Nested(OfficeItemInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ROWS),
    )

    @validates("items")
    def _unique_numbers(self, items: list[dict], **_: Any) -> None:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            number = item.get("registered_number")  # absent when the item itself is invalid
            if number is not None and number in seen:
                raise ValidationError(
                    {index: {"registered_number": [f"{seen[number]}번째와 같은 번호"]}}
                )
            seen[number] = index

    @post_load
    def _into(self, data: dict[str, Any], **_: Any) -> DayItems:
        # The items become typed here, not in their own schema: _unique_numbers reads them as
        # loaded, an invalid item among them being a dict of its valid fields.
        items = [NewOfficeItem(**item) for item in data["items"]]
        return DayItems(day=data["day"], items=items)


class OfficeItemOutSchema(Schema):
    id = fields.Integer()
    day = fields.Date()
    registered_number = fields.String()
    road_address = fields.String()
    address_detail = fields.String(allow_none=True)
    location = fields.Method("_location")
    district_id = fields.Integer(allow_none=True)
    service_s = fields.Integer(allow_none=True)
    windows = fields.Method("_windows")
    status = fields.String()

    def _location(self, item: OfficeItem) -> list[float]:
        return [item.lon, item.lat]

    def _windows(self, item: OfficeItem) -> list[str]:
        return [f"{start}-{end}" for start, end in item.windows or []]


class OfficeItemsInvalid(Invalid):
    code = "office_items_invalid"
    message = "등기 목록에 문제가 있습니다. (The item list has problems.)"


def items_of(principal: Principal, office_id: int, day: date) -> list[OfficeItem]:
    """The office's imported items of a day (its dispatchers; system admins read too)."""
    office = get_office(principal, office_id)
    if principal.role not in (Role.DISPATCHER, Role.SYSTEM_ADMIN):
        raise NotFound()
    return list(
        db.session.scalars(
            sa.select(OfficeItem)
            .where(OfficeItem.office_id == office.id, OfficeItem.day == day)
            .order_by(OfficeItem.id)
        )
    )


def add_items(principal: Principal, office_id: int, new: DayItems) -> list[OfficeItem]:
    """Store a day's items (all or none); a number already imported for the day is a conflict."""
    office = dispatchers_office(principal, office_id)
    return store_items(office.id, new.day, new.items, principal.account_id)


def store_items(
    office_id: int, day: date, items: Sequence[NewOfficeItem], account_id: int | None
) -> list[OfficeItem]:
    """Store checked items (OfficeItemInSchema) for the office's day; each gets its district."""
    taken = set(
        db.session.scalars(
            sa.select(OfficeItem.registered_number).where(
                OfficeItem.office_id == office_id,
                OfficeItem.day == day,
                OfficeItem.registered_number.in_([i.registered_number for i in items]),
            )
        )
    )
    clashes = {
        str(index): {"registered_number": ["이미 이 날짜에 들어온 등기입니다. (Already imported.)"]}
        for index, item in enumerate(items)
        if item.registered_number in taken
    }
    if clashes:
        raise OfficeItemsInvalid(fields={"items": clashes})
    index = district_index()
    stored = []
    for item in items:
        lon, lat = item.location
        district = index.locate(lon, lat)
        row = OfficeItem(
            office_id=office_id,
            day=day,
            registered_number=item.registered_number,
            addressee=item.addressee,
            road_address=item.road_address,
            address_detail=item.address_detail,
            lon=lon,
            lat=lat,
            district_id=district.district_id
            if district and district.office_id == office_id
            else None,
            service_s=item.service_s,
            windows=[text.split("-") for text in item.windows],
            created_by=account_id,
        )
        db.session.add(row)
        stored.append(row)
    db.session.flush()
    return stored


def numbers_of_day(office_id: int, day: date) -> set[str]:
    """The registered numbers the office's day has items for."""
    return set(
        db.session.scalars(
            sa.select(OfficeItem.registered_number).where(
                OfficeItem.office_id == office_id, OfficeItem.day == day
            )
        )
    )


def record_visit_outcome(item: OfficeItem, status: str | None) -> bool:
    """A carrier's visit to the item: its new status (None: unchanged); False, and nothing
    changed, when the item was no longer due."""
    if item.status != "due":
        return False
    if status is not None:
        item.status = status
    return True


# A file's columns: canonical key -> header names accepted (Korean first).
COLUMNS = {
    "registered_number": ("등기번호", "registered_number"),
    "addressee": ("수취인", "addressee"),
    "road_address": ("도로명주소", "주소", "road_address", "address"),
    "address_detail": ("상세주소", "address_detail"),
    "lon": ("경도", "lon", "longitude"),
    "lat": ("위도", "lat", "latitude"),
    "service_s": ("서비스초", "service_s"),
    "windows": ("희망시간", "windows"),
}
_ALIASES = {header_key(name): key for key, names in COLUMNS.items() for name in names}


def start_import(
    principal: Principal, office_id: int, data: bytes, filename: str, day: date
) -> jobs.Job:
    """Keep a day's item file in a job that imports it (the office's own dispatchers only)."""
    office = dispatchers_office(principal, office_id)
    try:
        file_format = check_file(data, filename, upload_limits(MAX_ROWS))
    except FileRejected as rejected:
        raise OfficeItemsInvalid(fields={"file": [rejected.message]}) from rejected
    params = {"format": file_format, "day": day.isoformat()}
    return jobs.start(principal, KIND, data, params, office_id=office.id)


def run_import_job(message: Message) -> None:
    """The outbox handler of an item file's import: every row or none."""
    jobs.run(message, _import_job)


def _import_job(job: jobs.RunningJob) -> None:
    day = date.fromisoformat(job.params["day"])
    job.progress(jobs.PARSE)
    items = parse_file(job.file, f"upload.{job.params['format']}", day, job.progress).items
    job.progress(jobs.WRITE, 0, len(items))

    def write() -> dict:
        stored = store_items(job.office_id, day, items, job.account_id)
        # The ids, not the items: their addresses are read through GET .../items, which is
        # access-logged, and need not be kept a second time.
        return {"day": day.isoformat(), "created": len(stored), "item_ids": [s.id for s in stored]}

    job.apply(write)


def parse_file(data: bytes, filename: str, day: date, progress: Progress | None = None) -> DayItems:
    """A CSV/XLSX file's items, loaded by OfficeItemsInSchema; problems name the row and column."""
    limits = upload_limits(MAX_ROWS)
    try:
        encoding, records = read_records(data, filename, limits)
        # Bounded: reading stops at the limits' rows and cells.
        rows = list(records) if progress is None else read_all(records, progress)
    except FileRejected as rejected:
        raise OfficeItemsInvalid(fields={"file": [rejected.message]}) from rejected
    header_at = next((i for i, r in enumerate(rows) if r and any(cell_text(c) for c in r)), None)
    if header_at is None:
        raise OfficeItemsInvalid(
            fields={"file": ["파일에 데이터가 없습니다. (The file is empty.)"]}
        )
    positions = {}
    for index, cell in enumerate(rows[header_at]):
        key = _ALIASES.get(header_key(cell_text(cell) or ""))
        if key:
            positions[key] = index
    missing = [
        COLUMNS[k][0]
        for k in ("registered_number", "addressee", "road_address", "lon", "lat")
        if k not in positions
    ]
    if missing:
        raise OfficeItemsInvalid(fields={"file": [f"필수 열이 없습니다: {', '.join(missing)}"]})
    items, problems, line_of = [], {}, []
    for number, record in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if record is None:
            problems[f"row {number}"] = {
                "": [f"{encoding}가 아닌 문자가 있습니다. (Not {encoding}.)"]
            }
            continue
        cells = {
            key: cell_text(record[i]) if i < len(record) else None for key, i in positions.items()
        }
        if not any(cells.values()):
            continue
        items.append(_item_of(cells))
        line_of.append(number)
    if len(items) > MAX_ROWS:
        raise too_many_rows(limits)
    if progress is not None:
        progress(jobs.VALIDATE, 0, len(items))
    try:
        loaded = OfficeItemsInSchema().load({"day": day.isoformat(), "items": items})
    except ValidationError as error:
        for index, fields_ in error.messages.get("items", {}).items():
            problems[f"row {line_of[int(index)]}"] = _file_fields(fields_)
        if not problems:
            raise
        loaded = None
    if problems or loaded is None:
        raise OfficeItemsInvalid(
            fields=dict(sorted(problems.items(), key=lambda kv: int(kv[0][4:])))
        )
    return loaded


def _item_of(cells: dict[str, str | None]) -> dict[str, Any]:
    item: dict[str, Any] = {
        k: cells.get(k) for k in ("registered_number", "addressee", "road_address")
    }
    item["address_detail"] = cells.get("address_detail")
    item["location"] = [_number(cells.get("lon")), _number(cells.get("lat"))]
    if cells.get("service_s"):
        item["service_s"] = _number(cells["service_s"])
    if cells.get("windows"):
        item["windows"] = [part.strip() for part in cells["windows"].split(";") if part.strip()]
    return {k: v for k, v in item.items() if v is not None}


def _number(text: str | None) -> Any:
    """A numeric cell as int or float; other text is passed on for the schema to name."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _file_fields(messages: dict) -> dict:
    """Schema field names as the file's columns (location is the lon/lat pair)."""
    return {("lon/lat" if key == "location" else key): value for key, value in messages.items()}

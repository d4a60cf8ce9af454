"""Shared marshmallow pieces: what input may be (text, numbers, positions, dates), strict base
schema, pagination.

Every input schema builds its fields from the types here (tests/test_input_rules.py checks it),
so one place decides what text, numbers, coordinates and dates a request may carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

#: The largest id a primary key holds (PostgreSQL integer); larger ids are simply not found.
MAX_ID = 2**31 - 1
#: Dates and instants a request may name: registered numbers and letters carry a two-digit
#: year (20YY), and the working-day calendar and UTC conversions stay far from their limits.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)

NUL_MESSAGE = "NUL 문자(\\x00)는 쓸 수 없습니다. (NUL characters are not allowed.)"
SURROGATE_MESSAGE = (
    "짝이 없는 서로게이트 문자는 쓸 수 없습니다. (Lone surrogate characters are not allowed.)"
)
CONTROL_MESSAGE = "제어 문자는 쓸 수 없습니다. (Control characters are not allowed.)"
LINE_BREAK_MESSAGE = "한 줄로 적어 주세요. (Line breaks are not allowed here.)"
DAY_MESSAGE = (
    f"{FIRST_DAY.year}년부터 {LAST_DAY.year}년까지의 날짜여야 합니다. "
    f"(Dates run from {FIRST_DAY.year} to {LAST_DAY.year}.)"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls and DEL; a multi-line text keeps tabs and line breaks.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile("[\t\n\r\u2028\u2029]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why a text may not be stored (NUL, a lone surrogate, a control character), or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATE.search(value):
        return SURROGATE_MESSAGE
    if _CONTROL.search(value):
        return CONTROL_MESSAGE
    if not multiline and _LINE_BREAK.search(value):
        return LINE_BREAK_MESSAGE
    return None


def length_rule(min_length: int, max_length: int) -> validate.Length:
    """The length check of a text, its message in Korean and English."""
    return validate.Length(
        min=min_length,
        max=max_length,
        error=f"{min_length}~{max_length}자로 적어 주세요. ({min_length} to {max_length} chars.)",
    )


class Text(fields.String):
    """Text of min_length to max_length characters, without NUL, control characters or lone
    surrogates; line breaks and tabs only when multiline."""

    def __init__(
        self, max_length: int, *, min_length: int = 0, multiline: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline
        # After the field's own rules: "not one of the choices" or "5 digits" says more.
        self.validators.append(length_rule(min_length, max_length))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(problem)
        return text


def Choice(values: Iterable[Any], *, error: str | None = None, **kwargs: Any) -> Text:  # noqa: N802
    """One of a fixed set of codes (enum members give their values)."""
    codes = tuple(getattr(value, "value", value) for value in values)
    return Text(max(map(len, codes)), validate=validate.OneOf(codes, error=error), **kwargs)


class Flag(fields.Boolean):
    """A JSON true or false and nothing else: 0, 1, "yes" or "true" are not booleans here."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        # marshmallow's Boolean takes 1 and "on"; a body that means a flag says true or false.
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Number(fields.Float):
    """A finite number from minimum to maximum (NaN and infinity are refused)."""

    def __init__(self, minimum: float, maximum: float, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)
        self.validators.insert(
            0,
            validate.Range(
                min=minimum,
                max=maximum,
                error=f"{minimum}~{maximum} 사이여야 합니다. (Must be {minimum} to {maximum}.)",
            ),
        )


class Longitude(Number):
    """A WGS84 longitude in degrees."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(-180, 180, **kwargs)


class Latitude(Number):
    """A WGS84 latitude in degrees."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(-90, 90, **kwargs)


_LATITUDE_RANGE = validate.Range(
    min=-90, max=90, error="위도는 -90~90 사이여야 합니다. (The latitude must be -90 to 90.)"
)


def _latitude_second(position: list[float]) -> None:
    # The items share one field (the wider longitude range); the second one is a latitude.
    if len(position) == 2:
        _LATITUDE_RANGE(position[1])


class Position(fields.List):
    """A position as [lon, lat] (WGS84, GeoJSON order), both finite and in range."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            Longitude(),
            validate=[validate.Length(equal=2), _latitude_second],
            metadata={"description": "[lon, lat] (WGS84)"},
            **kwargs,
        )


class Day(fields.Date):
    """A calendar date from FIRST_DAY to LAST_DAY."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(DAY_MESSAGE)
        return day


class Instant(fields.AwareDateTime):
    """A moment with its UTC offset, on a day from FIRST_DAY to LAST_DAY."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        # Checked on the local date, before anything converts it (year 1 cannot move to UTC).
        if not FIRST_DAY <= moment.date() <= LAST_DAY:
            raise ValidationError(DAY_MESSAGE)
        return moment


class StrictSchema(Schema):
    """Input schemas: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable(self, data: Any, **kwargs: Any) -> Any:
        # A free-form dict (a survey's answers) has no Text fields to check its strings: NUL
        # (PostgreSQL text cannot hold it) and lone surrogates (UTF-8 cannot encode them) are
        # refused anywhere in it. Typed fields check themselves, so that a batch's bad record
        # fails alone when it is loaded, not the whole batch here.
        if isinstance(data, Mapping):
            free = {
                field.data_key or name
                for name, field in self.load_fields.items()
                if isinstance(field, fields.Dict) and None in (field.key_field, field.value_field)
            }
            bad = {
                key: [problem]
                for key, value in data.items()
                if key in free and (problem := _unstorable(value))
            }
            if bad:
                raise ValidationError(bad)
        return data


class InputSchema(StrictSchema):
    """A request body that loads into its service's typed input: `into(**loaded fields)`."""

    #: The service's input type (core/inputs.py), made from the loaded fields by name.
    into: ClassVar[type]

    @post_load
    def _into(self, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.into(**data)


def _unstorable(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return NUL_MESSAGE
        return SURROGATE_MESSAGE if _SURROGATE.search(value) else None
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return next(filter(None, map(_unstorable, value)), None)
    return None


def Id(*, strict: bool = True, **kwargs) -> fields.Integer:  # noqa: N802 - reads like a field
    """A positive integer id; strict (JSON numbers only) except in query strings."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def Version(**kwargs: Any) -> fields.Integer:  # noqa: N802 - reads like a field
    """The version of a record as the client read it (a stale one is a 409)."""
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ID), **kwargs)


class PageArgsSchema(StrictSchema):
    page = fields.Integer(strict=False, load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(
        strict=False, load_default=50, validate=validate.Range(min=1, max=200)
    )


class PageMetaSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


_page_schemas: dict[type[Schema], type[Schema]] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The paged-list schema {"items": [...], "meta": {...}} for an item schema (one per item)."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(item_schema)),
                "meta": fields.Nested(PageMetaSchema),
            },
            name=name,
        )
    return _page_schemas[item_schema]

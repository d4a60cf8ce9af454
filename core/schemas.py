"""Shared marshmallow pieces: strict base schema, pagination."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

#: The largest id a primary key holds (PostgreSQL integer); larger ids are simply not found.
MAX_ID = 2**31 - 1


class StrictSchema(Schema):
    """Input schemas: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no legitimate input contains it.
        if isinstance(data, Mapping):
            bad = {key: [NUL_MESSAGE] for key, value in data.items() if _has_nul(value)}
            if bad:
                raise ValidationError(bad)
        return data


NUL_MESSAGE = "NUL 문자(\\x00)는 쓸 수 없습니다. (NUL characters are not allowed.)"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def LonLat(**kwargs) -> fields.List:  # noqa: N802 - reads like a field
    """A position as [lon, lat] (WGS84, GeoJSON order)."""
    return fields.List(
        fields.Float(allow_nan=False),
        validate=validate.Length(equal=2),
        metadata={"description": "[lon, lat] (WGS84)"},
        **kwargs,
    )


def Id(*, strict: bool = True, **kwargs) -> fields.Integer:  # noqa: N802 - reads like a field
    """A positive integer id; strict (JSON numbers only) except in query strings."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


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

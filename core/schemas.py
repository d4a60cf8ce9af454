"""Shared marshmallow pieces: strict base schema, pagination."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class StrictSchema(Schema):
    """Input schemas: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


def Id(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """A strict positive integer id."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53), **kwargs)


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

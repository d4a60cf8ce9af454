"""The REST API object: flask-smorest with our error shape and bearer auth in the spec."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_smorest import Api
from flask_smorest import Blueprint as _SmorestBlueprint
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser

from core.db import db
from core.errors import handle_http_exception


class _ErrorDetailSchema(Schema):
    code = fields.String()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")


class ErrorSchema(Schema):
    """The one error shape (documented; the handlers build it)."""

    error = fields.Nested(_ErrorDetailSchema)


class WelfareApi(Api):
    """flask-smorest Api whose errors use the project's shape and keep werkzeug's headers."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def create_api(app) -> WelfareApi:
    """The API object of one app, with bearer auth declared in the OpenAPI document."""
    return WelfareApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
        },
    )


class StrictParser(FlaskParser):
    """Unknown query parameters are errors too (webargs excludes them by default)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }


class Blueprint(_SmorestBlueprint):
    """A smorest blueprint mounted under /api/v1."""

    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, name: str, import_name: str, url_prefix: str, **kwargs: Any):
        super().__init__(name, import_name, url_prefix=f"/api/v1{url_prefix}", **kwargs)


def paginate(query: sa.Select, page: int, per_page: int) -> dict[str, Any]:
    """One page of a select: {"items": [...], "meta": {page, per_page, total, pages}}."""
    result = db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
    return {
        "items": list(result.items),
        "meta": {
            "page": page,
            "per_page": per_page,
            "total": result.total,
            "pages": result.pages,
        },
    }

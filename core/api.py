"""The REST API object: flask-smorest with our error shape and bearer auth in the spec."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from flask_smorest import Api
from flask_smorest import Blueprint as _SmorestBlueprint
from marshmallow import Schema, fields, missing
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.routing import IntegerConverter

from core.auth.principal import admit
from core.db import db
from core.errors import ApiError, handle_http_exception
from core.json_input import JsonRefused, loads_bounded
from core.schemas import MAX_ID


class _ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", required=True)


class ErrorSchema(Schema):
    """The one error shape (documented; the handlers build it)."""

    error = fields.Nested(_ErrorDetailSchema, required=True)


class WelfareApi(Api):
    """flask-smorest Api whose errors use the project's shape and keep werkzeug's headers."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: an id up to MAX_ID (a larger one is a 404, never a 500)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class BadJson(ApiError):
    code = "bad_json"
    message = "JSON 본문을 읽을 수 없습니다. (The JSON body cannot be read.)"


def read_json(data: bytes | str) -> Any:
    """A request body's JSON, bounded (core.json_input); anything else is a 400."""
    try:
        return loads_bounded(data)
    except JsonRefused as refused:
        raise BadJson(str(refused)) from refused


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with request bodies read by read_json (request.get_json included)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text the way request bodies are parsed."""
        return read_json(s)


def create_api(app) -> WelfareApi:
    """The API object of one app, with bearer auth declared in the OpenAPI document."""
    # Before any route is added: rules bind their converter when they are registered.
    app.url_map.converters["int"] = IdConverter
    app.json = BoundedJSONProvider(app)
    return WelfareApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
        },
    )


BODY_REQUIRED = "JSON 본문이 필요합니다. (A JSON request body is required.)"


class StrictParser(FlaskParser):
    """Unknown query parameters are errors too (webargs excludes them by default)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req) -> Any:
        """The body through read_json (webargs' own reader has no depth bound)."""
        if not is_json_request(req):
            return missing
        return read_json(req.get_data(cache=True))

    def load_json(self, req, schema):
        """An operation that takes a JSON body needs one (the OpenAPI document says required)."""
        data = super().load_json(req, schema)
        if data is missing:
            abort(422, messages={"json": {"_schema": [BODY_REQUIRED]}})
        return data


class Blueprint(_SmorestBlueprint):
    """A smorest blueprint mounted under /api/v1, whose operations check the caller first."""

    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, name: str, import_name: str, url_prefix: str, **kwargs: Any):
        super().__init__(name, import_name, url_prefix=f"/api/v1{url_prefix}", **kwargs)

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        """As smorest's, but one schema instance serves every request: given a class, webargs
        would build (and deep-copy the fields of) a new one on each request."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def add_url_rule(self, rule, endpoint=None, view_func=None, *args: Any, **kwargs: Any):
        """Register a MethodView whose role-guarded methods admit the caller before anything.

        `require_role` sits under the `arguments` decorator, so on its own it runs after the
        body and query are parsed: a caller without a token, or without the role, would get a
        422 naming fields of an operation it may not use. Checked first, it gets its 401, 403
        or 404 whatever it sent (and nobody's input is read before they are known).
        """
        if isinstance(view_func, type) and issubclass(view_func, MethodView):
            for method in view_func.methods or ():
                function = getattr(view_func, method.lower())
                if hasattr(function, "allowed_roles"):
                    setattr(view_func, method.lower(), _caller_first(function))
        return super().add_url_rule(rule, endpoint, view_func, *args, **kwargs)


def _caller_first(function: Callable) -> Callable:
    allowed = function.allowed_roles

    @functools.wraps(function)  # keeps smorest's _apidoc and allowed_roles
    def admitted_first(*args: Any, **kwargs: Any) -> Any:
        admit(allowed)
        return function(*args, **kwargs)

    return admitted_first


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

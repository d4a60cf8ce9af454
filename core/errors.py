"""One error shape for every 4xx/5xx: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# A database restart or failover takes a few seconds: phones retry after this many.
DATABASE_RETRY_AFTER_S = 5


class ApiError(Exception):
    """A domain failure with its HTTP status; subclasses name the failure."""

    status = 400
    code = "bad_request"
    message = "잘못된 요청입니다. (Bad request.)"

    def __init__(self, message: str | None = None, fields: dict[str, Any] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields or {}


class NotFound(ApiError):
    status = 404
    code = "not_found"
    message = "찾을 수 없습니다. (Not found.)"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    message = "권한이 없습니다. (You do not have permission for this.)"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    message = "로그인이 필요합니다. (Authentication required.)"


class Conflict(ApiError):
    status = 409
    code = "conflict"
    message = "현재 상태와 충돌합니다. (Conflicts with the current state.)"


class Invalid(ApiError):
    status = 422
    code = "invalid"
    message = "입력값이 올바르지 않습니다. (Some fields are invalid.)"


def error_body(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def wants_html() -> bool:
    """Page requests (not under /api/) get an HTML error page."""
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def error_response(
    status: int, code: str, message: str, fields: dict | None = None, headers=None
) -> Response:
    """Render an error as JSON (API) or as a page (browser)."""
    if wants_html():
        response = Response(
            render_template("error.html", status=status, message=message), status=status
        )
    else:
        response = jsonify(error_body(status, code, message, fields))
        response.status_code = status
    for name, value in headers or []:
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


_HTTP_CODES = {
    400: ("bad_request", "잘못된 요청입니다. (Bad request.)"),
    401: ("unauthorized", "로그인이 필요합니다. (Authentication required.)"),
    403: ("forbidden", "권한이 없습니다. (You do not have permission for this.)"),
    404: ("not_found", "찾을 수 없습니다. (Not found.)"),
    405: ("method_not_allowed", "허용되지 않는 메서드입니다. (Method not allowed.)"),
    409: ("conflict", "현재 상태와 충돌합니다. (Conflicts with the current state.)"),
    413: ("too_large", "요청이 너무 큽니다. (Request too large.)"),
    415: ("unsupported_media_type", "지원하지 않는 형식입니다. (Unsupported media type.)"),
    422: ("invalid", "입력값이 올바르지 않습니다. (Some fields are invalid.)"),
    429: ("rate_limited", "요청이 너무 많습니다. 잠시 후 다시 시도하세요. (Too many requests.)"),
}


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug, webargs and limiter errors in our shape, keeping Allow and Retry-After."""
    status = error.code or 500
    code, message = _HTTP_CODES.get(status, ("error", error.description or "Error"))
    fields: dict = {}
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        # webargs puts the marshmallow messages under their location (json, query, files, ...).
        fields = flatten_locations(data["messages"])
    elif error.description and status not in (404, 405, 500) and not isinstance(data, dict):
        message = error.description
    headers = error.get_headers() if error.response is None else error.response.headers
    return error_response(status, code, message, fields, headers=list(headers))


def flatten_locations(messages: dict) -> dict:
    """{"json": {"name": [...]}} -> {"name": [...]}; other locations keep their key."""
    fields: dict = {}
    for location, errors in messages.items():
        if location == "json" and isinstance(errors, dict):
            fields.update(errors)
        else:
            fields[location] = errors
    return fields


def _is_unique_violation(error: IntegrityError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)  # psycopg
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(error.orig)


def _transient(error: DBAPIError) -> tuple[str, str, int] | None:
    """(code, message, seconds to wait) when the database could not answer (busy, down,
    restarting, connection lost) rather than refused the statement; None for anything else."""
    if isinstance(error.orig, sqlite3.Error):
        # SQLite reports its programming errors (no such table, syntax) as OperationalError too:
        # only its write lock, taken past busy_timeout, is worth a retry.
        if "database is locked" in str(error.orig):
            return "busy", "잠시 후 다시 시도하세요. (Busy, retry shortly.)", 1
        return None
    # The DB-API's OperationalError is "not under the programmer's control": lost connections,
    # a server shutting down or starting up, deadlocks, cancelled statements.
    if error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
        message = (
            "데이터베이스가 잠시 응답하지 않습니다. 잠시 후 다시 시도하세요. "
            "(The database is briefly unavailable; retry shortly.)"
        )
        return "unavailable", message, DATABASE_RETRY_AFTER_S
    return None


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that give every error the one shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.fields)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
        return error_response(422, "invalid", _HTTP_CODES[422][1], messages)

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        transient = _transient(error)
        if transient is None:
            log.exception("database error")
            return error_response(500, "internal", "내부 오류가 발생했습니다. (Internal error.)")
        code, message, retry_after = transient
        # Only the driver's class and SQLSTATE: its message may quote the statement's data.
        log.warning(
            "database %s (%s, SQLSTATE %s) on %s %s: answered 503",
            code,
            type(error.orig).__name__,
            getattr(error.orig, "sqlstate", None),
            request.method,
            request.path,
        )
        return error_response(503, code, message, headers=[("Retry-After", str(retry_after))])

    @app.errorhandler(IntegrityError)
    def _integrity_error(error: IntegrityError):
        # A safety net: services check references and uniqueness and name the field; a
        # constraint they missed (or a race between two requests) is still the client's 4xx.
        # Only the constraint's name: the driver's message may quote the values (personal data).
        diag = getattr(error.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None) or type(error.orig).__name__
        log.warning("constraint %s violated on %s %s", constraint, request.method, request.path)
        if _is_unique_violation(error):
            return error_response(409, "conflict", _HTTP_CODES[409][1])
        return error_response(422, "invalid", _HTTP_CODES[422][1])

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return handle_http_exception(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "내부 오류가 발생했습니다. (Internal error.)")

    app.register_error_handler(HTTPException, handle_http_exception)

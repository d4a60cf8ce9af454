"""Offline sync: the visits a phone recorded without a connection, sent as one batch.

Each record is loaded and stored on its own, in its own savepoint, and gets the answer a single
upload would have got; one bad record never fails the batch.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from carrier_api.schemas import VisitInSchema
from carrier_api.visits import record_visit
from core.auth.principal import Principal
from core.db import db
from core.errors import ApiError, Invalid, error_body

INTERNAL = "내부 오류가 발생했습니다. (Internal error.)"
log = logging.getLogger(__name__)


def record_in_batch(principal: Principal, raw: Any) -> dict[str, Any]:
    """One record of an offline batch, in its own savepoint: its own result, never the batch's."""
    client_uuid = raw.get("client_uuid") if isinstance(raw, dict) else None
    try:
        record = VisitInSchema().load(raw)
    except ValidationError as error:
        body = error_body(422, Invalid.code, Invalid.message, error.messages)
        return {"client_uuid": client_uuid, "status": 422, "body": body}
    try:
        with db.session.begin_nested():
            answer = record_visit(principal, raw, record)
    except ApiError as error:
        body = error_body(error.status, error.code, error.message, error.fields)
        return {"client_uuid": client_uuid, "status": error.status, "body": body}
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        # The database itself failed (a restart, a lost connection), not this record: the
        # whole batch is a 503 with Retry-After (core/errors.py) and the phone sends it again.
        raise
    except Exception:
        # Validation leaves nothing a record could raise; should something still fail, only
        # this record's savepoint is lost and the phone keeps it to send again.
        log.exception("visit %s of a batch failed", client_uuid)
        body = error_body(500, "internal", INTERNAL)
        return {"client_uuid": client_uuid, "status": 500, "body": body}
    return {"client_uuid": client_uuid, "status": answer.status, "body": answer.body}
